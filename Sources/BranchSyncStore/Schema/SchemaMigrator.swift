/// Brings a database up to the newest schema, one recorded migration at a time.
enum SchemaMigrator {
    /// The number of migrations this build knows; a database with more was written by a newer BranchSync.
    static var currentVersion: Int { Migration.all.count }

    /// The migrations the database has not had yet, in order.
    static func pending(_ db: DatabaseConnection) throws -> [String] {
        let exists =
            try db.statement("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
            .firstRow { _ in true } ?? false
        let applied = exists ? try appliedNames(db) : []
        return Migration.all.map(\.name).filter { !applied.contains($0) }
    }

    /// The names of the migrations recorded in `schema_migrations`.
    private static func appliedNames(_ db: DatabaseConnection) throws -> Set<String> {
        Set(try db.statement("SELECT name FROM schema_migrations").rows { $0.text(0) })
    }

    /// Applies every migration not yet recorded, each in its own transaction.
    /// - Throws: ``StorageError`` on SQLite failure, or `.schemaTooNew` for a database from a newer version.
    static func migrate(_ db: DatabaseConnection) throws {
        try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        let applied = try appliedNames(db)
        let known = Set(Migration.all.map(\.name))
        if let unknown = applied.subtracting(known).sorted().first {
            throw StorageError(
                code: .schemaTooNew,
                message: "the database has migration '\(unknown)', which this BranchSync does not know; "
                    + "upgrade BranchSync before opening it")
        }
        for migration in Migration.all where !applied.contains(migration.name) {
            try db.write {
                // Read again inside the write: another process may have applied it since (a command racing a
                // daemon that is starting).
                let done =
                    try db.statement("SELECT 1 FROM schema_migrations WHERE name = ?1")
                    .firstRow([.text(migration.name)]) { _ in true } ?? false
                guard !done else { return }
                try db.execute(migration.sql)
                try migration.after?(db)
                try db.statement("INSERT INTO schema_migrations(name, applied_at) VALUES (?1, ?2)")
                    .run([.text(migration.name), .text(Timestamp.nowISO8601())])
            }
        }
    }
}
