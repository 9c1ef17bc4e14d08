import BranchSyncCore
import BranchSyncNode
import BranchSyncStore
import BranchSyncTestSupport
import Foundation
import Testing

/// Upgrading a node whose daemon still runs the older build: its writes rely on the schema it started with (before
/// migration 014 the verify summaries were kept by triggers), so a command of the new build beside it must not
/// migrate the database under it.
@Suite struct UpgradeTests {
    @Test func aCommandBesideARunningDaemonLeavesAMigrationToTheNewDaemon() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        #expect(cli(["init", "--site", "hq", "--role", "hub"], data: data).status == 0)
        // The database as the older build left it: the last migration not applied yet.
        do {
            let db = try DatabaseConnection(path: NodeStore.databasePath(in: data), create: false)
            try db.execute("DELETE FROM schema_migrations WHERE name = '014-summaries-without-triggers'")
        }
        func migrated() throws -> Bool {
            let db = try DatabaseConnection(path: NodeStore.databasePath(in: data), create: false)
            return try db.statement("SELECT 1 FROM schema_migrations WHERE name = '014-summaries-without-triggers'")
                .firstRow { _ in true } ?? false
        }
        do {
            // A `branchsync run` (the older build's) holds the node.
            let daemon = try DaemonLock(directory: data)
            let refused = cli(["status"], data: data)
            #expect(refused.status != 0)
            #expect(refused.err.contains("needs migration 014-summaries-without-triggers"), "\(refused.err)")
            #expect(refused.err.contains("so restart the daemon"), "\(refused.err)")
            #expect(try !migrated())
            withExtendedLifetime(daemon) {}
        }
        // The new build's daemon takes the lock, then migrates; commands beside it work again.
        let daemon = try Daemon(
            ["run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port")], data: data,
            log: directory.file("hq.log"))
        defer { daemon.terminate() }
        let log = directory.file("hq.log")
        #expect(
            eventually(timeout: 20) { (try? migrated()) == true },
            "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let status = cli(["status"], data: data)
        #expect(status.status == 0, "\(status.err)")
    }
}
