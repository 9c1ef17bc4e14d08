import BranchSyncCore
import BranchSyncCrypto
import BranchSyncNode
import BranchSyncStore
import BranchSyncWire
import Foundation
import Testing

@Suite(.serialized) struct SyncTests {
    @Test func offlineWritesReachTheHubAndTheOtherBranches() throws {
        let cluster = try Cluster()
        let bj = try cluster.store("bj01")
        let sh = try cluster.store("sh01")
        for index in 0..<5 { try bj.create(.customers, values: customer("11000\(index)")) }
        try sh.create(.customers, values: customer("310001"))
        let first = try cluster.syncOnce("bj01")
        #expect(first.sent == 5)
        try cluster.syncOnce("sh01")
        try cluster.syncOnce("bj01")
        #expect(try bj.records(in: .customers).count == 6)
        #expect(try sh.records(in: .customers).count == 6)
        #expect(try cluster.export("hq") == cluster.export("bj01"))
        #expect(try cluster.export("hq") == cluster.export("sh01"))
        // Nothing new: another round moves nothing and duplicates nothing.
        let again = try cluster.syncOnce("bj01")
        #expect(again.sent == 0 && again.received == 0)
        #expect(try cluster.hubStore().lastSeq() == 6)
    }

    @Test func concurrentEditsConvergeEverywhereWithTheConflictRecorded() throws {
        let cluster = try Cluster()
        let bj = try cluster.store("bj01")
        let sh = try cluster.store("sh01")
        let created = try bj.create(.customers, values: customer("110001"))
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        try bj.update(created.id, changes: ["phone": "13811112222", "contact": "王经理"])
        try sh.update(created.id, changes: ["phone": "021-55556666"])
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        try cluster.syncOnce("bj01")
        let exports = try ["hq", "bj01", "sh01"].map { try cluster.export($0) }
        #expect(exports[0] == exports[1] && exports[1] == exports[2])
        let merged = try bj.record(created.id)!
        #expect(merged["contact"] == "王经理")
        let conflicts = try cluster.hubStore().conflicts()
        #expect(conflicts.count == 1)
        #expect(Set([conflicts[0].keptValue, conflicts[0].lostValue]) == ["13811112222", "021-55556666"])
        #expect(merged["phone"] == conflicts[0].keptValue)
    }

    @Test func confidentialRecordsReachOnlyTheSitesAllowedToHoldThem() throws {
        let cluster = try Cluster(branches: [("bj01", .internal), ("sh01", .internal), ("gz01", .confidential)])
        let bj = try cluster.store("bj01")
        let confidential = try bj.create(.customers, values: customer("110001", class: .confidential))
        let secret = try bj.create(.customers, values: customer("110002", class: .secret))
        let open = try bj.create(.customers, values: customer("110003"))
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        try cluster.syncOnce("gz01")
        let hub = try cluster.hubStore()
        #expect(try hub.record(secret.id) != nil && hub.record(confidential.id) != nil)
        let sh = try cluster.store("sh01")
        let gz = try cluster.store("gz01")
        #expect(try sh.record(confidential.id) == nil && sh.record(secret.id) == nil && sh.record(open.id) != nil)
        #expect(try gz.record(confidential.id) != nil && gz.record(secret.id) == nil)

        // Reclassified down: it reaches sh01; back up: sh01 is told to purge it.
        try bj.update(confidential.id, changes: ["class": "internal"])
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        #expect(try sh.record(confidential.id) != nil)
        try bj.update(confidential.id, changes: ["class": "confidential"])
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        #expect(try sh.record(confidential.id) == nil)
        #expect(try sh.auditTrail(recordID: confidential.id).first?.action == "purge")
    }

    @Test func grantingBackfillsAndNarrowingPurges() throws {
        let cluster = try Cluster()
        let bj = try cluster.store("bj01")
        let confidential = try bj.create(.customers, values: customer("110001", class: .confidential))
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        let sh = try cluster.store("sh01")
        #expect(try sh.record(confidential.id) == nil)
        try cluster.hubStore().setClearance(site: try SiteID("sh01"), clearance: .confidential)
        try cluster.syncOnce("sh01")
        #expect(try sh.record(confidential.id) != nil)
        try cluster.hubStore().setClearance(site: try SiteID("sh01"), clearance: .internal)
        try cluster.syncOnce("sh01")
        #expect(try sh.record(confidential.id) == nil)
    }

    @Test func theHubQuarantinesWritesOutsideABranchsScopeAndTheStreamGoesOn() throws {
        let cluster = try Cluster()
        let sh = try cluster.store("sh01")
        // A state claiming to be a new record of bj01 arrives at sh01 (as a tampered node would hold it).
        var forged = RecordState(
            id: RecordID.version7(unixMilliseconds: 1, random: Array(repeating: 7, count: 10)), collection: .customers,
            owner: try SiteID("bj01"))
        forged.applyLocalWrite(
            customer("110009"), stamp: Stamp(dot: Dot(site: try SiteID("bj01"), counter: 1), time: HLCTimestamp(wallMilliseconds: 1, logical: 0)))
        try sh.apply([forged], from: try SiteID("bj01"))
        let good = try sh.create(.customers, values: customer("310001"))
        let summary = try cluster.syncOnce("sh01")
        #expect(summary.sent == 2)
        let hub = try cluster.hubStore()
        #expect(try hub.record(forged.id) == nil)
        #expect(try hub.record(good.id) != nil)
        let quarantined = try hub.quarantined()
        #expect(quarantined.count == 1)
        #expect(quarantined.first?.reason == "site sh01 sent a new record owned by bj01; a site creates only its own records")
        #expect(try hub.peer(try SiteID("sh01"))?.appliedCursor == 2)
    }

    @Test func liveBranchesPushNewWritesAtOnce() throws {
        let cluster = try Cluster()
        let bjClient = cluster.startLive("bj01")
        _ = cluster.startLive("sh01")
        #expect(cluster.eventually { cluster.hub.registry.connectedSites.count == 2 })
        let bj = try cluster.store("bj01")
        let sh = try cluster.store("sh01")
        let created = try bj.create(.customers, values: customer("110001"))
        bjClient.notifyLocalChange()
        #expect(try cluster.eventually { try sh.record(created.id) != nil })
        // A write from another process (no notification) goes out on the next local check.
        let other = try bj.create(.customers, values: customer("110002"))
        #expect(try cluster.eventually { try sh.record(other.id) != nil })
        let status = try cluster.hubStore().peers()
        #expect(status.allSatisfy { $0.online })
    }

    @Test func badHandshakesGetAClearErrorAndTheHubKeepsServingOthers() throws {
        let cluster = try Cluster()
        try cluster.addBranch("xx01", enroll: false)
        #expect {
            try cluster.syncOnce("xx01")
        } throws: { error in
            "\(error)" == "the hub refused: site xx01 is not enrolled at hub hq; run 'branchsync site add xx01' on the hub (UNKNOWN_SITE)"
        }
        // Wrong secret.
        try cluster.store("sh01").setMetadata(BranchClient.secretKey, hex(SiteCredentials.newSecret()))
        #expect {
            try cluster.syncOnce("sh01")
        } throws: { error in
            "\(error)" == "the hub refused: authentication failed for site sh01: wrong secret (AUTHENTICATION_FAILED)"
        }
        // A second session for a site that is connected.
        _ = cluster.startLive("bj01")
        #expect(cluster.eventually { cluster.hub.registry.connectedSites.contains(try! SiteID("bj01")) })
        #expect {
            try cluster.syncOnce("bj01")
        } throws: { error in
            "\(error)".hasPrefix("the hub refused: site bj01 already has a session open from 127.0.0.1:")
        }
        #expect(cluster.capture.entries.contains { $0.contains("handshake refused") })
    }

    @Test func malformedFramesAreRefusedWithAnErrorFrame() throws {
        let cluster = try Cluster()
        for garbage: [UInt8] in [[0, 0, 0, 1, 0x7F], [0x7F, 0xFF, 0xFF, 0xFF, 1], [0, 0, 0, 3, 0x01, 0xFF, 0xFF]] {
            let reply = try rawExchange(port: cluster.port, send: garbage)
            var decoder = FrameDecoder()
            decoder.append(reply)
            let frame = try #require(try decoder.next())
            guard case .error(let error) = try Message.decode(type: frame.type, payload: frame.payload) else {
                Issue.record("expected ERROR, got \(frame.type)")
                continue
            }
            #expect([ErrorCode.malformedFrame, .frameTooLarge, .internalError].contains(error.code))
        }
        // The hub still serves a well-behaved branch.
        try cluster.store("bj01").create(.customers, values: customer("110001"))
        #expect(try cluster.syncOnce("bj01").sent == 1)
    }

    @Test func anUnreachableHubIsAClearError() throws {
        let cluster = try Cluster()
        let client = BranchClient(
            directory: cluster.root + "/bj01", hubAddress: "127.0.0.1:1", options: cluster.options, logger: .silent, software: "t")
        #expect {
            try client.syncOnce()
        } throws: { error in
            "\(error)".hasPrefix("cannot connect to 127.0.0.1:1: ")
        }
    }
}

/// Sends raw bytes to the hub and returns whatever it answers before closing.
func rawExchange(port: UInt16, send bytes: [UInt8]) throws -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw NodeError("connect failed") }
    defer { close(fd) }
    _ = bytes.withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, 0) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = recv(fd, &buffer, buffer.count, 0)
        if count <= 0 { break }
        result += buffer[0..<count]
    }
    return result
}
