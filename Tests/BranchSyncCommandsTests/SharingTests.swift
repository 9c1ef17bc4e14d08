import BranchSyncCore
import BranchSyncStore
import Foundation
import Testing

@Suite(.serialized) struct SharingTests {
    /// Need-to-know: a confidential customer of bj01 is not at sh01 (internal clearance) until the hub shares it with
    /// sh01; sh01 may then read it (with a purpose) and change it; once unshared it is purged at sh01. A secret
    /// record is never shared, a branch does not share, and every share is in the hub's audit trail.
    @Test func aConfidentialRecordReachesOnlyTheSitesItIsSharedWith() throws {
        let group = try GroupFixture(branches: ["bj01", "sh01"])
        let added = group.run(
            "bj01",
            [
                "customer", "add", "--code", "110001", "--name", "机密客户", "--credit-code", "91110000802100433B",
                "--class", "confidential",
            ])
        try #require(added.status == 0, "\(added.err)")
        let id = added.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let secret = group.run(
            "bj01",
            ["document", "add", "--title", "绝密", "--kind", "administrative", "--type", "report", "--class", "secret"])
        try #require(secret.status == 0)
        let secretID = secret.out.trimmingCharacters(in: .whitespacesAndNewlines)
        try group.sync("bj01")
        try group.sync("sh01")
        let recordID = try RecordID(id)
        #expect(try group.store("sh01").record(recordID) == nil)

        let atBranch = group.run("bj01", ["customer", "share", id, "--with", "sh01"])
        #expect(atBranch.status == 1 && atBranch.err.contains("runs at the hub"), "\(atBranch.err)")
        let secretShare = group.run("hq", ["document", "share", secretID, "--with", "sh01"])
        #expect(secretShare.status == 1 && secretShare.err.contains("never shared"), "\(secretShare.err)")
        let unknownSite = group.run("hq", ["customer", "share", id, "--with", "gz01"])
        #expect(unknownSite.status == 1 && unknownSite.err.contains("not an enrolled branch"), "\(unknownSite.err)")

        let shared = group.run("hq", ["customer", "share", id, "--with", "sh01"], actor: "wang")
        #expect(shared.status == 0, "\(shared.err)")
        #expect(group.run("hq", ["customer", "share", id, "--with", "sh01"]).err.contains("already shared"))
        try group.sync("sh01")
        #expect(try group.store("sh01").record(recordID)?["name"] == "机密客户")
        #expect(group.run("sh01", ["customer", "show", id]).status == 2, "reading it still needs a purpose")
        #expect(group.run("sh01", ["customer", "show", id, "--purpose", "contract review"]).status == 0)
        let edit = group.run("sh01", ["customer", "update", id, "--notes", "visited 11-24"])
        #expect(edit.status == 0, "\(edit.err)")
        try group.sync("sh01")
        #expect(try group.store("hq").record(recordID)?["notes"] == "visited 11-24")
        let quarantine = try group.json("hq", ["quarantine", "list"]) as? [Any] ?? []
        #expect(quarantine.isEmpty, "\(quarantine)")

        let unshared = group.run("hq", ["customer", "unshare", id, "--with", "sh01"])
        #expect(unshared.status == 0, "\(unshared.err)")
        try group.sync("sh01")
        #expect(try group.store("sh01").record(recordID) == nil, "purged at sh01 once unshared")
        try group.sync("bj01")
        #expect(try group.store("bj01").record(recordID)?["notes"] == "visited 11-24", "the owner keeps it")

        let audit = try group.json("hq", ["audit", "--record", id]) as? [[String: Any]] ?? []
        let actions = audit.compactMap { $0["action"] as? String }
        #expect(actions.contains("share") && actions.contains("unshare"), "\(actions)")
        #expect(audit.contains { $0["action"] as? String == "share" && $0["actor"] as? String == "wang" })
    }
}
