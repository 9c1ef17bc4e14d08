import BranchSyncCore
import BranchSyncStore
import Foundation
import Testing

/// Causal tombstone collection (Protocol.md §9.7), driven through the real binaries: a hub daemon, branches that
/// sync with `sync --once`, and `branchsync gc`.
@Suite(.serialized) struct TombstoneCollectionTests {
    /// Valid unified social credit codes, one per customer of a test.
    private static let creditCodes = [
        "110001": "91110000802100433B", "110002": "91330100716105852F", "110003": "914403001922038216",
        "310001": "91310000132200821H",
    ]

    private func addCustomer(_ group: GroupFixture, _ site: String, code: String, name: String) throws -> String {
        let added = group.run(
            site, ["customer", "add", "--code", code, "--name", name, "--credit-code", Self.creditCodes[code] ?? ""])
        try #require(added.status == 0, "\(added.err)")
        return added.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func gc(_ group: GroupFixture, _ arguments: [String] = []) throws -> [String: Any] {
        try #require(try group.json("hq", ["gc", "--gc-min-age", "0s"] + arguments) as? [String: Any])
    }

    /// The site's records as `export --json` prints them (a read with a stated purpose, like any export).
    private func export(_ group: GroupFixture, _ site: String) throws -> String {
        let result = group.run(site, ["export", "--json", "--purpose", "convergence check"])
        try #require(result.status == 0 && result.out.hasPrefix("["), "export at \(site): \(result.err)")
        return result.out
    }

    private func holds(_ group: GroupFixture, _ site: String, _ id: String) throws -> Bool {
        try group.store(site).record(try RecordID(id)) != nil
    }

    /// The tombstone stays while one site that holds the record has not caught up since the delete; once every site
    /// has, `gc` removes it at the hub, and the branches drop their copies when the hub tells them (the verify of
    /// their next sync), so every export agrees and nothing comes back.
    @Test func aTombstoneIsCollectedOnlyAfterEverySiteSettledPastIt() throws {
        let group = try GroupFixture(branches: ["bj01", "sh01"])
        let doomed = try addCustomer(group, "bj01", code: "110001", name: "华信")
        let kept = try addCustomer(group, "bj01", code: "110002", name: "京华")
        try group.sync("bj01")
        try group.sync("sh01")
        #expect(try holds(group, "sh01", doomed))

        let deleted = group.run("bj01", ["customer", "delete", doomed])
        try #require(deleted.status == 0, "\(deleted.err)")
        try group.sync("bj01")

        // sh01 has not caught up since the delete: it holds the tombstone back.
        var round = try gc(group)
        #expect(round["collected"] as? Int == 0, "\(round)")
        #expect(round["waiting"] as? Int == 1 && round["heldBackBy"] as? [String] == ["sh01"], "\(round)")
        let status = group.run("hq", ["status"]).out
        #expect(
            status.contains("1 tombstone(s) wait (0 collectable; held back by sh01): see 'branchsync gc'"),
            "\(status)")
        #expect(try holds(group, "hq", doomed))

        try group.sync("sh01")
        #expect(try group.store("sh01").record(try RecordID(doomed))?.isDeleted == true)
        round = try gc(group)
        #expect(round["collected"] as? Int == 1 && round["waiting"] as? Int == 0, "\(round)")
        #expect(try !holds(group, "hq", doomed))
        #expect(try holds(group, "hq", kept))
        let text = group.run("hq", ["status"]).out
        #expect(!text.contains("tombstone(s) wait"), "\(text)")
        #expect(text.split(separator: "\n").allSatisfy { $0.count <= 80 }, "\(text)")
        let collected = try #require(try group.json("hq", ["status"]) as? [String: Any])["tombstones"]
        #expect((collected as? [String: Any])?["collectedTotal"] as? Int == 1, "\(String(describing: collected))")

        // The branches still hold the tombstone; their next sync verifies, the hub answers their copy with FORGET.
        try group.sync("sh01")
        try group.sync("bj01")
        for site in ["bj01", "sh01"] {
            #expect(try !holds(group, site, doomed), "\(site) still holds the collected record")
            #expect(try holds(group, site, kept), "\(site)")
        }
        #expect(try !holds(group, "hq", doomed), "a branch brought the collected record back to the hub")
        let hubExport = try export(group, "hq")
        for site in ["bj01", "sh01"] {
            #expect(try export(group, site) == hubExport, "\(site) differs from the hub")
        }
    }

    /// A connected branch forgets a collected tombstone by itself: the round asks for a verify with every site, and
    /// the branch's copy, sent in its repair, is answered with FORGET.
    @Test func aConnectedBranchForgetsCollectedTombstonesWithoutBeingAsked() throws {
        let group = try GroupFixture(branches: ["bj01"])
        let doomed = try addCustomer(group, "bj01", code: "110001", name: "华信")
        let branch = try Daemon(["run"], data: group.data("bj01"), log: group.directory.file("bj01.log"))
        defer { branch.terminate() }
        #expect(waitUntil(timeout: 30) { (try? self.holds(group, "hq", doomed)) == true }, "the hub has it")
        try #require(group.run("bj01", ["customer", "delete", doomed]).status == 0)
        // The delete has gone through and been verified (the verify a change calls for is over): from here only
        // the round's request makes the branch verify again before its 10-minute schedule.
        func caughtUp() -> Bool {
            let status = (try? group.json("hq", ["status"])) as? [String: Any]
            let peers = status?["peers"] as? [[String: Any]] ?? []
            return peers.first { $0["site"] as? String == "bj01" }?["caughtUp"] as? Bool == true
        }
        #expect(waitUntil(timeout: 60) { caughtUp() }, "bj01 never caught up and verified")
        let round = try gc(group)
        #expect(round["collected"] as? Int == 1, "\(round)")
        #expect(
            waitUntil(timeout: 30) { (try? self.holds(group, "bj01", doomed)) == false },
            "the connected branch still holds the collected tombstone")
        #expect(try !holds(group, "hq", doomed))
    }

    /// A site that holds a live copy and stays away past the horizon stops holding collection back and is marked
    /// stale (shown by `status`). When it returns it resyncs in full: its old copy is forgotten (not taken in,
    /// dropped there), its edit of the collected record is kept in the hub's quarantine for review (not resurrected,
    /// not lost), and the customer it added offline arrives.
    @Test func aSiteSilentPastTheHorizonResyncsAndBringsNothingBack() throws {
        let group = try GroupFixture(branches: ["bj01", "sh01"])
        let doomed = try addCustomer(group, "bj01", code: "110001", name: "华信")
        let edited = try addCustomer(group, "bj01", code: "110003", name: "京东方")
        try group.sync("bj01")
        try group.sync("sh01")

        // sh01 goes silent holding both; it edits one of them and adds a customer of its own.
        let edit = group.run("sh01", ["customer", "update", edited, "--phone", "021-66668888"])
        try #require(edit.status == 0, "\(edit.err)")
        let offline = try addCustomer(group, "sh01", code: "310001", name: "申达")
        for id in [doomed, edited] {
            try #require(group.run("bj01", ["customer", "delete", id]).status == 0)
        }
        try group.sync("bj01")

        // Within the horizon sh01 holds the tombstones back; past it (10 ms here), it is marked stale.
        #expect(try gc(group, ["--gc-horizon", "30d"])["collected"] as? Int == 0)
        let round = try gc(group, ["--gc-horizon", "10ms"])
        #expect(round["markedStale"] as? [String] == ["sh01"], "\(round)")
        #expect(round["collected"] as? Int == 2, "\(round)")
        let status = group.run("hq", ["status"]).out
        #expect(status.contains("sh01 stale since "), "\(status)")
        #expect(status.split(separator: "\n").allSatisfy { $0.count <= 80 }, "status wider than 80 columns: \(status)")
        let stale = try #require(try group.json("hq", ["status"]) as? [String: Any])
        let staleSites = (stale["tombstones"] as? [String: Any])?["staleSites"] as? [[String: Any]]
        #expect(staleSites?.map { $0["site"] as? String } == ["sh01"], "\(stale)")

        try group.sync("sh01")
        #expect(try !holds(group, "hq", doomed), "the stale site's old copy came back to the hub")
        #expect(try !holds(group, "sh01", doomed), "the stale site kept its old copy of a collected record")
        #expect(try holds(group, "hq", offline), "the stale site's own new customer was lost")
        // The edit is kept at the hub for review; the record stays deleted (gone) everywhere.
        #expect(try !holds(group, "hq", edited), "an edit brought a collected record back")
        #expect(try !holds(group, "sh01", edited), "the stale site kept its edit of a collected record")
        let quarantine = try #require(try group.json("hq", ["quarantine", "list"]) as? [[String: Any]])
        #expect(
            quarantine.contains { $0["recordId"] as? String == edited && $0["kind"] as? String == "collected" },
            "\(quarantine)")
        // A resync, not a restore: neither side records one.
        for (site, peer) in [("hq", "sh01"), ("sh01", "hq")] {
            let peers = try #require(try group.json(site, ["status"]) as? [String: Any])["peers"] as? [[String: Any]]
            let entry = try #require(peers?.first { $0["site"] as? String == peer }, "\(site)")
            #expect(entry["lastRegression"] is NSNull, "\(site) recorded a restore: \(entry)")
        }
        // Resynced: sh01 counts again, and the status no longer calls it stale.
        #expect(!group.run("hq", ["status"]).out.contains("stale since"))
        let hubExport = try export(group, "hq")
        try group.sync("bj01")
        for site in ["bj01", "sh01"] {
            #expect(try export(group, site) == hubExport, "\(site) differs from the hub")
        }
    }

    /// Retired and revoked sites never hold collection back; `gc` is for the hub, and durations are checked.
    @Test func removedSitesDoNotCountAndBadArgumentsAreUsageErrors() throws {
        let group = try GroupFixture(branches: ["bj01", "sh01"])
        let doomed = try addCustomer(group, "bj01", code: "110001", name: "华信")
        try group.sync("bj01")
        try group.sync("sh01")
        try #require(group.run("bj01", ["customer", "delete", doomed]).status == 0)
        try group.sync("bj01")
        #expect(try gc(group)["heldBackBy"] as? [String] == ["sh01"])
        let revoked = group.run("hq", ["site", "revoke", "sh01"])
        try #require(revoked.status == 0, "\(revoked.err)")
        let round = try gc(group)
        #expect(round["collected"] as? Int == 1 && round["heldBackBy"] as? [String] == [], "\(round)")

        let atBranch = group.run("bj01", ["gc"])
        #expect(atBranch.status == 2 && atBranch.err.contains("gc runs at the hub"), "\(atBranch.err)")
        for bad in ["30", "0s", "-1d", "1y", "99999999999d"] {
            let result = group.run("hq", ["gc", "--gc-horizon", bad])
            #expect(result.status == 2 && result.err.contains("takes a duration"), "\(bad): \(result.err)")
        }
    }
}
