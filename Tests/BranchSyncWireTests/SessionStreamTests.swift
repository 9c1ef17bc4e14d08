import BranchSyncTestSupport
import BranchSyncWire
import Testing

/// The stream's rules with no store, no socket and a fake clock (Protocol.md §9.3–§9.4).
@Suite struct SessionStreamTests {
    static let timing = SessionStream.Timing(ping: 5_000, peerTimeout: 20_000, localCheck: 500)

    static func stream(cursor: Int64 = 0, window: Int = 2) -> SessionStream {
        SessionStream(cursor: cursor, window: window, timing: timing, now: 1_000)
    }

    @Test func theWindowBoundsTheBatchesInFlightAndAnAckOpensIt() throws {
        var stream = Self.stream(window: 2)
        stream.expect(pending: 5)
        #expect(stream.nextRead(queuedBytes: 0, highWater: 100) == 0)
        let first = stream.read(upTo: 10, states: 2, purges: 0, reachedEnd: false)
        #expect(first == .init(upTo: 10, remaining: 3, carried: true))
        #expect(stream.nextRead(queuedBytes: 0, highWater: 100) == 10)
        _ = stream.read(upTo: 20, states: 2, purges: 0, reachedEnd: false)
        #expect(stream.nextRead(queuedBytes: 0, highWater: 100) == nil, "a third batch beyond a window of 2")
        #expect(try stream.acknowledge(10) == .init(upTo: 10, current: true))
        #expect(stream.peerApplied == 10)
        #expect(stream.nextRead(queuedBytes: 0, highWater: 100) == 20)
        #expect(stream.nextRead(queuedBytes: 100, highWater: 100) == nil, "output at its high-water mark")
    }

    @Test func remainingNeverSaysZeroBeforeTheEndEvenWhenTheEstimateRunsOut() {
        var stream = Self.stream(window: 10)
        stream.expect(pending: 1)
        #expect(stream.read(upTo: 5, states: 3, purges: 0, reachedEnd: false)?.remaining == 1)
        #expect(stream.read(upTo: 9, states: 1, purges: 0, reachedEnd: true)?.remaining == 0)
    }

    @Test func anAckMustEchoTheOldestBatchInFlight() throws {
        var stream = Self.stream()
        #expect(throws: SessionStream.Violation.self) { try stream.acknowledge(0) }
        _ = stream.read(upTo: 10, states: 1, purges: 0, reachedEnd: false)
        _ = stream.read(upTo: 20, states: 1, purges: 0, reachedEnd: true)
        #expect(throws: SessionStream.Violation.self) { try stream.acknowledge(20) }
        #expect(throws: SessionStream.Violation.self) { try stream.acknowledge(UInt64.max) }
        _ = try stream.acknowledge(10)
        _ = try stream.acknowledge(20)
        #expect(throws: SessionStream.Violation.self) { try stream.acknowledge(20) }
        #expect(stream.peerApplied == 20)
    }

    @Test func theEndIsAnnouncedOnceWithAnEmptyBatchAndAgainOnlyAfterThePeerChangedSomething() throws {
        var stream = Self.stream()
        let marker = stream.read(upTo: 0, states: 0, purges: 0, reachedEnd: true)
        #expect(marker == .init(upTo: 0, remaining: 0, carried: false))
        #expect(stream.nextRead(queuedBytes: 0, highWater: 100) == nil)
        stream.logMoved()
        #expect(stream.nextRead(queuedBytes: 0, highWater: 100) == 0)
        #expect(stream.read(upTo: 0, states: 0, purges: 0, reachedEnd: true) == nil, "announced twice")
        stream.recordsChangedByPeer()
        #expect(stream.read(upTo: 0, states: 0, purges: 0, reachedEnd: true) != nil, "no fresh marker after merges")
    }

    @Test func bothSidesAreCaughtUpOnlyAfterThePeerAnsweredEveryBatchThatCarriedSomething() throws {
        var stream = Self.stream()
        _ = stream.read(upTo: 10, states: 1, purges: 0, reachedEnd: true)
        // The peer's "nothing more" sent before it applied our batch does not count: merging ours may give it more.
        stream.peerBatchApplied(remaining: 0, carriedStates: false)
        _ = try stream.acknowledge(10)
        #expect(!stream.caughtUp(socketBacklog: 0))
        stream.peerBatchApplied(remaining: 0, carriedStates: false)
        #expect(stream.caughtUp(socketBacklog: 0))
        #expect(!stream.caughtUp(socketBacklog: 1), "bytes the socket has not taken")
        // A new change of ours, applied by the peer: caught up again only after the peer's marker that follows it.
        stream.logMoved()
        _ = stream.read(upTo: 20, states: 1, purges: 0, reachedEnd: true)
        _ = try stream.acknowledge(20)
        #expect(!stream.caughtUp(socketBacklog: 0), "caught up before the peer answered our latest change")
        stream.peerBatchApplied(remaining: 0, carriedStates: false)
        #expect(stream.caughtUp(socketBacklog: 0))
        // States from the peer: announce our end again before anyone is caught up.
        stream.peerBatchApplied(remaining: 0, carriedStates: true)
        #expect(stream.nextRead(queuedBytes: 0, highWater: 100) == 20)
    }

    @Test func afterARestartOldAcknowledgementsDoNotCountAndTheResendIsTrackedToItsEnd() throws {
        var stream = Self.stream(cursor: 50)
        _ = stream.read(upTo: 60, states: 1, purges: 0, reachedEnd: true)
        stream.restart()
        #expect(stream.scanned == 0)
        #expect(stream.nextRead(queuedBytes: 0, highWater: 100) == 0)
        _ = stream.read(upTo: 60, states: 4, purges: 1, reachedEnd: true)
        #expect(try stream.acknowledge(60) == .init(upTo: 60, current: false))
        #expect(stream.peerApplied == 50, "an acknowledgement from before the restart moved the position")
        #expect(!stream.restartAcknowledged)
        #expect(try stream.acknowledge(60) == .init(upTo: 60, current: true))
        #expect(stream.restartAcknowledged)
        #expect(stream.takeAcknowledgedPosition() == 60)
        #expect(stream.takeAcknowledgedPosition() == nil)
    }

    @Test func timersFireOnTheDriversClockAndSilenceEndsTheSession() {
        var stream = Self.stream()
        #expect(stream.due(at: 1_100, lastReceive: 1_000, receivedNow: false).isEmpty)
        #expect(stream.nextDeadline == 1_500)
        #expect(stream.due(at: 1_500, lastReceive: 1_000, receivedNow: false) == [.lookForChanges])
        #expect(stream.due(at: 6_000, lastReceive: 5_900, receivedNow: false) == [.lookForChanges, .ping])
        #expect(stream.due(at: 6_100, lastReceive: 5_900, receivedNow: false).isEmpty)
        #expect(stream.due(at: 26_000, lastReceive: 5_900, receivedNow: true) == [.lookForChanges, .ping])
        #expect(stream.due(at: 26_001, lastReceive: 5_900, receivedNow: false) == [.peerSilent])
        // A clock near the end of its range does not trap.
        var late = SessionStream(cursor: 0, window: 1, timing: Self.timing, now: UInt64.max - 10)
        _ = late.due(at: UInt64.max, lastReceive: UInt64.max, receivedNow: false)
        _ = late.nextDeadline
    }

    /// Random sequences of reads and acknowledgements against a model: the window is never exceeded, every
    /// acknowledgement that echoes the oldest batch is accepted and no other, and `peerApplied` never goes back.
    @Test func randomExchangesKeepTheWindowAndTheAcknowledgementOrder() throws {
        let seed = TestSeed.make()
        var random = SeededGenerator(seed: seed)
        for _ in 0..<200 {
            let window = Int.random(in: 1...5, using: &random)
            var stream = Self.stream(window: window)
            var model: [Int64] = []
            var position: Int64 = 0
            var applied: Int64 = 0
            for _ in 0..<100 {
                if Bool.random(using: &random), stream.nextRead(queuedBytes: 0, highWater: 1) != nil {
                    position += Int64.random(in: 1...5, using: &random)
                    _ = stream.read(upTo: position, states: 1, purges: 0, reachedEnd: false)
                    model.append(position)
                    #expect(model.count <= window, "seed \(seed)")
                } else if let oldest = model.first {
                    let wrong = oldest + Int64.random(in: 1...3, using: &random)
                    #expect(throws: SessionStream.Violation.self, "seed \(seed)") {
                        try stream.acknowledge(UInt64(wrong))
                    }
                    _ = try stream.acknowledge(UInt64(oldest))
                    model.removeFirst()
                    #expect(stream.peerApplied >= applied, "seed \(seed)")
                    applied = stream.peerApplied
                    #expect(applied == oldest, "seed \(seed)")
                }
            }
        }
    }
}
