import BranchSyncCore
import BranchSyncCrypto
import BranchSyncStore
import Foundation
import Testing

@Suite(.serialized) struct DestructionTests {
    /// A document past retention, with an attachment, held at its owner bj01, the hub and sh01. sh01 edits it while
    /// offline; bj01 destroys it. After everyone synced: the record is destroyed at all three sites (sh01's edit did
    /// not bring it back), no database file or write-ahead log at any site still holds its body or attachment bytes,
    /// and the register entry (with the title and content hash) is at bj01 and the hub, where no command changes it.
    @Test func aDestroyedDocumentIsWipedEverywhereAndNeverComesBack() throws {
        let group = try GroupFixture(branches: ["bj01", "sh01"])
        let secretBody = "BODY-MARKER-4f1c9e-cannot-survive"
        let attachmentMarker = "ATTACHMENT-MARKER-77d2b0-gone"
        let file = group.directory.file("old-contract.txt")
        // Both large enough for overflow pages, which go to the free list when the record is wiped.
        let attachment = Data(String(repeating: attachmentMarker + "\n", count: 2_000).utf8)
        try attachment.write(to: URL(fileURLWithPath: file))
        let added = group.run(
            "bj01",
            [
                "document", "add", "--title", "2015 framework contract", "--kind", "market", "--type", "contract",
                "--body", String(repeating: secretBody + " ", count: 200), "--retain-until", "2020-12-31", "--file",
                file,
            ])
        try #require(added.status == 0, "\(added.err)")
        let id = added.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let kept = group.run(
            "bj01", ["document", "add", "--title", "current", "--kind", "market", "--type", "report"])
        try #require(kept.status == 0)
        try group.sync("bj01")
        try group.sync("sh01")
        let before = try group.store("sh01").record(try RecordID(id))
        #expect(before?["body"]?.hasPrefix(secretBody) == true)

        // Retention due lists it (not the document without a date); refusals leave nothing behind.
        let due = try group.json("bj01", ["retention", "due"]) as? [[String: Any]] ?? []
        #expect(due.map { $0["id"] as? String } == [id], "\(due)")
        #expect((try group.json("bj01", ["status"]) as? [String: Any])?["retentionDue"] as? Int == 1)
        #expect(group.run("bj01", ["status"]).out.contains("1 record(s) past their retention date"))
        let notOwner = group.run("sh01", ["destroy", id, "--reason", "old", "--approved-by", "li"])
        #expect(notOwner.status == 1 && notOwner.err.contains("destroyed there or at the hub"), "\(notOwner.err)")
        let keptID = kept.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let early = group.run("bj01", ["destroy", keptID, "--reason", "tidy", "--approved-by", "li"])
        #expect(early.status == 1 && early.err.contains("--early"), "\(early.err)")
        let oneApprover = group.run(
            "bj01",
            ["destroy", keptID, "--reason", "tidy", "--approved-by", "li", "--early", "--second-approver", "li"])
        #expect(oneApprover.status == 3 && oneApprover.err.contains("someone other than"), "\(oneApprover.err)")

        // sh01 changes the document while offline; bj01 destroys it.
        let edit = group.run("sh01", ["document", "update", id, "--body", secretBody + " (annotated at sh01)"])
        try #require(edit.status == 0, "\(edit.err)")
        let destroyed = group.run(
            "bj01", ["destroy", id, "--reason", "retention ended", "--approved-by", "li"], actor: "zhao")
        #expect(destroyed.status == 0, "\(destroyed.err)")
        #expect(group.run("bj01", ["document", "update", id, "--body", "again"]).err.contains("was destroyed"))

        try group.sync("bj01")
        try group.sync("sh01")
        try group.sync("bj01")
        for site in ["hq", "bj01", "sh01"] {
            let state = try #require(try group.store(site).record(try RecordID(id)), "\(site)")
            #expect(state.isDestroyed && state.fields.keys.sorted() == [RecordState.classField], "\(site): \(state)")
            #expect(
                try group.store(site).blob(sha256: SHA256.hexDigest([UInt8](attachment))) == nil, "\(site) blob")
            let due = try group.json(site, ["retention", "due"]) as? [Any] ?? []
            #expect(due.isEmpty, "\(site): \(due)")
            #expect((try group.json(site, ["status"]) as? [String: Any])?["retentionDue"] as? Int == 0)
        }
        for site in ["hq", "bj01", "sh01"] {
            for suffix in ["", "-wal"] {
                let path = NodeStore.databasePath(in: group.data(site)) + suffix
                guard let bytes = FileManager.default.contents(atPath: path) else { continue }
                for marker in [secretBody, attachmentMarker] {
                    #expect(bytes.range(of: Data(marker.utf8)) == nil, "\(site): \(marker) survives in \(path)")
                }
            }
        }

        // The register: at bj01 and the hub, with who, approver, reason, title and content hash.
        for site in ["hq", "bj01"] {
            let entries = try group.json(site, ["destruction", "list"]) as? [[String: Any]] ?? []
            #expect(entries.count == 1, "\(site): \(entries)")
            let entry = entries.first ?? [:]
            #expect(entry["record"] as? String == id && entry["title"] as? String == "2015 framework contract")
            #expect(entry["destroyed by"] as? String == "zhao" && entry["approved by"] as? String == "li")
            #expect(entry["reason"] as? String == "retention ended" && entry["early"] as? String == "no")
            #expect((entry["content sha256"] as? String)?.count == 64)
            let entryID = entry["entry"] as? String ?? ""
            #expect(group.run(site, ["document", "delete", entryID]).status == 1)
        }
        let audit = try group.json("hq", ["audit", "--action", "destroy"]) as? [[String: Any]] ?? []
        #expect(audit.count == 1 && audit.first?["site"] as? String == "bj01", "\(audit)")
        let exports = ["hq", "bj01", "sh01"].map { site in
            group.run(site, ["export", "--json"]).out.split(separator: "\n").filter { $0.contains(id) }
        }
        #expect(exports[0] == exports[1] && exports[1] == exports[2], "\(exports)")
    }
}
