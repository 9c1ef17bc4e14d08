@testable import BranchSyncCore

/// A tiny in-memory model of several sites editing shared records and exchanging states, used by the property tests.
/// It behaves as the store does: a node-wide counter, an HLC that observes remote stamps, state-based exchange.
struct SimulatedSite {
    let site: SiteID
    var counter: UInt64 = 0
    var clock = HybridLogicalClock()
    var wall: UInt64
    var records: [RecordID: RecordState] = [:]
    var conflicts: [MergeConflict] = []

    init(site: SiteID, wall: UInt64) {
        self.site = site
        self.wall = wall
    }

    mutating func nextStamp(_ generator: inout SeededGenerator) -> Stamp {
        // Wall clocks drift and sometimes step backwards.
        wall = UInt64(max(1, Int64(wall) + Int64.random(in: -20...30, using: &generator)))
        counter += 1
        return Stamp(dot: Dot(site: site, counter: counter), time: clock.now(wallMilliseconds: wall))
    }

    mutating func receive(_ state: RecordState) throws {
        if let newest = state.newestStamp { clock.observe(newest.time, wallMilliseconds: wall) }
        let outcome = try RecordMerge.merge(local: records[state.id], remote: state)
        records[state.id] = outcome.state
        conflicts += outcome.conflicts
    }
}

/// One local write as the simulation made it, with the record's history just before.
struct SimulatedWrite {
    var record: RecordID
    var field: String
    var value: String
    var stamp: Stamp
    var context: VersionVector
}

struct Simulation {
    var sites: [SimulatedSite]
    var emitted: [RecordState] = []
    var writes: [SimulatedWrite] = []
    let recordIDs: [RecordID]
    static let fieldNames = ["name", "phone", "notes"]

    /// Runs `steps` random local edits and pairwise exchanges among `siteCount` sites.
    init(siteCount: Int, recordCount: Int, steps: Int, deletes: Bool, generator: inout SeededGenerator) throws {
        sites = (0..<siteCount).map { SimulatedSite(site: try! SiteID("s\($0)"), wall: 1_000_000) }
        recordIDs = (0..<recordCount).map { index in
            RecordID.version7(
                unixMilliseconds: 1_000 + UInt64(index), random: Array(repeating: UInt8(index), count: 10))
        }
        for id in recordIDs {
            let creator = Int.random(in: 0..<siteCount, using: &generator)
            var state = RecordState(id: id, collection: .customers, owner: sites[creator].site)
            let stamp = sites[creator].nextStamp(&generator)
            state.applyLocalWrite(["name": "initial"], stamp: stamp)
            record(state: state, at: creator, changes: ["name": "initial"], stamp: stamp, before: VersionVector())
        }
        for _ in 0..<steps {
            let index = Int.random(in: 0..<siteCount, using: &generator)
            if Int.random(in: 0..<3, using: &generator) == 0 {
                // Exchange: deliver a random record's state from some other site.
                let from = Int.random(in: 0..<siteCount, using: &generator)
                guard let id = recordIDs.randomElement(using: &generator), let state = sites[from].records[id] else {
                    continue
                }
                try sites[index].receive(state)
                emitted.append(sites[index].records[id]!)
                continue
            }
            let known = Array(sites[index].records.keys).sorted()
            guard let id = known.randomElement(using: &generator), var state = sites[index].records[id] else {
                continue
            }
            let before = state.versionVector
            let stamp = sites[index].nextStamp(&generator)
            if deletes && Int.random(in: 0..<8, using: &generator) == 0 {
                state.applyLocalDelete(stamp: stamp)
                sites[index].records[id] = state
                emitted.append(state)
                continue
            }
            var changes: [String: String] = [:]
            for name in Self.fieldNames where Bool.random(using: &generator) {
                changes[name] = "v\(UInt16.random(in: 0...UInt16.max, using: &generator))"
            }
            if changes.isEmpty { changes["notes"] = "v\(UInt32.random(in: 0...UInt32.max, using: &generator))" }
            state.applyLocalWrite(changes, stamp: stamp)
            record(state: state, at: index, changes: changes, stamp: stamp, before: before)
        }
    }

    private mutating func record(
        state: RecordState, at index: Int, changes: [String: String], stamp: Stamp, before: VersionVector
    ) {
        sites[index].records[state.id] = state
        emitted.append(state)
        for (field, value) in changes where state.fields[field]?.stamp == stamp {
            writes.append(SimulatedWrite(record: state.id, field: field, value: value, stamp: stamp, context: before))
        }
    }
}
