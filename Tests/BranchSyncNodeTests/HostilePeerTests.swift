import BranchSyncCore
import BranchSyncCrypto
import BranchSyncStore
import BranchSyncWire
import Foundation
import Testing

@testable import BranchSyncNode

/// Issue 7: nothing a peer sends before or after login crashes the hub or costs it more than its limits allow, and
/// the hub keeps serving real branches throughout.
@Suite(.serialized) struct HostilePeerTests {
    /// Threads of this (test) process, from /proc.
    static func threadCount() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Threads:") } ?? ""
        return Int(line.split(separator: "\t").last.map(String.init) ?? "") ?? 0
    }

    /// Proves the hub still serves: a genuine branch syncs a new record through it.
    func expectServing(_ cluster: Cluster, _ context: String) throws {
        let record = try cluster.store("bj01").create(
            .customers, values: customer(String(110_000 + Int.random(in: 0..<9_999))))
        try cluster.syncOnce("bj01")
        #expect(try cluster.hubStore().record(record.id) != nil, "the hub stopped serving after \(context)")
    }

    @Test func loggedInClocksAtTheEdgeOfUInt64AreSaturatedNotTrapped() throws {
        let cluster = try Cluster(branches: [("bj01", .internal), ("sh01", .internal), ("gz01", .internal)])
        for clock: UInt64 in [1 << 63, (1 << 63) + UInt64(Date().timeIntervalSince1970 * 1000), .max, 0] {
            let peer = try RawPeer(port: cluster.port)
            let (_, reply) = try peer.handshake(
                site: "gz01", secret: cluster.secrets["gz01"] ?? [], nonce: try SecureRandom.bytes(32), clock: clock)
            guard case .welcome = reply else {
                Issue.record("clock \(clock): \(reply)")
                return
            }
            peer.send(try RawPeer.cursor(0))
            #expect(
                try cluster.eventually {
                    let skew = try cluster.hubStore().peer(try SiteID("gz01"))?.clockSkewMilliseconds
                    return clock == 0 ? skew.map { $0 < -1_000_000 } == true : skew.map { $0 > 1 << 62 } == true
                }, "clock \(clock)")
            peer.send(.bye(Bye(reason: "done")))
            #expect(cluster.eventually { !cluster.hub.registry.connectedSites.contains(try! SiteID("gz01")) })
            try expectServing(cluster, "a HELLO clock of \(clock)")
        }
    }

    @Test func aRelayThatRewritesTheHelloGetsNoSession() throws {
        let cluster = try Cluster()
        let peer = try RawPeer(port: cluster.port)
        let genuine = RawPeer.hello(site: "sh01", nonce: try SecureRandom.bytes(32))
        var relayed = genuine
        relayed.clockMilliseconds = 1 << 63
        peer.send(.hello(relayed))
        guard case .challenge(let challenge) = try peer.receive() else {
            Issue.record("no CHALLENGE")
            return
        }
        // The branch signed what it sent; the relay forwarded something else.
        let signed = SiteCredentials.authMessage(
            helloPayload: Message.hello(genuine).encodedPayload(),
            challengePayload: Message.challenge(challenge).encodedPayload())
        peer.send(
            .auth(Auth(proof: SiteCredentials.clientProof(secret: cluster.secrets["sh01"] ?? [], authMessage: signed))))
        guard case .error(let error) = try peer.receive() else {
            Issue.record("the altered HELLO was accepted")
            return
        }
        #expect(error.code == .authenticationFailed)
        try expectServing(cluster, "a relayed HELLO")
    }

    @Test func anUnknownSiteIsChallengedAndRefusedLikeAWrongSecret() throws {
        let cluster = try Cluster()
        var answers: [String] = []
        for site in ["nx01", "sh01"] {
            let peer = try RawPeer(port: cluster.port)
            let (_, reply) = try peer.handshake(
                site: site, secret: try SiteCredentials.newSecret(), nonce: try SecureRandom.bytes(32))
            guard case .error(let error) = reply else {
                Issue.record("\(site): \(reply)")
                return
            }
            answers.append("\(error.code) \(error.message.replacingOccurrences(of: site, with: "SITE"))")
        }
        #expect(answers[0] == answers[1])
        #expect(answers[0] == "AUTHENTICATION_FAILED authentication failed for site SITE: unknown site or wrong secret")
    }

    @Test func failedLoginsAreThrottledAndCountedForStatus() throws {
        let cluster = try Cluster()
        for _ in 0..<6 {
            let peer = try RawPeer(port: cluster.port)
            _ = try peer.handshake(
                site: "sh01", secret: try SiteCredentials.newSecret(), nonce: try SecureRandom.bytes(32))
        }
        // The next attempt from this address is told to wait, before any proof is read.
        let peer = try RawPeer(port: cluster.port)
        peer.send(.hello(RawPeer.hello(site: "sh01", nonce: try SecureRandom.bytes(32))))
        guard case .error(let error) = try peer.receive() else {
            Issue.record("no throttle after six failed logins")
            return
        }
        #expect(error.code == .tryLater)
        #expect(error.message.hasPrefix("too many failed logins; retry in "))
        #expect(
            try cluster.eventually {
                try cluster.hubStore().limitHits().contains { $0.name == "auth-throttle" && $0.count >= 1 }
            })
        #expect(cluster.capture.entries.contains { $0.contains("limit reached") && $0.contains("auth-throttle") })
    }

    @Test func aLargeFrameBeforeLoginIsRefusedFromItsLengthAlone() throws {
        let cluster = try Cluster()
        let peer = try RawPeer(port: cluster.port)
        // A legal 16 MiB length, and nothing after it: refused before the hub buffers any of it.
        peer.send(bytes: [0x01, 0x00, 0x00, 0x00])
        guard case .error(let error) = try peer.receive() else {
            Issue.record("no refusal")
            return
        }
        #expect(error.code == .frameTooLarge)
        #expect(error.message == "frame of 16777216 bytes exceeds the limit of \(Frame.handshakeMaximumLength)")
        try expectServing(cluster, "a 16 MiB frame before login")
    }

    @Test func stalledConnectionsCostNoThreadAndMeetTheirDeadline() throws {
        var limits = HubLimits()
        limits.maximumConnectionsPerAddress = 1_000
        let cluster = try Cluster(handshakeTimeout: 2, limits: limits)
        let threadsBefore = Self.threadCount()
        var stalled: [RawPeer] = []
        for index in 0..<300 {
            let peer = try RawPeer(port: cluster.port)
            // Half send a partial HELLO, half nothing at all.
            if index % 2 == 0 { peer.send(bytes: [0x00, 0x00, 0x00, 0x40, 0x01, 0x02]) }
            stalled.append(peer)
        }
        try expectServing(cluster, "300 stalled connections")
        #expect(Self.threadCount() < threadsBefore + 20, "threads before \(threadsBefore), now \(Self.threadCount())")
        // Each gets TIMEOUT at its deadline and is closed.
        for peer in stalled.prefix(10) {
            guard case .error(let error) = try peer.receive() else {
                Issue.record("a stalled connection was not refused")
                return
            }
            #expect(error.code == .timeout)
        }
        #expect(
            try cluster.eventually { try cluster.hubStore().limitHits().contains { $0.name == "handshake-deadline" } })
    }

    @Test func connectionsBeyondTheLimitsGetTryLaterAndTheRestKeepSyncing() throws {
        var limits = HubLimits()
        limits.maximumConnectionsPerAddress = 4
        let cluster = try Cluster(limits: limits)
        let idle = try (0..<4).map { _ in try RawPeer(port: cluster.port) }
        let refused = try RawPeer(port: cluster.port)
        guard case .error(let error) = try refused.receive() else {
            Issue.record("the fifth connection from one address was admitted")
            return
        }
        #expect(error.code == .tryLater)
        #expect(error.message == "4 connections from this address are open already; retry later")
        #expect(
            try cluster.eventually {
                try cluster.hubStore().limitHits().contains { $0.name == "connections-per-address" }
            })
        // A connection that closes frees its place: a genuine branch from the same address syncs.
        var remaining = idle
        remaining.removeLast()
        #expect(cluster.eventually(timeout: 10) { (try? cluster.syncOnce("bj01")) != nil })
        withExtendedLifetime(remaining) {}
    }

    @Test func aPingIsNotADatabaseWrite() throws {
        let cluster = try Cluster()
        let peer = try RawPeer.session(cluster, site: "sh01")
        let observer = try cluster.hubStore()
        // Let the session settle (its start, the first batch and its acknowledgement).
        for message in [try peer.receive()] {
            if case .changes(let changes) = message { peer.send(.ack(Ack(upTo: changes.upTo))) }
        }
        Thread.sleep(forTimeInterval: 1.5)
        let before = try observer.dataVersion()
        var commits = 0
        var last = before
        for index in 0..<30 {
            peer.send(.ping(Ping(clockMilliseconds: UInt64(index), pending: 0, pendingAge: 0)))
            usleep(30_000)
            let now = try observer.dataVersion()
            if now != last { commits += 1 }
            last = now
        }
        #expect(commits <= 3, "30 pings made \(commits) commits")
        // What a ping reports still reaches `status` when it changes.
        peer.send(.ping(Ping(clockMilliseconds: 99, pending: 7, pendingAge: 1_500)))
        #expect(try cluster.eventually { try cluster.hubStore().peer(try SiteID("sh01"))?.peerPending == 7 })
    }

    @Test func theHeartbeatsOfManySessionsAreStoredTogether() throws {
        let sites = (0..<10).map { (String(format: "h%03d", $0), Classification.internal) }
        let cluster = try Cluster(branches: [("bj01", .internal)] + sites)
        var peers: [RawPeer] = []
        for (site, _) in sites {
            let peer = try RawPeer.session(cluster, site: site)
            if case .changes(let changes) = try peer.receive() { peer.send(.ack(Ack(upTo: changes.upTo))) }
            peers.append(peer)
        }
        Thread.sleep(forTimeInterval: 1.5)
        let observer = try cluster.hubStore()
        var last = try observer.dataVersion()
        var commits = 0
        // Each of 10 sessions reports a different backlog 10 times: 100 heartbeats that change what status shows.
        for round in 1...10 {
            for peer in peers { peer.send(.ping(Ping(clockMilliseconds: 1, pending: UInt64(round), pendingAge: 10))) }
            for _ in 0..<10 {
                usleep(10_000)
                let now = try observer.dataVersion()
                if now != last { commits += 1 }
                last = now
            }
        }
        #expect(commits <= 4, "100 heartbeats of 10 sessions made \(commits) commits in about a second")
        #expect(
            try cluster.eventually {
                try sites.allSatisfy { try cluster.hubStore().peer(try SiteID($0.0))?.peerPending == 10 }
            }, "the last heartbeat of every session reaches status")
    }

    @Test func attachmentsNoStateRefersToAreNotKeptAndOversizedOnesEndTheSession() throws {
        let cluster = try Cluster()
        let peer = try RawPeer.session(cluster, site: "sh01")
        let orphan = try SecureRandom.bytes(1000)
        peer.send(.blob(Blob(sha256: SHA256.digest(orphan), data: orphan)))
        peer.send(.changes(Changes(upTo: 1, remaining: 0, encodedStates: [])))
        var acknowledged = false
        for _ in 0..<10 where !acknowledged {
            if case .ack(let ack) = try peer.receive() { acknowledged = ack.upTo == 1 }
        }
        #expect(acknowledged)
        #expect(try cluster.hubStore().blob(sha256: SHA256.hexDigest(orphan)) == nil, "an orphan attachment was kept")
        // An attachment over 8 MiB is a protocol violation, refused before it is stored.
        let huge = [UInt8](repeating: 7, count: (8 << 20) + 1)
        peer.send(.blob(Blob(sha256: SHA256.digest(huge), data: huge)))
        let after = peer.drain()
        #expect(
            after.contains {
                if case .error(let error) = $0 { return error.message.hasPrefix("an attachment of 8388609 bytes") }
                return false
            })
        #expect(try cluster.hubStore().blob(sha256: SHA256.hexDigest(huge)) == nil)
        try expectServing(cluster, "an oversized attachment")
    }

    /// A customer state of `site` as a branch would send it, with `values`.
    static func state(of site: String, _ values: [String: String]) throws -> [UInt8] {
        let owner = try SiteID(site)
        var record = RecordState(
            id: RecordID.version7(unixMilliseconds: Timestamp.nowMilliseconds(), random: try SecureRandom.bytes(10)),
            collection: .customers, owner: owner)
        record.applyLocalWrite(
            values, stamp: Stamp(dot: Dot(site: owner, counter: 5), time: HLCTimestamp(wallMilliseconds: 1, logical: 0))
        )
        return record.encoded()
    }

    static func errors(_ messages: [Message]) -> [ErrorMessage] {
        messages.compactMap { if case .error(let error) = $0 { return error } else { return nil } }
    }

    /// Sends one batch and waits for its ACK; `nil` when the hub answered otherwise (the messages it sent instead).
    static func sendBatch(_ peer: RawPeer, upTo: UInt64, _ states: [[UInt8]]) -> [Message]? {
        peer.send(.changes(Changes(upTo: upTo, remaining: 0, encodedStates: states)))
        var seen: [Message] = []
        while let message = try? peer.receive() {
            if case .ack(let ack) = message, ack.upTo == upTo { return nil }
            if case .changes(let changes) = message { peer.send(.ack(Ack(upTo: changes.upTo))) }
            seen.append(message)
            if case .error = message { return seen }
        }
        return seen
    }

    @Test func anUndecodableStateQuarantinesOnlyItselfAndTheGoodStatesAroundItAreKept() throws {
        let cluster = try Cluster()
        let before = try Self.state(of: "sh01", customer("310001"))
        let after = try Self.state(of: "sh01", customer("310002"))
        let peer = try RawPeer.session(cluster, site: "sh01")
        peer.send(.changes(Changes(upTo: 3, remaining: 0, encodedStates: [before, [0x01, 0xFF, 0x00, 0x13], after])))
        let answer = peer.drain()
        #expect(answer.contains { if case .ack(let ack) = $0 { return ack.upTo == 3 } else { return false } })
        #expect(Self.errors(answer).map(\.code) == [.invalidChange])
        let hub = try cluster.hubStore()
        #expect(try hub.records(in: .customers).count == 2, "the good states on either side were kept")
        #expect(try hub.quarantined().map(\.kind) == ["invalid"])
        try expectServing(cluster, "an undecodable state")
    }

    @Test func aHugeValueIsNotCopiedIntoAQuarantineReasonOrTheAuditTrail() throws {
        let cluster = try Cluster()
        let peer = try RawPeer.session(cluster, site: "sh01")
        var values = customer("310001")
        values["code"] = String(repeating: "9", count: 900_000) + "\nforged line"
        #expect(Self.sendBatch(peer, upTo: 1, [try Self.state(of: "sh01", values)]) == nil)
        let hub = try cluster.hubStore()
        let reasons = try hub.quarantined().map(\.reason)
        #expect(reasons.count == 1)
        #expect(reasons.allSatisfy { $0.count <= 501 && !$0.contains("\n") }, "\(reasons.map(\.count))")
        let details = try hub.auditTrail(limit: 1_000).map(\.detail)
        #expect(details.allSatisfy { $0.count <= 1_001 && !$0.contains("\n") }, "\(details.map(\.count).max() ?? 0)")
    }

    @Test func aCompensatingWriteReachesTheLiveOriginWithoutAnyOtherChange() throws {
        let cluster = try Cluster()
        let peer = try RawPeer.session(cluster, site: "sh01")
        let sh01 = try SiteID("sh01")
        var record = RecordState(
            id: RecordID.version7(unixMilliseconds: Timestamp.nowMilliseconds(), random: try SecureRandom.bytes(10)),
            collection: .customers, owner: sh01)
        let now = Timestamp.nowMilliseconds()
        _ = record.applyLocalWrite(
            customer("310001"),
            stamp: Stamp(dot: Dot(site: sh01, counter: 5), time: HLCTimestamp(wallMilliseconds: now, logical: 0)))
        #expect(Self.sendBatch(peer, upTo: 1, [record.encoded()]) == nil)
        // The owner's own edit with a malformed credit code: refused, undone by a hub write that must come back now.
        _ = record.applyLocalWrite(
            ["creditCode": "not a code"],
            stamp: Stamp(dot: Dot(site: sh01, counter: 6), time: HLCTimestamp(wallMilliseconds: now + 1, logical: 0)))
        peer.send(.changes(Changes(upTo: 2, remaining: 0, encodedStates: [record.encoded()])))
        var refused = false
        var undone = false
        while !(refused && undone), let message = try? peer.receive() {
            switch message {
            case .refused: refused = true
            case .changes(let changes):
                peer.send(.ack(Ack(upTo: changes.upTo)))
                undone =
                    undone
                    || changes.encodedStates.contains {
                        (try? RecordState(decoding: $0))?["creditCode"] == huaweiCredit
                    }
            default: break
            }
        }
        #expect(refused, "no REFUSED notice")
        #expect(undone, "the compensating write did not reach the live origin")
    }

    @Test func aBranchAtItsQuarantineQuotaGetsTryLaterAndNothingOfTheBatchIsApplied() throws {
        var limits = HubLimits()
        limits.maximumQuarantinePerSite = 2
        let cluster = try Cluster(limits: limits)
        let sh01 = try SiteID("sh01")
        let bad = { (code: String) in
            try Self.state(of: "sh01", customer(code).merging(["creditCode": "not a code"]) { $1 })
        }
        var peer = try RawPeer.session(cluster, site: "sh01")
        #expect(Self.sendBatch(peer, upTo: 1, [try bad("310001")]) == nil)
        #expect(Self.sendBatch(peer, upTo: 2, [try bad("310002")]) == nil)
        let good = try Self.state(of: "sh01", customer("310003"))
        let refused = try #require(Self.sendBatch(peer, upTo: 3, [good, try bad("310004")]))
        let error = try #require(Self.errors(refused).first)
        #expect(error.code == .tryLater)
        #expect(error.message.contains("quota (--max-quarantine-per-site 2)"), "\(error.message)")
        let hub = try cluster.hubStore()
        #expect(try hub.records(in: .customers).isEmpty, "nothing of the refused batch was applied")
        #expect(try hub.quarantined().count == 2)
        #expect(try hub.peer(sh01)?.appliedCursor == 2, "the refused batch moved no cursor")
        #expect(try cluster.eventually { try hub.limitHits().contains { $0.name == "quarantine-quota" } })
        // An operator reviews the quarantine; the branch's next attempt goes through.
        for change in try hub.quarantined() { try hub.dropQuarantined(change.id) }
        peer = try RawPeer.session(cluster, site: "sh01")
        #expect(Self.sendBatch(peer, upTo: 3, [good, try bad("310004")]) == nil)
        #expect(try hub.records(in: .customers).count == 1)
    }

    @Test func anAckOfAPositionNeverSentIsAViolationAndMovesNothing() throws {
        let cluster = try Cluster()
        _ = try cluster.store("bj01").create(.customers, values: customer("110001"))
        try cluster.syncOnce("bj01")
        let peer = try RawPeer.session(cluster, site: "sh01")
        let first = try peer.receive()
        guard case .changes = first else {
            Issue.record("no CHANGES from the hub: \(first)")
            return
        }
        peer.send(.ack(Ack(upTo: 1 << 40)))
        let answer = peer.drain()
        #expect(Self.errors(answer).map(\.code) == [.unexpectedMessage])
        let hub = try cluster.hubStore()
        #expect(try hub.peer(try SiteID("sh01"))?.ackedCursor ?? 0 <= hub.lastSeq())
        #expect(try hub.health(of: try SiteID("sh01"))?.toSite ?? 0 > 0, "status does not claim the change delivered")
    }

    /// Descriptors open in this (test) process.
    static func descriptorCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }

    @Test func loggedInSessionsCostNoThreadAndNoDatabaseConnection() throws {
        var limits = HubLimits()
        limits.maximumConnectionsPerAddress = 1_000
        let sites = (0..<60).map { (String(format: "s%03d", $0), Classification.internal) }
        let cluster = try Cluster(branches: [("bj01", .internal)] + sites, limits: limits)
        try expectServing(cluster, "the start")
        let threadsBefore = Self.threadCount()
        let descriptorsBefore = Self.descriptorCount()
        var peers: [RawPeer] = []
        for (site, _) in sites {
            let peer = try RawPeer.session(cluster, site: site)
            guard case .changes = try peer.receive() else {
                Issue.record("\(site) got no CHANGES")
                return
            }
            peers.append(peer)
        }
        #expect(cluster.eventually { cluster.hub.registry.connectedSites.count == sites.count })
        let threads = Self.threadCount() - threadsBefore
        // Each session: the peer's socket here and the hub's socket; no eventfd, no SQLite files, no thread.
        let descriptors = Self.descriptorCount() - descriptorsBefore
        #expect(threads < 5, "\(sites.count) sessions added \(threads) threads")
        #expect(descriptors <= 2 * sites.count + 8, "\(sites.count) sessions added \(descriptors) descriptors")
        try expectServing(cluster, "60 live sessions")
        withExtendedLifetime(peers) {}
    }

    @Test func theThrottleBacksOffDoublesCapsAndForgets() {
        var throttle = AuthThrottle()
        for _ in 0..<5 { throttle.recordFailure(address: "10.0.0.1", site: "gz01", now: 1_000) }
        #expect(throttle.retryAfter(address: "10.0.0.1", site: "gz01", now: 1_000) == nil)
        throttle.recordFailure(address: "10.0.0.1", site: "gz01", now: 1_000)
        #expect(throttle.retryAfter(address: "10.0.0.1", site: "gz01", now: 1_000) == 1_000)
        // The site is throttled from any address, the address for any site.
        #expect(throttle.retryAfter(address: "10.0.0.2", site: "gz01", now: 1_000) == 1_000)
        #expect(throttle.retryAfter(address: "10.0.0.1", site: "sh01", now: 1_000) == 1_000)
        #expect(throttle.retryAfter(address: "10.0.0.2", site: "sh01", now: 1_000) == nil)
        throttle.recordFailure(address: "10.0.0.1", site: "gz01", now: 2_000)
        #expect(throttle.retryAfter(address: "10.0.0.1", site: nil, now: 2_000) == 2_000)
        for _ in 0..<40 { throttle.recordFailure(address: "10.0.0.1", site: nil, now: 3_000) }
        #expect(throttle.retryAfter(address: "10.0.0.1", site: nil, now: 3_000) == 60_000)
        throttle.recordSuccess(address: "10.0.0.1", site: "gz01")
        #expect(throttle.retryAfter(address: "10.0.0.1", site: "gz01", now: 3_000) == nil)
        // Failures long past are forgotten: the free allowance is back.
        for _ in 0..<6 { throttle.recordFailure(address: "10.0.0.3", site: nil, now: 10_000) }
        throttle.recordFailure(address: "10.0.0.3", site: nil, now: 10_000 + 700_000)
        #expect(throttle.retryAfter(address: "10.0.0.3", site: nil, now: 10_000 + 700_000) == nil)
    }

    @Test func theThrottleForgetsTheOldestWhenFull() {
        var policy = AuthThrottle.Policy()
        policy.maximumEntries = 10
        var throttle = AuthThrottle(policy: policy)
        for index in 0..<1_000 {
            for _ in 0..<6 {
                throttle.recordFailure(address: "10.0.\(index / 256).\(index % 256)", site: nil, now: UInt64(index))
            }
        }
        #expect(throttle.blockedCount(now: 1_000).addresses <= 10)
        #expect(throttle.retryAfter(address: "10.0.3.231", site: nil, now: 1_000) != nil)
    }
}
