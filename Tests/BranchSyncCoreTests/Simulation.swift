import BranchSyncTestSupport

@testable import BranchSyncCore

/// A tiny in-memory model of several sites editing shared records and exchanging states, used by the property tests.
/// It behaves as the store does: local writes are stamped by the production ``WriteClock`` (node-wide counter, HLC,
/// stamps above the record), remote stamps are observed with the HLC's drift guard, exchange is state-based.
struct SimulatedSite {
    let site: SiteID
    var clock: WriteClock
    /// This site's wall clock; `offset` is how wrong it is (hours, in the skewed-clock tests).
    var wall: UInt64
    let offset: Int64
    var records: [RecordID: RecordState] = [:]
    var conflicts: [MergeConflict] = []

    init(site: SiteID, wall: UInt64, offset: Int64 = 0) {
        self.site = site
        self.clock = WriteClock(site: site, counter: 0, clock: HybridLogicalClock())
        self.offset = offset
        self.wall = UInt64(max(1, Int64(wall) + offset))
    }

    /// Advances this site's wall clock: clocks drift and sometimes step backwards.
    mutating func tick(_ generator: inout SeededGenerator) {
        wall = UInt64(max(1, Int64(wall) + Int64.random(in: -20...30, using: &generator)))
    }

    mutating func nextStamp(for record: RecordState?, _ generator: inout SeededGenerator) throws -> Stamp {
        tick(&generator)
        return try clock.stamp(for: record, wallMilliseconds: wall)
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
    static let hour: Int64 = 3_600_000

    /// Runs `steps` random local edits and pairwise exchanges among `siteCount` sites. With `skewedClocks`, each
    /// site's clock is off by up to three hours either way.
    init(
        siteCount: Int, recordCount: Int, steps: Int, deletes: Bool, skewedClocks: Bool = false,
        destroys: Bool = false, generator: inout SeededGenerator
    ) throws {
        sites = []
        for index in 0..<siteCount {
            let offset = skewedClocks ? Int64.random(in: -3 * Self.hour...3 * Self.hour, using: &generator) : 0
            sites.append(SimulatedSite(site: try SiteID("s\(index)"), wall: 20_000_000, offset: offset))
        }
        recordIDs = (0..<recordCount).map { index in
            RecordID.version7(
                unixMilliseconds: 1_000 + UInt64(index), random: Array(repeating: UInt8(index), count: 10))
        }
        for id in recordIDs {
            let creator = Int.random(in: 0..<siteCount, using: &generator)
            var state = RecordState(id: id, collection: .customers, owner: sites[creator].site)
            let stamp = try sites[creator].nextStamp(for: nil, &generator)
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
            guard let id = known.randomElement(using: &generator), var state = sites[index].records[id],
                !state.isDestroyed
            else {
                continue
            }
            let before = state.versionVector
            let stamp = try sites[index].nextStamp(for: state, &generator)
            if destroys && Int.random(in: 0..<30, using: &generator) == 0 {
                state.applyLocalDestruction(stamp: stamp)
                sites[index].records[id] = state
                emitted.append(state)
                continue
            }
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
