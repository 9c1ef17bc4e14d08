import BranchSyncCore
import BranchSyncTestSupport
import Foundation
import Testing

@testable import BranchSyncStore

@Suite struct QuarantineRetryTests {
    /// `quarantine retry` judges a kept-aside change again: bj01's state claimed a write of sh01 the hub did not hold
    /// (invalid); once sh01's own state arrived, the retry takes it in. A change still invalid stays aside under a new
    /// number; a refused change has nothing to retry.
    @Test func aRetriedChangeIsTakenInOnceTheHubHoldsWhatItClaimed() throws {
        let directory = TemporaryDirectory()
        let hub = try makeHub(directory, enrolling: ["bj01", "sh01"])
        let sh01 = try makeStore(directory, site: "sh01")
        let created = try sh01.create(.customers, values: customerValues)
        let bytes = created.encoded()
        _ = try hub.applyIncoming(
            [bytes], from: try SiteID("bj01"), upTo: 1, remaining: 0, policy: .hub(clearance: .internal))
        let row = try #require(try hub.quarantined().first { $0.kind == "invalid" })
        let still = try hub.retryQuarantined(row.id)
        #expect(still != nil && still?.row != row.id, "still invalid, under a new number")
        _ = try hub.applyIncoming(
            [bytes], from: try SiteID("sh01"), upTo: 1, remaining: 0, policy: .hub(clearance: .internal))
        let next = try #require(still?.row)
        #expect(try hub.retryQuarantined(next) == nil, "taken in once the hub holds sh01's write")
        #expect(throws: StorageError.self) { try hub.retryQuarantined(next) }
    }
}
