import BranchSyncCore
import BranchSyncTestSupport
import Foundation
import Testing

@testable import BranchSyncStore

@Suite struct LeadIndexTests {
    /// The leads kept current change by change equal, after every change, the leads a brute-force grouping of all
    /// live customers by value finds: for creates, updates and deletes made here and for customers arriving
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
            switch Int.random(in: 0..<10, using: &random) {
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
