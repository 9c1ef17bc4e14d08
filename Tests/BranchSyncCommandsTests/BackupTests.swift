import BranchSyncCore
import BranchSyncStore
import Foundation
import Testing

@Suite(.serialized) struct BackupTests {
    /// bj01 runs connected and is backed up while it runs: a full backup, then an incremental with a new attachment.
    /// It writes once more (that write reaches the hub) and is lost. Restored from the chain into a new directory,
    /// it checks sound, holds what the backups held (attachments too), keeps its identity and credentials (no new
    /// join), gets its lost write back from the hub, and its next write is taken by the hub (no reused dot). A chain
    /// with one altered byte is refused and nothing is written.
    @Test func aBranchRestoredFromItsBackupChainConvergesWithTheGroup() throws {
        let group = try GroupFixture(branches: ["bj01"])
        let branch = try Daemon(["run"], data: group.data("bj01"), log: group.directory.file("bj01.log"))
        defer { branch.terminate() }
        func add(_ arguments: [String]) throws -> String {
            let result = group.run("bj01", arguments)
            #expect(result.status == 0, "\(arguments): \(result.err)")
            return result.out.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let first = group.directory.file("contract.txt")
        try Data("first contract\n".utf8).write(to: URL(fileURLWithPath: first))
        let second = group.directory.file("ledger.csv")
        try Data("date,amount\n2026-11-24,100\n".utf8).write(to: URL(fileURLWithPath: second))
        let customerA = try add(
            ["customer", "add", "--code", "110001", "--name", "华信", "--credit-code", "91110000802100433B"])
        let contract = try add(
            [
                "document", "add", "--title", "合同", "--kind", "market", "--type", "contract", "--file", first,
                "--retain-until", "2020-12-31",
            ])
        let contractFile = try #require(
            try group.store("bj01").record(try RecordID(contract))?[RecordSchema.attachmentHashField])

        let backups = group.directory.file("backups")
        let full = try group.json("bj01", ["backup", "--to", backups]) as? [String: Any]
        #expect(full?["kind"] as? String == "full", "\(String(describing: full))")
        _ = try add(["customer", "update", customerA, "--phone", "13900000001"])
        let customerC = try add(
            ["customer", "add", "--code", "310001", "--name", "申城", "--credit-code", "91310000132200821H"])
        let ledger = try add(
            ["document", "add", "--title", "账本", "--kind", "administrative", "--type", "report", "--file", second])
        let incremental = try group.json("bj01", ["backup", "--to", backups]) as? [String: Any]
        #expect(incremental?["kind"] as? String == "incremental", "\(String(describing: incremental))")
        let incrementalDirectory = try #require(incremental?["directory"] as? String)
        #expect(
            FileManager.default.fileExists(
                atPath: incrementalDirectory + "/attachments/"
                    + "\(try group.store("bj01").record(try RecordID(ledger))?[RecordSchema.attachmentHashField] ?? "-")"
            ))

        // A destruction between two backups: the restore must not bring the attachment back.
        _ = try add(["destroy", contract, "--reason", "retention ended", "--approved-by", "li"])
        let third = try group.json("bj01", ["backup", "--to", backups]) as? [String: Any]
        #expect(third?["kind"] as? String == "incremental", "\(String(describing: third))")

        // Writes after the last backup, which reach the hub before the branch is lost.
        _ = try add(["customer", "update", customerC, "--notes", "after the backup"])
        let lost = try add(
            ["customer", "add", "--code", "330001", "--name", "之江", "--credit-code", "91330100716105852F"])
        #expect(
            waitUntil(timeout: 30) { (try? group.store("hq").record(try RecordID(lost))) != nil },
            "the hub has bj01's last write")
        // The hub is backed up while it runs too, and checks sound.
        #expect(group.run("hq", ["backup", "--to", group.directory.file("hub-backups")]).status == 0)
        let hubCheck = group.run("hq", ["check"])
        #expect(hubCheck.status == 0, "\(hubCheck.out)")
        branch.terminate()

        // A damaged chain is refused, and nothing is written.
        let damaged = group.directory.file("damaged")
        try FileManager.default.copyItem(atPath: backups, toPath: damaged)
        let changes = damaged + "/" + (incrementalDirectory as NSString).lastPathComponent + "/changes.sqlite"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: changes))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: changes))
        let refused = cli(
            ["restore", "--from", damaged, "--to", group.directory.file("nowhere")], data: "/nonexistent")
        #expect(refused.status == 1 && refused.err.contains("damaged"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: NodeStore.databasePath(in: group.directory.file("nowhere"))))

        let restoredData = group.directory.file("bj01-restored")
        let restored = cli(["restore", "--from", backups, "--to", restoredData, "--json"], data: "/nonexistent")
        try #require(restored.status == 0, "\(restored.err)")
        let again = cli(["restore", "--from", backups, "--to", restoredData], data: "/nonexistent")
        #expect(again.status == 1 && again.err.contains("already holds"), "\(again.err)")
        let restoredCheck = cli(["check"], data: restoredData)
        #expect(restoredCheck.status == 0, "\(restoredCheck.out)")
        do {
            let store = try NodeStore.open(directory: restoredData, actor: group.actor)
            #expect(store.identity.site.rawValue == "bj01")
            #expect(try store.record(try RecordID(customerA))?["phone"] == "13900000001")
            #expect(try store.record(try RecordID(customerC)) != nil)
            #expect(try store.record(try RecordID(lost)) == nil, "written after the last backup")
            let ledgerState = try #require(try store.record(try RecordID(ledger)))
            #expect(try store.blob(sha256: ledgerState[RecordSchema.attachmentHashField] ?? "") != nil)
            #expect(try store.record(try RecordID(contract))?.isDestroyed == true)
            #expect(try store.blob(sha256: contractFile) == nil, "destroyed between backups: its file stays gone")
        }
        // Before it syncs, the restored node changes a record whose later change it lost: its write must not reuse
        // the lost write's identity (the hub would drop it as known, or refuse it).
        let offline = cli(
            ["customer", "update", customerC, "--notes", "offline after the restore"], data: restoredData)
        #expect(offline.status == 0, "\(offline.err)")

        // No new join: the restored node syncs with its old credentials, gets its lost write back, and its next
        // write is taken by the hub.
        let sync = try runBinary(["sync", "--once"], data: restoredData)
        #expect(sync.status == 0, "\(sync.out) \(sync.err)")
        #expect(try NodeStore.open(directory: restoredData, actor: group.actor).record(try RecordID(lost)) != nil)
        let fresh = cli(
            ["customer", "add", "--code", "440001", "--name", "岭南", "--credit-code", "914403001922038216"],
            data: restoredData)
        try #require(fresh.status == 0, "\(fresh.err)")
        #expect(try runBinary(["sync", "--once"], data: restoredData).status == 0)
        let freshID = try RecordID(fresh.out.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(try group.store("hq").record(freshID)?["name"] == "岭南")
        #expect(try group.store("hq").record(try RecordID(customerC))?["notes"] == "offline after the restore")
        #expect(
            try NodeStore.open(directory: restoredData, actor: group.actor).record(try RecordID(customerC))?["notes"]
                == "offline after the restore")
        #expect((try group.json("hq", ["quarantine", "list"]) as? [Any])?.isEmpty == true)
        for data in [restoredData, group.data("hq")] {
            let after = cli(["check"], data: data)
            #expect(after.status == 0, "check after the resync: \(after.out)")
        }
        let audit = try group.json("hq", ["audit", "--site", "bj01", "--action", "restore"]) as? [[String: Any]] ?? []
        #expect(audit.count == 1, "the restore is in the trail the hub holds: \(audit)")
    }

    /// Backups taken while bj01 imports 10,000 customers at full speed (and pushes them to the hub) are consistent
    /// copies: restored into a new directory the chain checks sound; the node rejoins with its old credentials and
    /// converges with the group, and not one acknowledged row is lost (the import reported every row committed).
    @Test func backupsTakenDuringAFullSpeedImportRestoreAndConverge() throws {
        let group = try GroupFixture(branches: ["bj01"])
        let branch = try Daemon(["run"], data: group.data("bj01"), log: group.directory.file("bj01.log"))
        defer { branch.terminate() }
        let rows = 10_000
        var csv = "code,name,credit-code\n"
        for index in 0..<rows { csv += "\(110_000 + index),客户\(index),91110000802100433B\n" }
        let file = group.directory.write("customers.csv", csv)
        let importer = try Daemon(
            ["import", "customers", file], data: group.data("bj01"), log: group.directory.file("import.log"))
        func customers(_ site: String) -> Int {
            (try? group.store(site).counts()[.customers]?.live) ?? 0
        }

        let backups = group.directory.file("backups")
        var taken: [String] = []
        #expect(waitUntil(timeout: 60) { customers("bj01") >= 1_000 }, "the import did not start")
        for _ in 0..<2 {
            let during = importer.process.isRunning
            let result = try group.json("bj01", ["backup", "--to", backups]) as? [String: Any]
            taken.append("\(result?["kind"] as? String ?? "?") during the import: \(during)")
        }
        importer.process.waitUntilExit()
        #expect(
            importer.process.terminationStatus == 0,
            "import: \((try? String(contentsOfFile: group.directory.file("import.log"), encoding: .utf8)) ?? "")")
        #expect(taken.first?.hasSuffix("true") == true, "no backup ran while the import did: \(taken)")
        #expect(customers("bj01") == rows)
        #expect(waitUntil(timeout: 120) { customers("hq") == rows }, "the hub has \(customers("hq")) of \(rows)")
        branch.terminate()

        let restoredData = group.directory.file("bj01-restored")
        let restored = cli(["restore", "--from", backups, "--to", restoredData], data: "/nonexistent")
        try #require(restored.status == 0, "\(restored.err)")
        let check = cli(["check"], data: restoredData)
        #expect(check.status == 0, "\(check.out)")
        let atRestore =
            (try? NodeStore.open(directory: restoredData, actor: group.actor).counts()[.customers]?.live) ?? 0
        #expect(atRestore > 0 && atRestore <= rows, "\(atRestore) customers in the backups")

        let sync = try runBinary(["sync", "--once"], data: restoredData)
        #expect(sync.status == 0, "\(sync.out) \(sync.err)")
        let store = try NodeStore.open(directory: restoredData, actor: group.actor)
        #expect(try store.counts()[.customers]?.live == rows, "rows lost: \(taken)")
        #expect(customers("hq") == rows)
        let hubExport = group.run("hq", ["export", "--json", "--purpose", "backup test"]).out
        #expect(cli(["export", "--json", "--purpose", "backup test"], data: restoredData).out == hubExport)
        #expect(cli(["check"], data: restoredData).status == 0)
    }

    /// Backups are numbered after the highest one, so pruning old ones leaves the chain in order; an incremental that
    /// cannot continue what is left becomes a full backup (and says why); `--incremental` then refuses.
    @Test func prunedChainsContinueWithAFullBackup() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("bj01")
        _ = cli(["init", "--site", "bj01", "--role", "branch", "--hub", "127.0.0.1:1"], data: data)
        let backups = directory.file("backups")
        for _ in 0..<3 { #expect(cli(["backup", "--to", backups], data: data).status == 0) }
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: backups).filter { !$0.hasPrefix(".") }.sorted()
                == ["0001-full", "0002-incremental", "0003-incremental"])
        try FileManager.default.removeItem(atPath: backups + "/0001-full")
        let refused = cli(["backup", "--to", backups, "--incremental"], data: data)
        #expect(refused.status == 1 && refused.err.contains("cannot continue"), "\(refused.err)")
        let next = cli(["backup", "--to", backups], data: data)
        #expect(next.status == 0 && next.out.contains("a full backup, since"), "\(next.out)")
        #expect(FileManager.default.fileExists(atPath: backups + "/0004-full"))
        #expect(cli(["backup", "--to", backups], data: data).out.contains("0005-incremental"))
        #expect(cli(["restore", "--from", backups, "--to", directory.file("restored")], data: "/x").status == 0)
    }

    /// The hub is restored from a full backup taken before bj01 and sh01 wrote more. Started from the restored
    /// directory on the same address, it recovers: both branches resync in full, the hub regains every record they
    /// hold, the recovery ends, and all three export the same records.
    @Test func aHubRestoredFromABackupRegainsEverythingFromItsBranches() throws {
        let group = try GroupFixture(branches: ["bj01", "sh01"])
        func add(_ site: String, _ code: String, _ credit: String) throws -> RecordID {
            let result = group.run(
                site, ["customer", "add", "--code", code, "--name", "客户\(code)", "--credit-code", credit])
            #expect(result.status == 0, "\(result.err)")
            return try RecordID(result.out.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        _ = try add("bj01", "110001", "91110000802100433B")
        try group.sync("bj01")
        try group.sync("sh01")
        let backups = group.directory.file("hub-backups")
        #expect(group.run("hq", ["backup", "--to", backups, "--full"]).status == 0)
        let later = [try add("bj01", "110002", "91310000132200821H"), try add("sh01", "310001", "91330100716105852F")]
        try group.sync("bj01")
        try group.sync("sh01")
        try group.sync("bj01")
        group.hub.terminate()

        let restored = group.directory.file("hq-restored")
        let result = cli(["restore", "--from", backups, "--to", restored], data: "/nonexistent")
        try #require(result.status == 0, "\(result.err)")
        #expect(try NodeStore.open(directory: restored, actor: group.actor).record(later[0]) == nil)
        let hub = try Daemon(
            ["run", "--listen", "127.0.0.1:\(group.port)"], data: restored, log: group.directory.file("hq2.log"))
        defer { hub.terminate() }
        let status = try JSONSerialization.jsonObject(with: Data(cli(["status", "--json"], data: restored).out.utf8))
        #expect((status as? [String: Any])?["recovering"] as? Bool == true, "a restored hub recovers")
        #expect(waitUntil(timeout: 30) { (try? runBinary(["sync", "--once"], data: group.data("bj01")).status) == 0 })
        #expect(waitUntil(timeout: 30) { (try? runBinary(["sync", "--once"], data: group.data("sh01")).status) == 0 })
        let hubStore = try NodeStore.open(directory: restored, actor: group.actor)
        for id in later { #expect(try hubStore.record(id) != nil, "the hub regained \(id)") }
        #expect(waitUntil(timeout: 30) { (try? hubStore.restoreKnowledge()) == RestoreKnowledge.none }, "recovered")
        _ = try runBinary(["sync", "--once"], data: group.data("bj01"))
        let exports = [restored, group.data("bj01"), group.data("sh01")].map { data in
            cli(["export", "--json"], data: data).out.split(separator: "\n").filter { $0.contains("\"customers\"") }
        }
        #expect(exports[0].count == 3 && exports[0] == exports[1] && exports[1] == exports[2], "\(exports)")
        let checked = cli(["check"], data: restored)
        #expect(checked.status == 0, "\(checked.out)")
    }

    /// `check` finds what a damaged database hides: a record row whose index columns no longer match its state, a
    /// state that is not canonical, an attachment whose bytes changed.
    @Test func checkNamesEveryBrokenInvariant() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("bj01")
        _ = cli(["init", "--site", "bj01", "--role", "branch", "--hub", "127.0.0.1:1"], data: data)
        let file = directory.file("a.txt")
        try Data("attachment\n".utf8).write(to: URL(fileURLWithPath: file))
        let customer = cli(
            ["customer", "add", "--code", "110001", "--name", "华信", "--credit-code", "91110000802100433B"], data: data)
        let document = cli(
            ["document", "add", "--title", "t", "--kind", "market", "--type", "report", "--file", file], data: data)
        try #require(customer.status == 0 && document.status == 0)
        #expect(cli(["check"], data: data).status == 0)
        let damage = try runProgram(
            "/usr/bin/sqlite3",
            [
                NodeStore.databasePath(in: data),
                """
                UPDATE records SET class = 'public' WHERE collection = 'customers';
                UPDATE blobs SET data = CAST('changed' AS BLOB);
                UPDATE digest_buckets SET records = records + 1 WHERE bucket = (SELECT min(bucket) FROM digest_buckets);
                """,
            ])
        #expect(damage.status == 0, "\(damage.output)")
        let result = cli(["check", "--json"], data: data)
        #expect(result.status == 1)
        let report = try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any]
        let problems = (report?["problems"] as? [String]) ?? []
        #expect(problems.contains { $0.contains("column class is 'public'") }, "\(problems)")
        #expect(problems.contains { $0.contains("another SHA-256") }, "\(problems)")
        #expect(problems.contains { $0.contains("verify summary") }, "\(problems)")
    }
}
