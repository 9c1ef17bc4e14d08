import BranchSyncCore
import BranchSyncStore
import Foundation
import Testing

@Suite(.serialized) struct HandoverTests {
    /// bj01 closes and sh01 takes over. Retiring is refused while the hub cannot show it holds everything bj01 holds
    /// (never synced; then a change bj01 sent after the last verify... is verified by the next sync). Once retired:
    /// the hub's handover list equals, byte for byte, the one bj01 writes from its own data; bj01's records,
    /// confidential ones included, reach sh01, which may now delete them as their custodian; bj01 can no longer log
    /// in; status and the audit trail say so.
    @Test func aRetiredBranchHandsEverythingToItsSuccessorWithAListBothSidesAgreeOn() throws {
        let group = try GroupFixture(branches: ["bj01", "sh01"])
        let neverSynced = group.run("hq", ["site", "retire", "bj01", "--successor", "sh01"])
        #expect(neverSynced.status == 1 && neverSynced.err.contains("never synced"), "\(neverSynced.err)")

        let file = group.directory.file("ledger.csv")
        try Data("date,amount\n2026-11-01,100\n".utf8).write(to: URL(fileURLWithPath: file))
        let customer = group.run(
            "bj01",
            ["customer", "add", "--code", "110001", "--name", "华信, \"北京\"", "--credit-code", "91110000802100433B"])
        let confidential = group.run(
            "bj01",
            [
                "customer", "add", "--code", "110002", "--name", "机密客户", "--credit-code", "91310000132200821H",
                "--class", "confidential",
            ])
        try #require(customer.status == 0 && confidential.status == 0, "\(customer.err) \(confidential.err)")
        let customerID = customer.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let confidentialID = confidential.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let document = group.run(
            "bj01",
            [
                "document", "add", "--title", "=账本", "--kind", "administrative", "--type", "report", "--customer-id",
                customerID, "--file", file,
            ])
        try #require(document.status == 0, "\(document.err)")
        let gone = group.run("bj01", ["document", "add", "--title", "草稿", "--kind", "market", "--type", "other"])
        let goneID = try RecordID(gone.out.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(group.run("bj01", ["document", "delete", goneID.description]).status == 0)
        // A change the hub applied but did not verify itself (a branch's `sync --once` verifies on its side only).
        try group.sync("bj01")
        try group.sync("sh01")
        let unverified = group.run("hq", ["site", "retire", "bj01", "--successor", "sh01"])
        #expect(unverified.status == 1 && unverified.err.contains("has not verified"), "\(unverified.err)")
        #expect(try group.store("hq").peer(try SiteID("bj01"))?.retiredAt == nil, "nothing was changed")

        // Connected, the hub verifies by itself a few seconds after the last change.
        let branch = try Daemon(["run"], data: group.data("bj01"), log: group.directory.file("bj01.log"))
        defer { branch.terminate() }
        #expect(
            waitUntil(timeout: 30) {
                let health = try? group.store("hq").health(of: try SiteID("bj01"))
                return health?.verifiedSinceLastChange == true && health?.isLive == true
            }, "the hub verified bj01")

        // bj01's own list, from its own data.
        let branchCSV = group.run("bj01", ["handover", "list", "--csv"]).out
        let branchJSON = group.run("bj01", ["handover", "list", "--json"]).out
        #expect(branchCSV.contains("2 customers") && branchCSV.contains("1 documents"), "\(branchCSV)")

        let output = group.directory.file("handover")
        let retired = group.run(
            "hq", ["site", "retire", "bj01", "--successor", "sh01", "--output", output], actor: "wang")
        try #require(retired.status == 0, "\(retired.err)")
        #expect(retired.out.contains("now answer to sh01"), "\(retired.out)")
        let hubCSV = try String(contentsOfFile: output + "/handover-bj01.csv", encoding: .utf8)
        let hubJSON = try String(contentsOfFile: output + "/handover-bj01.json", encoding: .utf8)
        #expect(hubCSV == branchCSV, "the hub's and the branch's lists differ")
        #expect(hubJSON == branchJSON)
        let parsed = try JSONSerialization.jsonObject(with: Data(hubJSON.utf8)) as? [String: Any]
        let totals = parsed?["totals"] as? [String: Any]
        #expect(totals?["customers"] as? Int == 2 && totals?["documents"] as? Int == 1)
        #expect(totals?["attachments"] as? Int == 1 && totals?["attachment_bytes"] as? Int == 27)

        // The connected session ends at once, and the branch cannot log in again.
        #expect(
            waitUntil(timeout: 30) {
                (try? group.store("hq").peer(try SiteID("bj01"))?.online) == false
            }, "bj01's session ended")
        branch.terminate()

        let again = group.run("hq", ["site", "retire", "bj01", "--successor", "sh01"])
        #expect(again.status == 1 && again.err.contains("already retired"), "\(again.err)")
        let refused = try runBinary(["sync", "--once"], data: group.data("bj01"))
        #expect(
            refused.status != 0 && refused.err.contains("authentication failed"),
            "\(refused.status) \(refused.out) \(refused.err)")

        try group.sync("sh01")
        let successor = try group.store("sh01")
        // A deleted record is handed over as a tombstone: it stays deleted (found in review: it came back).
        for site in ["hq", "sh01"] {
            let tombstone = try #require(try group.store(site).record(goneID), "\(site)")
            #expect(tombstone.isDeleted && tombstone.custodian.rawValue == "sh01", "\(site): \(tombstone)")
        }
        let handed = try #require(try successor.record(try RecordID(confidentialID)))
        #expect(handed.custodian.rawValue == "sh01" && handed.owner.rawValue == "bj01")
        #expect(group.run("sh01", ["customer", "delete", confidentialID]).status == 0)
        try group.sync("sh01")
        #expect(try group.store("hq").record(try RecordID(confidentialID))?.isDeleted == true, "the custodian deletes")
        let quarantine = try group.json("hq", ["quarantine", "list"]) as? [Any] ?? []
        #expect(quarantine.isEmpty, "\(quarantine)")

        let status = try group.json("hq", ["status"]) as? [String: Any]
        let bj01 = (status?["peers"] as? [[String: Any]])?.first { $0["site"] as? String == "bj01" }
        #expect(bj01?["retiredAt"] is String && bj01?["successor"] as? String == "sh01", "\(String(describing: bj01))")
        #expect(group.run("hq", ["status"]).out.contains("bj01 retired at"))
        let audit = try group.json("hq", ["audit", "--action", "retire"]) as? [[String: Any]] ?? []
        #expect(audit.count == 1 && (audit.first?["detail"] as? String)?.contains("sha256 json") == true, "\(audit)")
        #expect(
            group.run("hq", ["handover", "list", "--site", "bj01", "--csv"]).out.split(separator: "\r\n").count == 2)
    }
}
