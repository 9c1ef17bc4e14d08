import BranchSyncCore
import Foundation

/// The `manifest.json` of one backup in a chain (a full backup, or an incremental on top of the one before): whose
/// node it is, which stretch of its change log and audit trail it holds, and the SHA-256 of every file.
public struct BackupManifest: Sendable, Hashable {
    /// A full copy of the database, or the changes since the previous backup of the chain.
    public enum Kind: String, Sendable {
        case full
        case incremental
    }

    /// One file of the backup, relative to its directory.
    public struct File: Sendable, Hashable {
        public var path: String
        public var sha256: String
        public var bytes: Int64
    }

    /// The manifest format this build writes and reads.
    public static let format = 1
    /// The file name inside each backup directory.
    public static let fileName = "manifest.json"

    public var kind: Kind
    /// The position in the chain: 1 for a full backup, one more for each incremental on top of it.
    public var sequence: Int
    public var site: SiteID
    public var role: NodeRole
    /// The node's change log, `(fromSeq, toSeq]`: a full backup starts at 0.
    public var fromSeq: Int64
    public var toSeq: Int64
    /// The node's audit rows, `(fromAuditRow, toAuditRow]`.
    public var fromAuditRow: Int64
    public var toAuditRow: Int64
    public var createdAt: String
    /// How many schema migrations the node's database had: a chain never spans an upgrade.
    public var schema: Int
    /// The node's incarnation (hex): a node restored or rolled back outside `restore` starts a new chain.
    public var incarnation: String
    public var files: [File]

    /// The most backups one directory numbers (a bound on hostile manifests, not a practical limit).
    public static let maximumSequence = 1_000_000

    /// The manifest as written: canonical JSON, one file per line.
    public var json: String {
        let q = CanonicalJSON.quote
        let fileLines = files.map {
            CanonicalJSON.object([("path", q($0.path)), ("sha256", q($0.sha256)), ("bytes", String($0.bytes))])
        }
        return "{\"format\":\(Self.format),\"kind\":\(q(kind.rawValue)),\"sequence\":\(sequence),"
            + "\"site\":\(q(site.rawValue)),\"role\":\(q(role.rawValue)),\"fromSeq\":\(fromSeq),\"toSeq\":\(toSeq),"
            + "\"fromAuditRow\":\(fromAuditRow),\"toAuditRow\":\(toAuditRow),\"createdAt\":\(q(createdAt)),"
            + "\"schema\":\(schema),\"incarnation\":\(q(incarnation)),"
            + "\"files\":[\n" + fileLines.joined(separator: ",\n") + "\n]}\n"
    }

    /// Reads a manifest.
    /// - Throws: ``StorageError`` `.corrupt` saying what is wrong with it.
    public init(json data: Data, at path: String) throws {
        func corrupt(_ what: String) -> StorageError {
            StorageError(code: .corrupt, message: "backup manifest \(path): \(what)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw corrupt("not a JSON object")
        }
        guard object["format"] as? Int == Self.format else {
            throw corrupt("format \(object["format"] ?? "missing") is not \(Self.format)")
        }
        guard let kind = (object["kind"] as? String).flatMap(Kind.init(rawValue:)),
            let sequence = object["sequence"] as? Int, (1...Self.maximumSequence).contains(sequence),
            let siteText = object["site"] as? String, let site = try? SiteID(siteText),
            let role = (object["role"] as? String).flatMap(NodeRole.init(rawValue:)),
            let fromSeq = (object["fromSeq"] as? NSNumber)?.int64Value,
            let toSeq = (object["toSeq"] as? NSNumber)?.int64Value,
            let fromAudit = (object["fromAuditRow"] as? NSNumber)?.int64Value,
            let toAudit = (object["toAuditRow"] as? NSNumber)?.int64Value,
            let createdAt = object["createdAt"] as? String, let files = object["files"] as? [[String: Any]],
            let schema = object["schema"] as? Int, let incarnation = object["incarnation"] as? String,
            fromSeq >= 0, toSeq >= fromSeq, fromAudit >= 0, toAudit >= fromAudit
        else { throw corrupt("a field is missing, has the wrong type or is out of range") }
        var parsed: [File] = []
        for file in files {
            guard let name = file["path"] as? String, Self.isSafe(name), let sha = file["sha256"] as? String,
                FieldSpec.isSHA256Hex(sha), let bytes = (file["bytes"] as? NSNumber)?.int64Value, bytes >= 0
            else { throw corrupt("a file entry is malformed or names a path outside the backup") }
            parsed.append(File(path: name, sha256: sha, bytes: bytes))
        }
        self.init(
            kind: kind, sequence: sequence, site: site, role: role, fromSeq: fromSeq, toSeq: toSeq,
            fromAuditRow: fromAudit, toAuditRow: toAudit, createdAt: createdAt, schema: schema,
            incarnation: incarnation, files: parsed)
    }

    public init(
        kind: Kind, sequence: Int, site: SiteID, role: NodeRole, fromSeq: Int64, toSeq: Int64, fromAuditRow: Int64,
        toAuditRow: Int64, createdAt: String, schema: Int, incarnation: String, files: [File]
    ) {
        self.kind = kind
        self.sequence = sequence
        self.site = site
        self.role = role
        self.fromSeq = fromSeq
        self.toSeq = toSeq
        self.fromAuditRow = fromAuditRow
        self.toAuditRow = toAuditRow
        self.createdAt = createdAt
        self.schema = schema
        self.incarnation = incarnation
        self.files = files
    }

    /// The file listing every record id and attachment hash the node held at the backup's moment (`r ID` and
    /// `b SHA256` lines): restore removes what is not listed, so what was deleted, purged or destroyed between backups
    /// does not come back.
    public static let inventoryFileName = "inventory.txt"

    /// Whether the files are exactly those a backup of this kind has: the database (full) or the changes
    /// (incremental), the inventory, and attachments named by their own SHA-256.
    func listsExpectedFiles(databaseFile: String, changesFile: String) -> Bool {
        let main = kind == .full ? databaseFile : changesFile
        let paths = Set(files.map(\.path))
        guard paths.count == files.count, paths.contains(main), paths.contains(Self.inventoryFileName) else {
            return false
        }
        return files.allSatisfy { file in
            file.path == main || file.path == Self.inventoryFileName
                || (kind == .incremental && file.path == "attachments/\(file.sha256)")
        }
    }

    /// A relative path of plain names (no `..`, no absolute path): a manifest cannot make restore read elsewhere.
    static func isSafe(_ path: String) -> Bool {
        !path.isEmpty && !path.hasPrefix("/")
            && path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy {
                !$0.isEmpty && $0 != "." && $0 != ".."
            }
    }
}
