import BranchSyncTestSupport
import Testing

@testable import BranchSyncStore

/// SQLite's process-wide settings are made before the first connection opens.
@Suite struct DatabaseSettingsTests {
    /// SQLite counts no memory (its statistics would take a process-wide mutex around every allocation): after a
    /// connection allocated plenty, the count it keeps is still zero.
    @Test func sqliteKeepsNoMemoryStatistics() throws {
        let directory = TemporaryDirectory()
        let db = try DatabaseConnection(path: directory.file("settings.sqlite"), create: true)
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, value BLOB)")
        try db.write {
            let insert = try db.statement("INSERT INTO t(value) VALUES (?1)")
            for _ in 0..<200 { try insert.run([.blob([UInt8](repeating: 7, count: 4_000))]) }
        }
        #expect(try db.statement("SELECT count(*) FROM t").firstRow { $0.int(0) } == 200)
        #expect(DatabaseConnection.memoryCountedBySQLite == 0)
    }
}
