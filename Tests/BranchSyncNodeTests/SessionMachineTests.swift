import BranchSyncCore
import BranchSyncCrypto
import BranchSyncStore
import BranchSyncTestSupport
import BranchSyncWire
import Foundation
import Testing

@testable import BranchSyncNode

/// The sync session without sockets or threads: two ``SyncSession``s (hub and branch) wired through in-memory
/// channels and stepped by a fake clock. The same code runs in the hub's event loop and the branch's thread.
@Suite struct SessionMachineTests {
    /// A channel that keeps what the session sends, for the test to deliver.
    final class QueueChannel: SessionChannel {
        var outbox: [Message] = []
        var lastReceiveUptime: UInt64 = 0
        var pendingOutputCount: Int { 0 }
        var outputBacklog: Int { 0 }
        var peerErrored = false

        func send(_ message: Message) { outbox.append(message) }
        func flush() {}
        func peerSentError() { peerErrored = true }

        func take() -> [Message] {
            defer { outbox = [] }
            return outbox
        }
    }

    /// A hub and a branch store, with a session of each over queue channels.
    struct Pair {
        let directory = TemporaryDirectory()
        let hub: NodeStore
        let branch: NodeStore
        let hubChannel = QueueChannel()
        let branchChannel = QueueChannel()
        let hubSession: SyncSession
        let branchSession: SyncSession
        /// The fake clock, uptime milliseconds.
        var now: UInt64 = 1_000_000

        init(options: SessionOptions = SessionOptions(), branchStopsWhenCaughtUp: Bool = true) throws {
            let actor = AuditActor(user: "test", origin: "test")
            let hq = try SiteID("hq")
            let bj01 = try SiteID("bj01")
            hub = try NodeStore.initialize(
                directory: directory.file("hq"), identity: NodeIdentity(site: hq, role: .hub), actor: actor)
            branch = try NodeStore.initialize(
                directory: directory.file("bj01"), identity: NodeIdentity(site: bj01, role: .branch), actor: actor)
            let verifier = SiteCredentials.verifier(for: try SiteCredentials.newSecret())
            try hub.enroll(
                site: bj01, clearance: .internal, storedKey: verifier.storedKey, serverKey: verifier.serverKey)
            try branch.rememberHub(hq)
            hubSession = SyncSession(
                connection: hubChannel, store: hub,
                session: EstablishedSession(
                    peer: bj01, peerRole: .branch, peerSoftware: "test", outboundCursor: 0, clockSkewMilliseconds: 0,
                    clearance: .internal),
                options: options, logger: .silent, stop: StopSignal(), stopWhenCaughtUp: false,
                hubLimits: nil, onIncomingApplied: { _ in })
            branchSession = SyncSession(
                connection: branchChannel, store: branch,
                session: EstablishedSession(
                    peer: hq, peerRole: .hub, peerSoftware: "test", outboundCursor: 0, clockSkewMilliseconds: 0,
                    clearance: nil),
                options: options, logger: .silent, stop: StopSignal(), stopWhenCaughtUp: branchStopsWhenCaughtUp,
                onIncomingApplied: { _ in })
            hubChannel.lastReceiveUptime = now
            branchChannel.lastReceiveUptime = now
            try hubSession.begin(now: now)
            try branchSession.begin(now: now)
        }

        /// Advances the clock by `milliseconds`, delivers what each side sent to the other, steps both; with
        /// `branchDead` the branch neither receives nor sends nor runs.
        /// - Returns: whether the branch's session ended (caught up and verified).
        /// With `eventDriven`, a side is stepped only as its real driver steps it: when something arrived or its
        /// next timer is due.
        mutating func turn(_ milliseconds: UInt64 = 100, branchDead: Bool = false, eventDriven: Bool = false) throws
            -> Bool
        {
            now += milliseconds
            var branchEnded = false
            if !branchDead {
                let toBranch = hubChannel.take()
                if !toBranch.isEmpty { branchChannel.lastReceiveUptime = now }
                if !eventDriven || !toBranch.isEmpty || now >= branchSession.nextDeadline {
                    branchEnded = try branchSession.step(received: toBranch, woken: false, now: now)
                }
            }
            let toHub = branchDead ? [] : branchChannel.take()
            if !toHub.isEmpty { hubChannel.lastReceiveUptime = now }
            if !eventDriven || !toHub.isEmpty || now >= hubSession.nextDeadline {
                _ = try hubSession.step(received: toHub, woken: false, now: now)
            }
            return branchEnded
        }
    }

    @Test func aHubAndABranchSessionConvergeAndVerifyOnAFakeClock() throws {
        var pair = try Pair()
        for code in ["110001", "110002", "110003"] { _ = try pair.branch.create(.customers, values: customer(code)) }
        _ = try pair.hub.create(.customers, values: customer("310001"))
        let start = pair.now
        var ended = false
        for _ in 0..<500 where !ended { ended = try pair.turn() }
        #expect(ended, "the branch never finished (caught up and verified)")
        #expect(try pair.hub.records(in: .customers).count == 4)
        #expect(try pair.branch.records(in: .customers).count == 4)
        let verify = try #require(pair.branchSession.summarySoFar.verify)
        // The verify covers the branch's whole scope: the four customers and the blocks of its audit trail.
        let blocks = try pair.branch.records(in: .auditBlocks).count
        #expect(blocks > 0 && verify.identical && verify.records == 4 + blocks)
        #expect(pair.now - start < 5_000)
    }

    /// Once caught up and verified, a live pair stays quiet: verifying writes nothing the branch would ship as a
    /// change. (A branch's audit entry for each verify went to the hub as a change, which called for another verify,
    /// and so on every few seconds: found by the demo, whose "caught up" flickered.)
    @Test func aCaughtUpPairStaysQuietThroughRepeatedVerifies() throws {
        var pair = try Pair(branchStopsWhenCaughtUp: false)
        _ = try pair.branch.create(.customers, values: customer("110001"))
        for _ in 0..<200 { _ = try pair.turn() }
        let branchHead = try pair.branch.lastSeq()
        let hubHead = try pair.hub.lastSeq()
        for _ in 0..<1_500 { _ = try pair.turn(1_000) }  // 25 minutes of the session clock: periodic verifies
        #expect(try pair.branch.lastSeq() == branchHead, "the branch wrote changes while nothing happened")
        #expect(try pair.hub.lastSeq() == hubHead)
        let verifies = try pair.hub.auditTrail(AuditFilter(site: "hq", action: "verify"))
        #expect(
            verifies.count >= 2 && verifies.allSatisfy { $0.detail.contains("identical") }, "\(verifies.map(\.detail))")
    }

    /// Issue 10: the hub records one audit entry per batch for changes applied as sent (each origin's own entries
    /// say who wrote what); anything worth a note (a conflict, a re-stamp) keeps its own entry. A branch records none
    /// for the hub's changes applied as sent (the group's trail at the hub has them), so a write reaching many
    /// branches does not send an audit block back from each.
    @Test func aBatchAppliedAsSentIsAuditedOnceAndAConflictOnItsOwn() throws {
        var pair = try Pair(branchStopsWhenCaughtUp: false)
        var created: [RecordState] = []
        for code in ["110001", "110002", "110003"] {
            created.append(try pair.branch.create(.customers, values: customer(code)))
        }
        for _ in 0..<100 { _ = try pair.turn() }
        let applies = try pair.hub.auditTrail(AuditFilter(site: "hq", action: "apply"))
        #expect(applies.count == 1, "\(applies.map(\.detail))")
        #expect(applies.first?.recordID == nil && applies.first?.detail.contains("3 change(s)") == true)
        #expect(try pair.branch.auditTrail().filter { $0.action == "create" }.count == 3)
        // The branch receives the hub's records without an entry, and ships no audit block for them.
        let blocksBefore = try pair.branch.records(in: .auditBlocks).count
        _ = try pair.hub.create(.customers, values: customer("310001"))
        _ = try pair.hub.create(.customers, values: customer("310002"))
        for _ in 0..<100 { _ = try pair.turn() }
        #expect(try pair.branch.record(try #require(pair.hub.records(in: .customers).last).id) != nil)
        #expect(try pair.branch.auditTrail().filter { $0.action == "apply" }.isEmpty)
        #expect(try pair.branch.records(in: .auditBlocks).count == blocksBefore)

        // The same field changed at both ends before they meet: a conflict, audited with its record.
        _ = try pair.branch.update(created[0].id, changes: ["contact": "李经理"])
        _ = try pair.hub.update(created[0].id, changes: ["contact": "赵经理"])
        for _ in 0..<100 { _ = try pair.turn() }
        let noted = try pair.hub.auditTrail(AuditFilter(recordID: created[0].id)).filter { $0.action == "apply" }
        #expect(noted.count == 1 && noted.first?.detail.contains("conflict") == true, "\(noted.map(\.detail))")
    }

    /// A branch that finds both sides caught up starts its verify in the same step: `sync --once` is not held up
    /// until its next timer (the 0.5 s local check set a floor of half a second under every `sync --once`).
    @Test func aCaughtUpBranchVerifiesAtOnceNotAtItsNextTimer() throws {
        var pair = try Pair()
        for code in ["110001", "110002"] { _ = try pair.branch.create(.customers, values: customer(code)) }
        let start = pair.now
        // The drivers step a session once as soon as it begins, then on events and timers.
        var ended = try pair.turn(5)
        for _ in 0..<200 where !ended { ended = try pair.turn(5, eventDriven: true) }
        #expect(ended)
        #expect(pair.now - start < 250, "sync took \(pair.now - start) ms of the session's clock")
    }

    @Test func theHubVerifiesAfterBothSidesStayedCaughtUpForTheDelayOfItsClock() throws {
        var pair = try Pair(branchStopsWhenCaughtUp: false)
        _ = try pair.branch.create(.customers, values: customer("110001"))
        var convergedAt: UInt64?
        var verifiedAt: UInt64?
        for _ in 0..<200 where verifiedAt == nil {
            _ = try pair.turn()
            if convergedAt == nil, try pair.hub.records(in: .customers).count == 1 { convergedAt = pair.now }
            if try pair.hub.peer(try SiteID("bj01"))?.lastVerifyResult != nil { verifiedAt = pair.now }
        }
        let converged = try #require(convergedAt)
        let verified = try #require(verifiedAt, "the hub never verified")
        // `verifyDelay` (2 s) of the session's clock, the fake one: the whole run takes milliseconds of real time.
        #expect(verified - converged >= 2_000, "verified \(verified - converged) ms after converging")
        #expect(try pair.hub.peer(try SiteID("bj01"))?.lastVerifyResult?.hasPrefix("identical") == true)
    }

    @Test func pingsFollowTheClockAndASilentPeerIsDroppedAtItsTimeout() throws {
        var pair = try Pair()
        for _ in 0..<20 { _ = try pair.turn() }
        _ = pair.hubChannel.take()
        // Five seconds of the session's clock: a PING.
        _ = try pair.turn(5_000, branchDead: true)
        #expect(pair.hubChannel.outbox.contains { if case .ping = $0 { return true } else { return false } })
        // Twenty seconds with nothing from the branch: the hub ends the session with TIMEOUT.
        #expect(throws: NodeError.self) {
            for _ in 0..<30 { _ = try pair.turn(1_000, branchDead: true) }
        }
        #expect(
            pair.hubChannel.outbox.contains {
                if case .error(let error) = $0 { return error.code == .timeout } else { return false }
            })
    }
}
