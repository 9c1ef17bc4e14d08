import BranchSyncCore
import BranchSyncTestSupport
import Foundation
import Testing

@testable import BranchSyncStore

/// The rules of a collection round at the hub (Protocol.md §9.7), on the store.
@Suite struct TombstoneCollectionStoreTests {
    /// A tombstone an operator must deal with first (its record has an open quarantine row) neither is collected
    /// nor hides which site holds the others back: a silent site settled past it, but not past a later one, is named
    /// and, past the horizon, marked stale.
    @Test func aTombstoneWaitingInTheQuarantineDoesNotShieldASilentSite() throws {
        let directory = TemporaryDirectory()
        let hub = try makeHub(directory, enrolling: ["bj01", "sh01"])
        let blocked = try hub.create(.customers, values: customerValues)
        let later = try hub.create(
            .customers, values: ["code": "110002", "name": "京华", "creditCode": "91330100716105852F"])
        _ = try hub.delete(blocked.id)
        try hub.recordSettled(try SiteID("sh01"), upTo: try hub.lastSeq())
        _ = try hub.delete(later.id)
        try hub.recordSettled(try SiteID("bj01"), upTo: try hub.lastSeq())
        try hub.db.write {
            try hub.insertQuarantine(
                peer: try SiteID("bj01"), recordID: blocked.id.description, collection: "customers", kind: "refused",
                reason: "for review", state: blocked.encoded(), awaits: nil, dot: nil, status: "open",
                at: hub.wallClock())
        }

        var round = try hub.collectTombstones(horizonMilliseconds: 86_400_000, minimumAgeMilliseconds: 0)
        #expect(round.collected == 0 && round.waiting == 2, "\(round)")
        #expect(round.heldBackBy == [try SiteID("sh01")], "\(round)")
        #expect(try hub.tombstoneCollectionStatus().heldBackBy == [try SiteID("sh01")])

        round = try hub.collectTombstones(horizonMilliseconds: 0, minimumAgeMilliseconds: 0)
        #expect(round.markedStale == [try SiteID("sh01")], "\(round)")
        #expect(round.collected == 1 && round.waiting == 1, "\(round)")
        #expect(try hub.record(later.id) == nil)
        #expect(try hub.record(blocked.id)?.isDeleted == true, "a tombstone in review was collected")
    }

    /// A tombstone younger than the minimum age stays, whoever settled; a destroyed record's tombstone stays for
    /// good (it absorbs any later edit without keeping a value).
    @Test func youngTombstonesAndDestructionsStay() throws {
        let directory = TemporaryDirectory()
        let hub = try makeHub(directory, enrolling: ["bj01"])
        let deleted = try hub.create(.customers, values: customerValues)
        _ = try hub.delete(deleted.id)
        let document = try hub.create(
            .documents,
            values: [
                "title": "2015 framework contract", "kind": "market", "type": "contract", "retainUntil": "2020-12-31",
            ])
        _ = try hub.destroy(document.id, approval: DestructionApproval(reason: "retention ended", approvedBy: "li"))
        try hub.recordSettled(try SiteID("bj01"), upTo: try hub.lastSeq())

        var round = try hub.collectTombstones(minimumAgeMilliseconds: 3_600_000)
        #expect(round.collected == 0 && round.waiting == 1, "\(round)")
        round = try hub.collectTombstones(minimumAgeMilliseconds: 0)
        #expect(round.collected == 1, "\(round)")
        #expect(try hub.record(deleted.id) == nil)
        #expect(try hub.record(document.id)?.isDestroyed == true, "a destruction was collected")
        #expect(try hub.counts()[.documents]?.deleted == 1)
        #expect(try hub.check().problems.isEmpty)
    }
}
