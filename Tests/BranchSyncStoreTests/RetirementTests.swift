import BranchSyncCore
import BranchSyncTestSupport
import Foundation
import Testing

@testable import BranchSyncStore

@Suite struct RetirementTests {
    /// Found in review: a restored hub owed a resync by every branch, retired ones included; a retired site never
    /// logs in again, so the hub never stopped recovering (and kept its honesty checks relaxed). A retired site owes
    /// nothing, and the last active branch's resync ends the recovery. A hub that is recovering refuses to retire.
    @Test func aRetiredSiteDoesNotHoldBackTheEndOfARecovery() throws {
        let directory = TemporaryDirectory()
        let hub = try makeHub(directory, enrolling: ["bj01", "sh01"])
        try hub.db.execute(
            "UPDATE peers SET retired_at = '2026-11-24T10:00:00.000Z', successor = 'sh01' WHERE site = 'bj01'")
        let proof = PositionProof(
            position: 1, epoch: Array(repeating: 0, count: 16), mac: Array(repeating: 0, count: 32))
        #expect(try hub.startRecovery(provenBy: try SiteID("sh01"), proof: proof, reason: "test"))
        #expect(try hub.peer(try SiteID("bj01"))?.resyncPending == false)
        #expect(throws: StorageError.self) {
            try hub.batch { try $0.retire(try SiteID("sh01"), successor: try SiteID("hq")) { _ in } }
        }
        #expect(try hub.completeResync(with: try SiteID("sh01")), "sh01's resync ends the recovery")
        #expect(try hub.restoreKnowledge() == .none)
    }
}
