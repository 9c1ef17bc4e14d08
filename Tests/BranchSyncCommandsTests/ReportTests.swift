import BranchSyncCore
import BranchSyncStore
import Foundation
import Testing

@Suite(.serialized) struct ReportTests {
    /// Customers entered at two branches are counted per site at the hub once synced, with the lead between them
    /// counted once in the total; the CSV opens in a spreadsheet as the same rows; a branch is told to ask the hub.
    @Test func theHubReportsTheWholeGroupPerSiteAsATableJSONAndCSV() throws {
        let group = try GroupFixture(branches: ["bj01", "sh01"])
        for (site, code, phone) in [
            ("bj01", "110001", "13900000001"), ("bj01", "110002", "13900000002"), ("sh01", "310001", "13900000001"),
        ] {
            let added = group.run(
                site,
                [
                    "customer", "add", "--code", code, "--name", "客户\(code)", "--credit-code", "91110000802100433B",
                    "--phone", phone, "--industry", "IT",
                ])
            try #require(added.status == 0, "\(added.err)")
        }
        try group.sync("bj01")
        try group.sync("sh01")
        let today = String(Timestamp.nowISO8601().prefix(10))
        let rows = try #require(
            try group.json("hq", ["report", "customers", "--by", "site", "--from", today, "--to", today])
                as? [[String: Any]])
        #expect(rows.map { $0["site"] as? String } == ["bj01", "sh01", "total"])
        #expect(rows.map { $0["customers"] as? Int } == [2, 1, 3])
        #expect(rows.map { $0["new"] as? Int } == [2, 1, 3])
        // The same phone on bj01's first and sh01's customer, and the same credit code on all three (the oldest
        // paired with the two others): bj01's customers are named by all three leads, sh01's by two.
        #expect(rows.map { $0["open leads"] as? Int } == [3, 2, 3])
        let csv = group.run("hq", ["report", "customers", "--by", "industry", "--csv"])
        #expect(
            csv.out == "industry,customers,new,changed,open leads,open conflicts\r\nIT,3,3,0,3,0\r\ntotal,3,3,0,3,0\r\n"
        )
        let table = group.run("hq", ["report", "documents", "--by", "type"])
        #expect(table.status == 0 && table.out.contains("total"), "\(table.err)")
        let before = group.run("hq", ["report", "customers", "--from", "2000-01-01", "--to", "2000-12-31", "--json"])
        #expect(before.out.contains("\"new\":0"), "\(before.out)")

        let atBranch = group.run("bj01", ["report", "customers"])
        #expect(atBranch.status == 1 && atBranch.err.contains("runs at the hub"), "\(atBranch.err)")
        let badDimension = group.run("hq", ["report", "documents", "--by", "region"])
        #expect(badDimension.status == 2 && badDimension.err.contains("--by must be one of site, kind"))
        let badDate = group.run("hq", ["report", "customers", "--from", "2026-02-30"])
        #expect(badDate.status == 2)
    }
}
