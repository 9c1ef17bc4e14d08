import BranchSyncTestSupport
import Foundation
import Testing

@testable import BranchSyncCore

@Suite struct ProtocolVectorTests {
    /// Protocol.md §4.1: the record-state vector decodes to the state described and re-encodes byte for byte.
    @Test func recordStateVectorRoundTrips() throws {
        let vectors = try ProtocolDocument.vectors().filter { $0.name == "record-state" }
        #expect(vectors.count == 1)
        for vector in vectors {
            let state = try RecordState(decoding: vector.bytes)
            #expect(state.encoded() == vector.bytes)
            #expect(state.isDeleted)
            #expect(state["code"] == "110002")
            #expect(state["name"] == "华信")
            #expect(state.versionVector == VersionVector([try SiteID("bj01"): 2, try SiteID("hq"): 5]))
            #expect(try ProtocolDocument.json(after: "record-state") == state.canonicalJSON)
        }
    }
}
