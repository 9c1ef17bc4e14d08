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
        do {
            let db = try DatabaseConnection(path: working, create: false)
            let migrations = try schemaMigrations(db, schema: "main")
            for backup in chain.dropFirst() {
                try applyIncremental(backup, to: db, migrations: migrations)
            }
            try db.write {
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

    private static func schemaMigrations(_ db: DatabaseConnection, schema: String) throws -> [String] {
        try db.statement("SELECT name FROM \(schema).schema_migrations ORDER BY name").rows { $0.text(0) }
    }

    /// Applies one incremental backup: records and audit rows are merged in by key, the small tables replaced, the
    /// attachments added.
    private static func applyIncremental(_ backup: BackupChain.Backup, to db: DatabaseConnection, migrations: [String])
        throws
    {
        let path = (backup.directory as NSString).appendingPathComponent(changesFileName)
        try db.execute("ATTACH DATABASE '\(path.replacingOccurrences(of: "'", with: "''"))' AS backup")
        defer { try? db.execute("DETACH DATABASE backup") }
        guard try schemaMigrations(db, schema: "backup") == migrations else {
            throw StorageError(
                code: .corrupt,
                message: "\(backup.directory) was written by another BranchSync version than the full backup it "
                    + "continues; restore the chain with that version, or take a new full backup")
        }
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
                try insert.run([.text(file.sha256), .integer(Int64(data.count)), .blob([UInt8](data))])
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
            try db.statement("UPDATE peers SET resync_pending = 1 WHERE role = 'branch' AND retired_at IS NULL").run()
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
