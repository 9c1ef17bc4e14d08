import BranchSyncCore
import BranchSyncCrypto
import Foundation

/// What `branchsync backup` wrote.
public struct BackupResult: Sendable {
    /// The new backup's directory.
    public var directory: String
    public var manifest: BackupManifest
}

extension NodeStore {
    /// The tables an incremental backup copies whole (small, and changed in place): everything but the records, the
    /// audit trail and the attachments, which it copies from where the previous backup stopped, and what is derived
    /// from the records (leads, verify summaries).
    static let backupSnapshotTables = [
        "meta", "peers", "conflicts", "quarantine", "pending_purges", "history_epochs", "schema_migrations",
    ]

    /// Backs the node up into the chain in `directory` (created if missing) while the daemon may be running: a
    /// consistent copy as of one moment.
    ///
    /// A full backup is the database copied by SQLite (`VACUUM INTO`). An incremental holds the records whose log
    /// position is past the previous backup's, the audit rows after its last one, a copy of the node's small tables,
    /// and the attachments those records refer to that no backup of the chain holds yet, as files named by their
    /// SHA-256. Each backup is written under a temporary name and renamed once its manifest is complete.
    /// - Parameter kind: `nil`: incremental when the directory holds a chain of this node, else full.
    /// - Throws: ``StorageError`` for a chain of another site, an incremental without a full backup, or I/O errors.
    public func backup(to directory: String, kind requested: BackupManifest.Kind?) throws -> BackupResult {
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StorageError(code: .fileSystem, message: "cannot create \(directory): \(error.localizedDescription)")
        }
        let chain = try BackupChain(directory: directory)
        let previous = chain.all.last
        if let previous, previous.manifest.site != identity.site {
            throw StorageError(
                code: .invalidOperation,
                message:
                    "\(directory) holds backups of \(previous.manifest.site), not of \(identity.site); use another "
                    + "directory")
        }
        let kind = requested ?? (previous == nil ? .full : .incremental)
        if kind == .incremental && previous == nil {
            throw StorageError(
                code: .invalidOperation, message: "\(directory) holds no full backup yet: take one first (--full)")
        }
        let name = chain.nextName(kind)
        let final = (directory as NSString).appendingPathComponent(name)
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
                guard let previous else { throw StorageError(code: .invalidOperation, message: "no previous backup") }
                manifest = try writeIncrementalBackup(
                    into: partial, after: previous.manifest, skipping: chain.attachmentsInCurrentChain())
            }
            manifest.files = try manifest.files.map { file in
                let data = FileManager.default.contents(atPath: (partial as NSString).appendingPathComponent(file.path))
                guard let data else { throw StorageError(code: .fileSystem, message: "cannot read back \(file.path)") }
                return BackupManifest.File(
                    path: file.path, sha256: SHA256.hexDigest([UInt8](data)), bytes: Int64(data.count))
            }
            let manifestPath = (partial as NSString).appendingPathComponent(BackupManifest.fileName)
            guard
                FileManager.default.createFile(
                    atPath: manifestPath, contents: Data(manifest.json.utf8), attributes: [.posixPermissions: 0o600])
            else { throw StorageError(code: .fileSystem, message: "cannot write \(manifestPath)") }
            guard rename(partial, final) == 0 else {
                throw StorageError(code: .fileSystem, message: "cannot rename \(partial) to \(final)")
            }
            return BackupResult(directory: final, manifest: manifest)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }

    private func writeFullBackup(into directory: String) throws -> BackupManifest {
        let path = (directory as NSString).appendingPathComponent(Self.databaseFileName)
        try db.execute("VACUUM INTO '\(path.replacingOccurrences(of: "'", with: "''"))'")
        let copy = try DatabaseConnection(path: path, create: false)
        let (toSeq, toAudit) = try copy.read {
            (
                try copy.statement("SELECT coalesce(max(seq), 0) FROM records").firstRow { $0.int(0) } ?? 0,
                try copy.statement("SELECT coalesce(max(id), 0) FROM audit").firstRow { $0.int(0) } ?? 0
            )
        }
        try copy.execute("PRAGMA journal_mode=DELETE")
        return BackupManifest(
            kind: .full, sequence: 1, site: identity.site, role: identity.role, fromSeq: 0, toSeq: toSeq,
            fromAuditRow: 0, toAuditRow: toAudit, createdAt: Timestamp.nowISO8601(),
            files: [BackupManifest.File(path: Self.databaseFileName, sha256: "", bytes: 0)])
    }

    private func writeIncrementalBackup(
        into directory: String, after previous: BackupManifest, skipping known: Set<String>
    ) throws -> BackupManifest {
        let path = (directory as NSString).appendingPathComponent(Self.changesFileName)
        // An empty file is an empty database; the node's connection does not create files.
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw StorageError(code: .fileSystem, message: "cannot create \(path)")
        }
        try db.execute("ATTACH DATABASE '\(path.replacingOccurrences(of: "'", with: "''"))' AS backup")
        defer { try? db.execute("DETACH DATABASE backup") }
        var attachments: [(String, [UInt8])] = []
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
            try db.statement(
                """
                SELECT sha256, data FROM main.blobs WHERE sha256 IN
                    (SELECT attachment FROM backup.records WHERE attachment IS NOT NULL)
                """
            ).forEachRow { row in
                let sha = row.text(0)
                if !known.contains(sha) { attachments.append((sha, row.blob(1))) }
            }
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
        let (toSeq, toAudit) = (
            try db.statement("SELECT coalesce(max(seq), ?1) FROM backup.records").firstRow([.integer(previous.toSeq)]) {
                $0.int(0)
            } ?? previous.toSeq,
            try db.statement("SELECT coalesce(max(id), ?1) FROM backup.audit").firstRow([
                .integer(previous.toAuditRow)
            ]) { $0.int(0) } ?? previous.toAuditRow
        )
        var files = [BackupManifest.File(path: Self.changesFileName, sha256: "", bytes: 0)]
        if !attachments.isEmpty {
            let folder = (directory as NSString).appendingPathComponent("attachments")
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
            for (sha, bytes) in attachments {
                let file = (folder as NSString).appendingPathComponent(sha)
                guard
                    FileManager.default.createFile(
                        atPath: file, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
                else { throw StorageError(code: .fileSystem, message: "cannot write \(file)") }
                files.append(BackupManifest.File(path: "attachments/\(sha)", sha256: sha, bytes: Int64(bytes.count)))
            }
        }
        return BackupManifest(
            kind: .incremental, sequence: previous.sequence + 1, site: identity.site, role: identity.role,
            fromSeq: previous.toSeq, toSeq: toSeq, fromAuditRow: previous.toAuditRow, toAuditRow: toAudit,
            createdAt: Timestamp.nowISO8601(), files: files)
    }

    /// The file of an incremental backup that holds its tables.
    static let changesFileName = "changes.sqlite"
}
