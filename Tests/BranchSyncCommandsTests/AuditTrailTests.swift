import BranchSyncCore
import BranchSyncStore
import Foundation
import Testing

@Suite(.serialized) struct AuditTrailTests {
    /// Each branch's audit trail reaches the hub with its sync, and only the hub: the hub lists and filters the whole
    /// group's trail, a branch only its own. Every chain verifies; one row altered in a copied database (the hub's or
    /// a branch's) makes `audit verify` name that entry.
    @Test func branchTrailsReachTheHubOnlyAndAnAlteredRowBreaksTheChainThere() throws {
        let group = try GroupFixture(branches: ["bj01", "sh01"])
        let added = group.run(
            "bj01", ["customer", "add", "--code", "110001", "--name", "华信", "--credit-code", "91110000802100433B"],
            actor: "wang")
        let id = added.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(group.run("bj01", ["customer", "update", id, "--phone", "13900000001"], actor: "wang").status == 0)
        #expect(
            group.run(
                "sh01", ["customer", "add", "--code", "310001", "--name", "申达", "--credit-code", "91310000132200821H"],
                actor: "li"
            ).status == 0)
        try group.sync("bj01")
        try group.sync("sh01")

        let trail = try #require(
            try group.json("hq", ["audit", "--site", "bj01", "--limit", "1000"]) as? [[String: Any]])
        let actions = trail.compactMap { $0["action"] as? String }
        #expect(actions.contains("create") && actions.contains("update") && actions.contains("init"), "\(actions)")
        #expect(trail.allSatisfy { $0["site"] as? String == "bj01" })
        let seqs = trail.compactMap { $0["seq"] as? Int }
        #expect(seqs == Array((1...seqs.count).reversed()), "newest first, numbered from 1: \(seqs)")
        let byWang = try #require(
            try group.json("hq", ["audit", "--user", "wang", "--action", "update"]) as? [[String: Any]])
        #expect(byWang.count == 1 && byWang.first?["record"] as? String == id)
        let today = String(Timestamp.nowISO8601().prefix(10))
        let todays =
            try group.json("hq", ["audit", "--site", "sh01", "--from", today, "--to", today]) as? [[String: Any]]
        #expect(todays?.contains { $0["actor"] as? String == "li" } == true)
        #expect(
            (try group.json("sh01", ["audit", "--site", "bj01"]) as? [Any])?.isEmpty == true,
            "a branch holds no other trail")

        let verified = group.run("hq", ["audit", "verify"])
        #expect(verified.status == 0, "\(verified.out)")
        #expect(
            verified.out.contains("site bj01:") && verified.out.contains("site sh01:")
                && verified.out.contains("site hq:"))

        // Alter bj01's update entry in a copy of the hub's database, and the same in a copy of bj01's.
        let update = try #require(trail.first { $0["action"] as? String == "update" }?["seq"] as? Int)
        group.hub.terminate()
        for (site, trailSite) in [("hq", "bj01"), ("bj01", "bj01")] {
            let copy = group.directory.file("\(site)-copy")
            try FileManager.default.copyItem(atPath: group.data(site), toPath: copy)
            let db = try DatabaseConnection(path: NodeStore.databasePath(in: copy), create: false)
            try db.execute("UPDATE audit SET detail = 'changed: notes' WHERE site = '\(trailSite)' AND seq = \(update)")
            let broken = cli(["audit", "verify", "--site", trailSite], data: copy)
            #expect(broken.status == 1, "\(site): \(broken.out)")
            #expect(
                broken.out.contains("site bj01: BROKEN at entry \(update): entry \(update) does not match its hash"),
                "\(site): \(broken.out)")
            try db.execute("DELETE FROM audit WHERE site = '\(trailSite)' AND seq = \(update)")
            #expect(
                cli(["audit", "verify", "--site", trailSite], data: copy).out.contains("entry \(update) is missing"))
        }
    }
}

extension AuditTrailTests {
    /// Need-to-know: a confidential or secret record is read only with a stated purpose, the owner included; the read
    /// is audited and reaches the hub's trail with the branch's next sync. An export names what it held.
    @Test func aPurposefulReadOfASecretRecordAtABranchAppearsInTheHubsAudit() throws {
        let group = try GroupFixture(branches: ["bj01"])
        let added = group.run(
            "bj01",
            [
                "customer", "add", "--code", "110001", "--name", "华信", "--credit-code", "91110000802100433B",
                "--class", "secret",
            ])
        let id = added.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let refused = group.run("bj01", ["customer", "show", id])
        #expect(refused.status == 2 && refused.err.contains("is secret: say why you read it with --purpose"))
        let read = group.run("bj01", ["customer", "show", id, "--purpose", "信用审查 credit check"], actor: "zhao")
        #expect(read.status == 0 && read.out.contains("华信"), "\(read.err)")
        let withoutPurpose = group.run("bj01", ["export", "--json"])
        #expect(withoutPurpose.status == 2 && withoutPurpose.err.contains("--purpose") && withoutPurpose.out.isEmpty)
        let exported = group.run("bj01", ["export", "--json", "--purpose", "quarterly archive"])
        #expect(exported.status == 0)
        try group.sync("bj01")
        let reads = try #require(
            try group.json("hq", ["audit", "--site", "bj01", "--action", "read"]) as? [[String: Any]])
        #expect(reads.count == 1)
        #expect(reads.first?["actor"] as? String == "zhao" && reads.first?["record"] as? String == id)
        #expect((reads.first?["detail"] as? String)?.contains("purpose: 信用审查 credit check") == true, "\(reads)")
        let exports = try group.json("hq", ["audit", "--site", "bj01", "--action", "export"]) as? [[String: Any]]
        #expect(
            (exports?.first?["detail"] as? String)?.contains(
                "1 record(s), of which 0 confidential and 1 secret; purpose: quarterly archive")
                == true, "\(String(describing: exports))")
        // Public and internal records need no purpose and leave no read entry.
        let plain = group.run(
            "bj01", ["customer", "add", "--code", "110002", "--name", "申达", "--credit-code", "91310000132200821H"])
        #expect(
            group.run("bj01", ["customer", "show", plain.out.trimmingCharacters(in: .whitespacesAndNewlines)]).status
                == 0)
        let readsHere = try group.json("bj01", ["audit", "--action", "read"]) as? [Any]
        #expect(readsHere?.count == 1)
    }
}
