import BranchSyncCore
import BranchSyncCrypto
import Foundation
import Glibc

/// What `branchsync restore` rebuilt.
public struct RestoreResult: Sendable {
    /// The backups applied, full first.
    public var backups: [BackupManifest]
    /// The restored node.
    public var site: SiteID
    public var role: NodeRole
    /// Its log head and record count after the restore.
    public var lastSeq: Int64
    public var records: Int
}

extension NodeStore {
    /// Rebuilds a node in `dataDirectory` (which must not hold one) from the last full backup in `backupDirectory`
    /// and its incrementals, after checking every file against its manifest; nothing is written when one does not
    /// match. The node keeps its identity, hub address and credentials, and is marked restored (DESIGN.md §12): a new
    /// incarnation, so its peers resend everything to it and take everything from it again; a hub also starts
    /// recovering, so every branch resyncs and what the hub lost since the backup comes back.
    /// - Throws: ``StorageError`` `.corrupt` for a damaged or broken chain, `.notFound` without a full backup,
    ///   `.alreadyInitialized` when `dataDirectory` holds a node.
    public static func restore(from backupDirectory: String, to dataDirectory: String, actor: AuditActor) throws
        -> RestoreResult
    {
        let chain = try BackupChain(directory: backupDirectory).restorable()
        for backup in chain { try BackupChain.verify(backup) }
        let target = databasePath(in: dataDirectory)
        if FileManager.default.fileExists(atPath: target) {
            throw StorageError(
                code: .alreadyInitialized,
                message: "\(dataDirectory) already holds a BranchSync node; restore into a new directory")
        }
        // A log or journal left by the database that used to be here would be replayed into the restored one.
        for suffix in ["-wal", "-shm", "-journal"] where FileManager.default.fileExists(atPath: target + suffix) {
            throw StorageError(
                code: .alreadyInitialized,
                message: "\(target + suffix) is left from an earlier database; remove it (or restore into a new "
                    + "directory)")
        }
        do {
            try FileManager.default.createDirectory(
                atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StorageError(
                code: .fileSystem, message: "cannot create \(dataDirectory): \(error.localizedDescription)")
        }
        let working = target + ".restoring"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: working + suffix) }
        guard let full = chain.first else { throw StorageError(code: .notFound, message: "no full backup") }
        do {
            try FileManager.default.copyItem(
                atPath: (full.directory as NSString).appendingPathComponent(databaseFileName), toPath: working)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: working)
        } catch {
            throw StorageError(code: .fileSystem, message: "cannot copy the full backup: \(error.localizedDescription)")
        }
        // Checked again as copied: nothing may change between the check and the use.
        if let entry = full.manifest.files.first(where: { $0.path == databaseFileName }) {
            do { try BackupChain.verify(entry, at: working) } catch {
                try? FileManager.default.removeItem(atPath: working)
                throw error
            }
        }
        do {
            let db = try DatabaseConnection(path: working, create: false)
            for backup in chain.dropFirst() {
                try applyIncremental(backup, to: db, working: dataDirectory)
            }
            // What was deleted, purged or destroyed between backups is not in the last inventory: it goes.
            if let last = chain.last { try dropWhatIsNotIn(try BackupChain.inventory(of: last), db) }
            try SchemaMigrator.migrate(db)
            try db.write {
                try DigestSummaries.rebuild(db)
                try LeadIndex.rebuild(db)
                try markRestored(db, from: chain.map(\.manifest), actor: actor)
            }
            try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: working + suffix) }
            throw error
        }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: working + suffix) }
        guard rename(working, target) == 0 else {
            throw StorageError(code: .fileSystem, message: "cannot move the restored database to \(target)")
        }
        let store = try open(directory: dataDirectory, actor: actor)
        return RestoreResult(
            backups: chain.map(\.manifest), site: store.identity.site, role: store.identity.role,
            lastSeq: try store.lastSeq(),
            records: Int(try store.db.statement("SELECT count(*) FROM records").firstRow { $0.int(0) } ?? 0))
    }

    /// Removes the records and attachments the inventory does not list.
    private static func dropWhatIsNotIn(
        _ inventory: (records: Set<String>, attachments: Set<String>), _ db: DatabaseConnection
    ) throws {
        try db.write {
            let records = try db.statement("SELECT id FROM records").rows { $0.text(0) }
            let deleteRecord = try db.statement("DELETE FROM records WHERE id = ?1")
            for id in records where !inventory.records.contains(id) { try deleteRecord.run([.text(id)]) }
            let blobs = try db.statement("SELECT sha256 FROM blobs").rows { $0.text(0) }
            let deleteBlob = try db.statement("DELETE FROM blobs WHERE sha256 = ?1")
            for sha in blobs where !inventory.attachments.contains(sha) { try deleteBlob.run([.text(sha)]) }
        }
    }

    /// Applies one incremental backup: records and audit rows are merged in by key, the small tables replaced, the
    /// attachments added. The changes file is copied next to the database and checked again before it is read, so
    /// nothing can change it between the check and the read, and the backup itself is never written to.
    private static func applyIncremental(_ backup: BackupChain.Backup, to db: DatabaseConnection, working: String)
        throws
    {
        guard let entry = backup.manifest.files.first(where: { $0.path == changesFileName }) else {
            throw StorageError(code: .corrupt, message: "\(backup.directory) lists no \(changesFileName)")
        }
        let path = (working as NSString).appendingPathComponent(".restoring-" + changesFileName)
        try? FileManager.default.removeItem(atPath: path)
        do {
            try FileManager.default.copyItem(
                atPath: (backup.directory as NSString).appendingPathComponent(changesFileName), toPath: path)
        } catch {
            throw StorageError(
                code: .fileSystem, message: "cannot copy \(changesFileName): \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        try BackupChain.verify(entry, at: path)
        try db.execute("ATTACH DATABASE '\(path.replacingOccurrences(of: "'", with: "''"))' AS backup")
        defer { try? db.execute("DETACH DATABASE backup") }
        try db.write {
            let recordColumns = try columns(of: "records", in: db)
            let assignments = recordColumns.filter { $0 != "id" }.map { "\($0) = excluded.\($0)" }
            let list = recordColumns.joined(separator: ", ")
            try db.execute(
                "INSERT INTO main.records(\(list)) SELECT \(list) FROM backup.records WHERE true "
                    + "ON CONFLICT(id) DO UPDATE SET \(assignments.joined(separator: ", "))")
            let auditColumns = try columns(of: "audit", in: db).joined(separator: ", ")
            try db.execute(
                "INSERT OR IGNORE INTO main.audit(\(auditColumns)) SELECT \(auditColumns) FROM backup.audit")
            for table in backupSnapshotTables where table != "schema_migrations" {
                let list = try columns(of: table, in: db).joined(separator: ", ")
                try db.execute("DELETE FROM main.\(table)")
                try db.execute("INSERT INTO main.\(table)(\(list)) SELECT \(list) FROM backup.\(table)")
            }
            let insert = try db.statement("INSERT OR IGNORE INTO main.blobs(sha256, size, data) VALUES (?1, ?2, ?3)")
            for file in backup.manifest.files where file.path.hasPrefix("attachments/") {
                let data = FileManager.default.contents(
                    atPath: (backup.directory as NSString).appendingPathComponent(file.path))
                guard let data else { throw StorageError(code: .fileSystem, message: "cannot read \(file.path)") }
                let bytes = [UInt8](data)
                guard SHA256.hexDigest(bytes) == file.sha256 else {
                    throw StorageError(code: .corrupt, message: "\(file.path) changed since it was checked")
                }
                try insert.run([.text(file.sha256), .integer(Int64(bytes.count)), .blob(bytes)])
            }
        }
    }

    private static func columns(of table: String, in db: DatabaseConnection) throws -> [String] {
        try db.statement("SELECT name FROM pragma_table_info(?1)").rows([.text(table)]) { $0.text(0) }
    }

    /// Marks the rebuilt node restored: a new incarnation (so every peer resends to it and takes its log again), no
    /// session open, a hub recovering; audited.
    private static func markRestored(_ db: DatabaseConnection, from chain: [BackupManifest], actor: AuditActor) throws {
        let meta = try readMeta(db)
        guard let siteText = meta["site"], let site = try? SiteID(siteText), let role = meta["role"] else {
            throw StorageError(code: .corrupt, message: "the backup's database has no node identity")
        }
        let now = Timestamp.nowISO8601()
        try db.statement("DELETE FROM meta WHERE key = 'incarnation'").run()
        try db.statement("UPDATE peers SET online = 0").run()
        let upsert = try db.statement(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        try upsert.run([.text("restored_at"), .text(now)])
        if role == NodeRole.hub.rawValue {
            let lastSeq = try db.statement("SELECT coalesce(max(seq), 0) FROM records").firstRow { $0.int(0) } ?? 0
            let through = max(Timestamp.nowMilliseconds(), UInt64(clamping: lastSeq))
            try upsert.run([.text(recoveredThroughKey), .text(String(through))])
            try upsert.run([.text(recoveringKey), .text(now)])
            try db.statement(
                "UPDATE peers SET resync_pending = 1 WHERE role = 'branch' AND retired_at IS NULL AND revoked_at IS NULL"
            ).run()
        }
        let last = chain.last
        try insertAudit(
            db, site: site, at: now, actor: actor, action: "restore",
            collection: nil, recordID: nil,
            detail: "restored from \(chain.count) backup(s) up to log position \(last?.toSeq ?? 0), taken "
                + "\(last?.createdAt ?? "?"); new incarnation"
                + (role == NodeRole.hub.rawValue ? "; recovering until every branch resynced" : ""))
    }
}
