import BranchSyncCore
import BranchSyncTestSupport
import Foundation
import Testing

@testable import BranchSyncStore

@Suite struct LeadIndexTests {
    /// The leads kept current change by change equal, after every change, the leads a brute-force grouping of all
    /// live customers by value finds: for creates, updates, deletes and purges made here and for customers arriving
    /// from another site (where duplicate customer codes come from). Seeded: `BRANCHSYNC_SEED` replays a failure.
    @Test func leadsKeptChangeByChangeEqualABruteForceGroupingOfEveryCustomer() throws {
        let seed = TestSeed.make()
        var random = SeededGenerator(seed: seed)
        let directory = TemporaryDirectory()
        let here = try makeStore(directory, site: "bj01")
        let there = try makeStore(directory, site: "sh01")
        let hub = try SiteID("hq")
        let phones = ["13900000001", "13900000002", "010-12345678"]
        let accounts = ["6222 0000 1111 2222", "6222000011112222", "6222 0000 3333 4444"]
        let credits = ["91110000802100433B", "91310000132200821H", "91330100716105852F"]
        let codes = ["110001", "110002", "310001"]
        func randomValues() -> [String: String] {
            var values: [String: String] = [:]
            if Bool.random(using: &random) { values["phone"] = phones.randomElement(using: &random) }
            if Bool.random(using: &random) { values["bankAccount"] = accounts.randomElement(using: &random) }
            values["creditCode"] = credits.randomElement(using: &random)
            return values
        }
        for step in 0..<300 {
            let store = Bool.random(using: &random) ? here : there
            let live = try store.records(in: .customers)
            switch Int.random(in: 0..<11, using: &random) {
            case 0..<4:
                var values = randomValues()
                values["name"] = "客户\(step)"
                values["code"] = codes.randomElement(using: &random)
                _ = try? store.create(.customers, values: values)  // a code already used here is refused
            case 4..<7:
                if let target = live.randomElement(using: &random) {
                    var changes = randomValues()
                    if changes["phone"] == nil { changes["phone"] = "" }
                    _ = try? store.update(target.id, changes: changes)
                }
            case 7:
                if let target = live.randomElement(using: &random) { try store.delete(target.id) }
            case 8:
                // Out of this site's scope now (a narrowed clearance, a changed share): purged without a trace.
                if let target = live.randomElement(using: &random) {
                    try store.db.write { try store.removeRecord(target) }
                }
            default:
                try here.apply(try there.records(in: .customers, includeDeleted: true), from: hub)
            }
            let expected = try bruteForceLeads(here)
            let found = Set(
                try here.suspiciousLeads().map {
                    Lead(kind: $0.kind, value: $0.value, first: $0.first?.id, second: $0.second?.id)
                })
            #expect(found == expected, "step \(step), seed \(seed)")
            if found != expected { return }
        }
    }

    /// A lead's id depends only on what it is, not on the order the two customers are named in.
    @Test func aLeadsIDIsTheSameWhicheverCustomerIsNamedFirst() throws {
        let one = try RecordID("01a20e4f-0916-7d1b-91c6-2442b57b11dc")
        let other = try RecordID("01a20e4f-0927-79e7-8d04-0a948067e563")
        let id = try LeadIndex.leadID(kind: .phone, value: "13900000001", first: one, second: other)
        #expect(try LeadIndex.leadID(kind: .phone, value: "13900000001", first: other, second: one) == id)
        #expect(try LeadIndex.leadID(kind: .bankAccount, value: "13900000001", first: one, second: other) != id)
        #expect(id.isVersion7)
        // Protocol.md §4.4 documents this id, so another implementation can check its derivation.
        let text = try String(contentsOfFile: ProtocolDocument.path, encoding: .utf8)
        #expect(text.contains("`13900000001`, ids `\(one)` and\n`\(other)` → lead `\(id)`"), "\(id)")
    }

    struct Lead: Hashable {
        var kind: SuspicionKind
        var value: String
        var first: RecordID?
        var second: RecordID?
    }

    /// Every value two or more live customers share, as a star: the oldest holder (smallest id) paired with each
    /// other holder.
    private func bruteForceLeads(_ store: NodeStore) throws -> Set<Lead> {
        let customers = try store.records(in: .customers).sorted { $0.id < $1.id }
        var leads: Set<Lead> = []
        for kind in SuspicionKind.allCases {
            var groups: [String: [RecordID]] = [:]
            for customer in customers {
                if let value = kind.value(of: customer) { groups[value, default: []].append(customer.id) }
            }
            for (value, ids) in groups {
                for other in ids.dropFirst() {
                    leads.insert(Lead(kind: kind, value: value, first: ids[0], second: other))
                }
            }
        }
        return leads
    }
}

@Suite struct AuditChainTests {
    /// The hash of an entry is the one Protocol.md §4.5 documents, so another implementation can check a chain.
    @Test func anEntrysHashIsTheDocumentedOne() throws {
        let line = AuditLine(
            seq: 1, at: "2026-11-24T10:00:00.000Z", actor: "wang", origin: "cli@bj01-pc", action: "init",
            collection: "", recordID: "", detail: "site bj01 as branch, hub hq.example:7700",
            previousHash: AuditTrail.genesis, hash: "")
        let hash = AuditTrail.hash(of: line, site: "bj01")
        let text = try String(contentsOfFile: ProtocolDocument.path, encoding: .utf8)
        #expect(text.contains("→ hash\n`\(hash)`"), "\(hash)")
    }

    /// A branch's trail shipped in blocks and taken in by the hub is the same chain there; shipping twice sends
    /// nothing new; entries coming back to their own site are not duplicated.
    @Test func shippedEntriesAreTheSameChainAtTheHubAndComeBackWithoutDuplicates() throws {
        let directory = TemporaryDirectory()
        let branch = try makeStore(directory, site: "bj01")
        let hub = try makeStore(directory, site: "hq", role: .hub)
        for code in ["110001", "110002"] {
            var values = customerValues
            values["code"] = code
            try branch.create(.customers, values: values)
        }
        #expect(try branch.shipAuditTrail())
        #expect(try !branch.shipAuditTrail(), "nothing left to ship")
        let blocks = try branch.records(in: .auditBlocks)
        #expect(blocks.count == 1 && blocks[0]["firstEntry"] == "1" && blocks[0]["lastEntry"] == "3")
        _ = try hub.applyIncoming(
            blocks.map { $0.encoded() }, from: try SiteID("bj01"), upTo: 1, remaining: 0,
            policy: .hub(clearance: .internal))
        let atHub = try hub.auditTrail(AuditFilter(site: "bj01")).map { [$0.seq, Int64($0.detail.count)] }
        #expect(atHub == (try branch.auditTrail(AuditFilter(site: "bj01")).map { [$0.seq, Int64($0.detail.count)] }))
        #expect(try hub.verifyAuditTrail(site: "bj01").first?.firstBreak == nil)
        try branch.apply(blocks, from: try SiteID("hq"))
        #expect(
            try branch.auditTrail(AuditFilter(site: "bj01")).count == 3, "no duplicate, no entry for its own blocks")
        #expect(try branch.verifyAuditTrail().allSatisfy { $0.firstBreak == nil })
    }

    /// Finding and packing a branch's unshipped entries (after every session turn) reads only the rows after the last
    /// shipped one, whatever the length of the trail: not every entry the site ever wrote through `audit_chain`.
    @Test func unshippedEntriesAreFoundFromTheLastShippedRow() throws {
        let directory = TemporaryDirectory()
        let branch = try makeStore(directory, site: "bj01")
        for statement in [AuditTrail.hasUnshippedSQL, AuditTrail.unshippedSQL] {
            let plan = try branch.db.statement("EXPLAIN QUERY PLAN " + statement).rows([.text("bj01"), .integer(0)]) {
                $0.text(3)
            }
            #expect(plan.contains { $0.contains("SEARCH audit USING INTEGER PRIMARY KEY (rowid>?)") }, "\(plan)")
            #expect(!plan.contains { $0.contains("audit_chain") || $0.contains("TEMP B-TREE") }, "\(plan)")
        }
    }

    /// A site restored from an older copy writes entries under numbers its lost entries had, then takes those back
    /// from the hub. Its next block holds only its own entries (increasing, with a gap), which the hub admits, and the
    /// hub's `audit verify` shows the fork where the restore happened. Found by the long chaos run: the block had mixed
    /// in the entries taken back, and the hub refused it.
    @Test func aRestoredSiteShipsOnlyItsOwnEntriesAndTheHubShowsTheFork() throws {
        let directory = TemporaryDirectory()
        let before = try makeStore(directory, site: "bj01")
        let hub = try makeStore(directory, site: "hq", role: .hub)
        let bj = try SiteID("bj01")
        try before.create(.customers, values: customerValues)
        try before.shipAuditTrail()
        let lost = try before.records(in: .auditBlocks)
        _ = try hub.applyIncoming(
            lost.map { $0.encoded() }, from: bj, upTo: 1, remaining: 0, policy: .hub(clearance: .internal))

        // The "restored" site: the same name, an older state (only its init entry), then a write of its own.
        let restored = try NodeStore.initialize(
            directory: directory.subdirectory("restored"), identity: NodeIdentity(site: bj, role: .branch),
            actor: tester)
        var values = customerValues
        values["code"] = "110002"
        try restored.create(.customers, values: values)
        try restored.apply(lost, from: try SiteID("hq"))  // its lost entries come back
        values["code"] = "110003"
        try restored.create(.customers, values: values)
        #expect(try restored.shipAuditTrail())
        let shipped = try restored.records(in: .auditBlocks).filter { block in !lost.contains { $0.id == block.id } }
        #expect(shipped.count == 1 && shipped.first?["firstEntry"] == "1" && shipped.first?["lastEntry"] == "3")
        let result = try hub.applyIncoming(
            shipped.map { $0.encoded() }, from: bj, upTo: 2, remaining: 0, policy: .hub(clearance: .internal))
        #expect(result.applied == 1 && result.quarantined == 0, "\(result)")
        let check = try #require(try hub.verifyAuditTrail(site: "bj01").first?.firstBreak)
        #expect(check.seq == 1 && check.problem.contains("appears twice"), "\(check)")
    }
}
