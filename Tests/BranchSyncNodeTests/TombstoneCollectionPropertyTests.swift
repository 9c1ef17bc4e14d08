import BranchSyncCore
import BranchSyncNode
import BranchSyncStore
import BranchSyncTestSupport
import Foundation
import Testing

/// Tombstone collection under random writes, deletes, syncs in any order, collection rounds with a horizon that
/// sometimes marks silent sites stale, hub restarts, and a branch restored from an earlier copy (Protocol.md §9.7): a
/// record once collected never comes back, anywhere; nothing acknowledged is lost; an honest group is never judged
/// forged; and once every site has caught up, every tombstone goes. `BRANCHSYNC_SEED` replays a run, `BRANCHSYNC_LONG=1` runs longer ones.
@Suite(.serialized) struct TombstoneCollectionPropertyTests {
    @Test func collectedRecordsNeverComeBackAndNothingAcknowledgedIsLost() throws {
        let runs = TestSeed.long ? 5 : 1
        for _ in 0..<runs {
            let seed = TestSeed.make()
            try run(seed: seed, steps: TestSeed.long ? 300 : 60)
        }
    }

    private func run(seed: UInt64, steps: Int) throws {
        var random = SeededGenerator(seed: seed)
        let sites = ["bj01", "sh01", "gz01"]
        let cluster = try Cluster(branches: sites.map { ($0, .internal) })
        let hub = try cluster.hubStore()
        var stores: [String: NodeStore] = [:]
        for site in sites { stores[site] = try cluster.store(site) }
        /// The owner and the last notes the owner wrote, of every record created.
        var notes: [RecordID: (owner: String, value: String)] = [:]
        var deletedByOwner: Set<RecordID> = []
        var collected: Set<RecordID> = []
        /// Collected records a site wrote to again, not knowing of the delete (the branch restored from its copy):
        /// its write is a new one, taken in by the rules that hold without collection too (Protocol.md §9.7).
        var rewritten: Set<RecordID> = []
        var everAtHub: Set<RecordID> = []
        var events: [String] = []
        var counter = 0
        func context() -> String { "seed \(seed); events: \(events.suffix(40).joined(separator: ", "))" }

        // One branch is copied early and put back later (restored from that copy, after the hub acknowledged all it
        // wrote): it returns with old copies of records deleted and collected meanwhile.
        let restored = sites.randomElement(using: &random) ?? "bj01"
        let copyAt = Int.random(in: 1..<steps / 3, using: &random)
        let restoreAt = Int.random(in: steps / 2..<steps - 1, using: &random)
        for step in 0..<steps {
            if step == copyAt {
                try cluster.syncOnce(restored)
                try cluster.copyNode(restored, to: "copy")
                events.append("\(step): \(restored) copied")
            }
            if step == restoreAt {
                try cluster.syncOnce(restored)
                stores[restored] = nil
                try cluster.restoreNode(restored, from: "copy")
                stores[restored] = try cluster.store(restored)
                events.append("\(step): \(restored) restored from its copy")
            }
            let site = sites.randomElement(using: &random) ?? "bj01"
            guard let store = stores[site] else { continue }
            counter += 1
            switch Int.random(in: 0..<10, using: &random) {
            case 0...2:
                let code = ["11", "31", "44"][sites.firstIndex(of: site) ?? 0] + String(format: "%04d", counter)
                let created = try store.create(
                    .customers,
                    values: ["code": code, "name": "客户\(counter)", "creditCode": huaweiCredit, "notes": "n\(counter)"])
                notes[created.id] = (site, "n\(counter)")
                events.append("\(step): \(site) creates \(created.id.description.suffix(4))")
            case 3:
                let own = try store.records(in: .customers).filter { $0.owner.rawValue == site && !$0.isDeleted }
                guard let record = own.randomElement(using: &random) else { continue }
                _ = try store.update(record.id, changes: ["notes": "n\(counter)"])
                if collected.contains(record.id) { rewritten.insert(record.id) }
                notes[record.id] = (site, "n\(counter)")
                events.append("\(step): \(site) notes \(record.id.description.suffix(4))")
            case 4:
                let live = try store.records(in: .customers).filter { !$0.isDeleted }
                guard let record = live.randomElement(using: &random) else { continue }
                _ = try store.update(record.id, changes: ["contact": "c\(counter)"])
                if collected.contains(record.id) { rewritten.insert(record.id) }
                events.append("\(step): \(site) contact \(record.id.description.suffix(4))")
            case 5:
                let own = try store.records(in: .customers).filter { $0.owner.rawValue == site && !$0.isDeleted }
                guard let record = own.randomElement(using: &random) else { continue }
                _ = try store.delete(record.id)
                if collected.contains(record.id) { rewritten.insert(record.id) }
                deletedByOwner.insert(record.id)
                events.append("\(step): \(site) deletes \(record.id.description.suffix(4))")
            case 6...8:
                try cluster.syncOnce(site)
                events.append("\(step): \(site) syncs")
            default:
                if Int.random(in: 0..<5, using: &random) == 0 {
                    // The hub stops and starts again (what it keeps of settled positions and the frontier is on disk).
                    try cluster.restartHub()
                    events.append("\(step): hub restarted")
                    break
                }
                // Mostly a long horizon; sometimes one that makes every silent site holding a tombstone back stale.
                let horizon: Int64 = Int.random(in: 0..<4, using: &random) == 0 ? 1 : 86_400_000
                let before = Set(try hub.allRecords().map(\.id))
                let round = try hub.collectTombstones(horizonMilliseconds: horizon, minimumAgeMilliseconds: 0)
                let after = Set(try hub.allRecords().map(\.id))
                collected.formUnion(before.subtracting(after))
                events.append("\(step): gc collected \(round.collected), stale \(round.markedStale.map(\.rawValue))")
            }
            everAtHub.formUnion(try hub.allRecords().map(\.id))
            for id in collected.subtracting(rewritten) {
                #expect(try hub.record(id) == nil, "collected \(id) is back at the hub; \(context())")
            }
        }

        // Everyone catches up (twice: what one site's sync brings the hub goes to the others in the next round).
        for _ in 0..<2 { for site in sites { try cluster.syncOnce(site) } }
        let round = try hub.collectTombstones(horizonMilliseconds: 86_400_000, minimumAgeMilliseconds: 0)
        collected.formUnion(everAtHub.filter { (try? hub.record($0)) == nil })
        for site in sites { try cluster.syncOnce(site) }
        #expect(round.waiting == 0, "tombstones left after every site caught up: \(round); \(context())")

        let hubExport = try cluster.export("hq")
        for site in sites {
            #expect(try cluster.export(site) == hubExport, "\(site) differs from the hub; \(context())")
        }
        for id in collected.subtracting(rewritten) {
            for site in ["hq"] + sites {
                #expect(
                    try (site == "hq" ? hub : stores[site])?.record(id) == nil,
                    "collected \(id) is back at \(site); \(context())")
            }
        }
        // Every record its owner did not delete is at the hub with the owner's last notes.
        for (id, written) in notes where !deletedByOwner.contains(id) {
            let record = try hub.record(id)
            #expect(
                record?["notes"] == written.value,
                "\(id) of \(written.owner): \(String(describing: record)); \(context())")
        }
        let quarantined = try hub.quarantined()
        #expect(
            quarantined.filter { $0.kind == "invalid" || $0.status == "held" }.isEmpty,
            "\(quarantined); \(context())")
        print(
            "tombstone collection: seed \(seed), \(steps) steps, \(notes.count) records, \(collected.count) collected, "
                + "\(events.filter { $0.contains("stale [\"") }.count) round(s) marking a site stale")
    }
}
