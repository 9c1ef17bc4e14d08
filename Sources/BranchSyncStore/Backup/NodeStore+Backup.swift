import BranchSyncCore
import BranchSyncCrypto
import Foundation
import Glibc

/// What `branchsync backup` wrote.
public struct BackupResult: Sendable {
    /// The new backup's directory.
    public var directory: String
    public var manifest: BackupManifest
    /// Why a full backup was taken when an incremental was possible in principle, if so.
    public var fullBecause: String?
}

extension NodeStore {
    /// The tables an incremental backup copies whole (small, and changed in place): everything but the records, the
    /// audit trail and the attachments, which it copies from where the previous backup stopped, and what is derived
    /// from the records (leads, verify summaries).
    static let backupSnapshotTables = [
        "meta", "peers", "conflicts", "quarantine", "pending_purges", "history_epochs", "limit_hits",
        "schema_migrations",
    ]

    /// The file of an incremental backup that holds its tables.
    static let changesFileName = "changes.sqlite"

    /// Backs the node up into the chain in `directory` (created if missing) while the daemon may be running: a
    /// consistent copy as of one moment.
    ///
    /// A full backup is the database copied by SQLite (`VACUUM INTO`). An incremental holds the records whose log
    /// position is past the previous backup's, the audit rows after its last one, a copy of the node's small tables,
    /// and the attachments the previous backup's inventory lacks, as files named by their SHA-256. Each backup also
    /// lists every record id and attachment the node held (its inventory), so a restore drops what was deleted in
    /// between. A backup is written under a temporary name and renamed once its manifest is complete; `DIR/.lock`
    /// keeps two runs apart.
    /// - Parameter kind: `nil`: incremental when the directory holds a chain of this node that it can continue, else
    ///   full.
    /// - Throws: ``StorageError`` for a chain of another site, an incremental that cannot continue the chain, another
    ///   backup running, or I/O errors.
    public func backup(to directory: String, kind requested: BackupManifest.Kind?) throws -> BackupResult {
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StorageError(code: .fileSystem, message: "cannot create \(directory): \(error.localizedDescription)")
        }
        let lock = try BackupChain.lock(directory)
        defer { Glibc.close(lock) }
        let chain = try BackupChain(directory: directory)
        if let last = chain.all.last, last.manifest.site != identity.site {
            throw StorageError(
                code: .invalidOperation,
                message: "\(directory) holds backups of \(last.manifest.site), not of \(identity.site); use another "
                    + "directory")
        }
        let incarnation = hex(try self.incarnation())
        let schema = SchemaMigrator.currentVersion
        let obstacle = try incrementalObstacle(chain, incarnation: incarnation, schema: schema)
        let kind: BackupManifest.Kind
        switch (requested, obstacle) {
        case (.incremental, let reason?):
            throw StorageError(
                code: .invalidOperation, message: "an incremental backup cannot continue \(directory): \(reason)")
        case (.full, _), (nil, .some): kind = .full
        case (.incremental, nil), (nil, nil): kind = .incremental
        }
        let final = (directory as NSString).appendingPathComponent(chain.nextName(kind))
        let partial = final + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        do {
            try FileManager.default.createDirectory(
                atPath: partial, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StorageError(code: .fileSystem, message: "cannot create \(partial): \(error.localizedDescription)")
        }
        do {
            var manifest: BackupManifest
            switch kind {
            case .full:
                manifest = try writeFullBackup(into: partial)
            case .incremental:
                guard let previous = chain.all.last else {
                    throw StorageError(code: .invalidOperation, message: "no previous backup")
                }
                manifest = try writeIncrementalBackup(
                    into: partial, after: previous.manifest,
                    known: try BackupChain.inventory(of: previous).attachments)
            }
            manifest.schema = schema
            manifest.incarnation = incarnation
            manifest.files = try manifest.files.map { file in
                let path = (partial as NSString).appendingPathComponent(file.path)
                guard let digest = SHA256.hexDigest(ofFileAt: path) else {
                    throw StorageError(code: .fileSystem, message: "cannot read back \(path)")
                }
                return BackupManifest.File(path: file.path, sha256: digest.sha256, bytes: digest.bytes)
            }
            let manifestPath = (partial as NSString).appendingPathComponent(BackupManifest.fileName)
            guard
                FileManager.default.createFile(
                    atPath: manifestPath, contents: Data(manifest.json.utf8), attributes: [.posixPermissions: 0o600])
            else { throw StorageError(code: .fileSystem, message: "cannot write \(manifestPath)") }
            guard rename(partial, final) == 0 else {
                throw StorageError(code: .fileSystem, message: "cannot rename \(partial) to \(final)")
            }
            return BackupResult(
                directory: final, manifest: manifest, fullBecause: requested == nil ? obstacle : nil)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }

    /// Why an incremental backup cannot continue the chain in `chain`, or `nil` when it can.
    private func incrementalObstacle(_ chain: BackupChain, incarnation: String, schema: Int) throws -> String? {
        guard let last = chain.all.last else { return "the directory holds no backup yet" }
        do { _ = try chain.restorable() } catch let error as StorageError {
            return "the chain in it cannot be restored (\(error.message))"
        }
        if last.manifest.schema != schema { return "BranchSync was upgraded since the last backup" }
        if last.manifest.incarnation != incarnation {
            return "the node was restored or rolled back since the last backup (another incarnation)"
        }
        let (maxSeq, maxAudit) = try db.read {
            (
                try db.statement("SELECT coalesce(max(seq), 0) FROM records").firstRow { $0.int(0) } ?? 0,
                try db.statement("SELECT coalesce(max(id), 0) FROM audit").firstRow { $0.int(0) } ?? 0
            )
        }
        if maxSeq < last.manifest.toSeq || maxAudit < last.manifest.toAuditRow {
            return "the node's log is behind the last backup (it went back in time)"
        }
        return nil
    }

    private func writeFullBackup(into directory: String) throws -> BackupManifest {
        let path = (directory as NSString).appendingPathComponent(Self.databaseFileName)
        try db.execute("VACUUM INTO '\(path.replacingOccurrences(of: "'", with: "''"))'")
        let copy = try DatabaseConnection(path: path, create: false)
        try copy.execute("PRAGMA journal_mode=DELETE")
        let (toSeq, toAudit) = try copy.read {
            (
                try copy.statement("SELECT coalesce(max(seq), 0) FROM records").firstRow { $0.int(0) } ?? 0,
                try copy.statement("SELECT coalesce(max(id), 0) FROM audit").firstRow { $0.int(0) } ?? 0
            )
        }
        try Self.writeInventory(of: copy, schema: "main", into: directory)
        return BackupManifest(
            kind: .full, sequence: 1, site: identity.site, role: identity.role, fromSeq: 0, toSeq: toSeq,
            fromAuditRow: 0, toAuditRow: toAudit, createdAt: Timestamp.nowISO8601(), schema: 0, incarnation: "",
            files: [
                BackupManifest.File(path: Self.databaseFileName, sha256: "", bytes: 0),
                BackupManifest.File(path: BackupManifest.inventoryFileName, sha256: "", bytes: 0),
            ])
    }

    private func writeIncrementalBackup(
        into directory: String, after previous: BackupManifest, known: Set<String>
    ) throws -> BackupManifest {
        let path = (directory as NSString).appendingPathComponent(Self.changesFileName)
        // An empty file is an empty database; the node's connection does not create files.
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw StorageError(code: .fileSystem, message: "cannot create \(path)")
        }
        try db.execute("ATTACH DATABASE '\(path.replacingOccurrences(of: "'", with: "''"))' AS backup")
        defer { try? db.execute("DETACH DATABASE backup") }
        var files = [
            BackupManifest.File(path: Self.changesFileName, sha256: "", bytes: 0),
            BackupManifest.File(path: BackupManifest.inventoryFileName, sha256: "", bytes: 0),
        ]
        // One read transaction over the node: the copy is of one moment, whatever the daemon writes meanwhile.
        try db.execute("BEGIN")
        do {
            try db.statement("CREATE TABLE backup.records AS SELECT * FROM main.records WHERE seq > ?1").run([
                .integer(previous.toSeq)
            ])
            try db.statement("CREATE TABLE backup.audit AS SELECT * FROM main.audit WHERE id > ?1").run([
                .integer(previous.toAuditRow)
            ])
            for table in Self.backupSnapshotTables {
                try db.execute("CREATE TABLE backup.\(table) AS SELECT * FROM main.\(table)")
            }
            // Every attachment the previous backup did not hold, whatever refers to it now (a record, a held
            // state), written as it is read.
            let folder = (directory as NSString).appendingPathComponent("attachments")
            try db.statement("SELECT sha256, data FROM main.blobs").forEachRow { row in
                let sha = row.text(0)
                guard !known.contains(sha), FieldSpec.isSHA256Hex(sha) else { return }
                if files.count == 2 {
                    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
                }
                let file = (folder as NSString).appendingPathComponent(sha)
                guard
                    FileManager.default.createFile(
                        atPath: file, contents: Data(row.blob(1)), attributes: [.posixPermissions: 0o600])
                else { throw StorageError(code: .fileSystem, message: "cannot write \(file)") }
                files.append(BackupManifest.File(path: "attachments/\(sha)", sha256: sha, bytes: 0))
            }
            try Self.writeInventory(of: db, schema: "main", into: directory)
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
        let toSeq =
            try db.statement("SELECT coalesce(max(seq), ?1) FROM backup.records").firstRow([.integer(previous.toSeq)]) {
                $0.int(0)
            } ?? previous.toSeq
        let toAudit =
            try db.statement("SELECT coalesce(max(id), ?1) FROM backup.audit").firstRow([
                .integer(previous.toAuditRow)
            ]) { $0.int(0) } ?? previous.toAuditRow
        return BackupManifest(
            kind: .incremental, sequence: previous.sequence + 1, site: identity.site, role: identity.role,
            fromSeq: previous.toSeq, toSeq: toSeq, fromAuditRow: previous.toAuditRow, toAuditRow: toAudit,
            createdAt: Timestamp.nowISO8601(), schema: 0, incarnation: "", files: files)
    }

    /// Writes the inventory (every record id and attachment hash in `schema` of `connection`) into `directory`.
    private static func writeInventory(of connection: DatabaseConnection, schema: String, into directory: String)
        throws
    {
        let path = (directory as NSString).appendingPathComponent(BackupManifest.inventoryFileName)
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw StorageError(code: .fileSystem, message: "cannot write \(path)") }
        defer { try? handle.close() }
        var buffer = ""
        func flush(_ force: Bool) throws {
            guard force || buffer.utf8.count > 1 << 20 else { return }
            do { try handle.write(contentsOf: Data(buffer.utf8)) } catch {
                throw StorageError(code: .fileSystem, message: "cannot write \(path): \(error.localizedDescription)")
            }
            buffer = ""
        }
        try connection.statement("SELECT id FROM \(schema).records ORDER BY id").forEachRow { row in
            buffer += "r \(row.text(0))\n"
            try flush(false)
        }
        try connection.statement("SELECT sha256 FROM \(schema).blobs ORDER BY sha256").forEachRow { row in
            buffer += "b \(row.text(0))\n"
            try flush(false)
        }
        try flush(true)
    }
}
