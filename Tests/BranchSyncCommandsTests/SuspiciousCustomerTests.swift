import BranchSyncCore
import BranchSyncStore
import Foundation
import Testing

@Suite(.serialized) struct SuspiciousCustomerTests {
    /// Two offline branches enter the same company (same customer code, credit code, phone and bank account). After
    /// they sync, the hub lists four leads naming both customers and their sites; a lead cleared at the hub is
    /// cleared at both branches after their next sync; a merge at the hub re-links the duplicate's document at the
    /// branch that owns it and closes the remaining leads.
    @Test func leadsFromTwoOfflineBranchesAreListedClearedEverywhereAndMerged() throws {
        let group = try GroupFixture(branches: ["bj01", "sh01"])
        let company = [
            "--code", "110001", "--credit-code", "91110000802100433B", "--phone", "13900000001", "--bank-account",
            "6222 0000 1111 2222",
        ]
        let kept = group.run("bj01", ["customer", "add", "--name", "北京华信科技有限公司"] + company)
        let twice = group.run("sh01", ["customer", "add", "--name", "华信科技（上海）"] + company)
        try #require(kept.status == 0 && twice.status == 0, "\(kept.err) \(twice.err)")
        let keptID = kept.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let duplicateID = twice.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let document = group.run(
            "sh01",
            [
                "document", "add", "--title", "报价单", "--kind", "market", "--type", "quotation", "--customer-id",
                duplicateID,
            ])
        try #require(document.status == 0, "\(document.err)")
        let documentID = try RecordID(document.out.trimmingCharacters(in: .whitespacesAndNewlines))

        try group.sync("bj01")
        try group.sync("sh01")
        var leads: [[String: Any]] = []
        #expect(
            waitUntil(timeout: 10) {
                leads = (try? group.json("hq", ["suspicious", "list"])) as? [[String: Any]] ?? []
                return leads.count == 4
            }, "the hub lists \(leads.count) leads")
        #expect(Set(leads.compactMap { $0["kind"] as? String }) == Set(SuspicionKind.allCases.map(\.rawValue)))
        for lead in leads {
            #expect(Set([lead["site"] as? String, lead["other site"] as? String]) == ["bj01", "sh01"])
            #expect(Set([lead["customer"] as? String, lead["other customer"] as? String]) == [keptID, duplicateID])
        }

        let status = try group.json("hq", ["status"]) as? [String: Any]
        #expect(status?["openLeads"] as? Int == 4)
        #expect(group.run("hq", ["status"]).out.contains("4 open suspicious-customer lead(s) to investigate"))

        // A branch does not clear: the decision is the hub's.
        let phoneLead = try #require(leads.first { $0["kind"] as? String == "phone" }?["id"] as? String)
        let refused = group.run("bj01", ["suspicious", "clear", phoneLead, "--reason", "same group"])
        #expect(refused.status == 1 && refused.err.contains("runs at the hub"), "\(refused.err)")

        let cleared = group.run(
            "hq", ["suspicious", "clear", phoneLead, "--reason", "shared switchboard"], actor: "wang")
        #expect(cleared.status == 0, "\(cleared.err)")
        for site in ["bj01", "sh01"] {
            try group.sync(site)
            let open = try group.json(site, ["suspicious", "list"]) as? [[String: Any]] ?? []
            #expect(open.count == 3 && !open.contains { $0["id"] as? String == phoneLead }, "\(site): \(open)")
            let all = try group.json(site, ["suspicious", "list", "--all"]) as? [[String: Any]] ?? []
            let decision = all.first { $0["id"] as? String == phoneLead }
            #expect(decision?["status"] as? String == "cleared" && decision?["cleared by"] as? String == "wang")
        }

        let merged = group.run("hq", ["customer", "merge", keptID, duplicateID])
        #expect(merged.status == 0 && merged.out.contains("1 document re-linked"), "\(merged.out) \(merged.err)")
        #expect((try group.json("hq", ["suspicious", "list"]) as? [Any])?.isEmpty == true)
        try group.sync("sh01")
        let branch = try group.store("sh01")
        #expect(try branch.record(documentID)?["customerId"] == keptID)
        let duplicate = try #require(try branch.record(try RecordID(duplicateID)))
        #expect(duplicate.isDeleted && duplicate[RecordSchema.mergedIntoField] == keptID)
        #expect((try group.json("sh01", ["suspicious", "list"]) as? [Any])?.isEmpty == true)
    }
}
