/// The rules of a streaming session (Protocol.md §9) with no I/O and no clock of its own: the window of
/// unacknowledged batches, which `ACK` is legal, what `remaining` to announce, when both sides are caught up, and
/// which timers are due. Its driver (`SyncSession`: the hub's event loop or a branch's thread) reads and applies
/// batches in the store and moves bytes; it asks this value what to do next and tells it what happened.
///
/// Every input is a method call (a batch read or sent, an `ACK`, a peer batch applied, the log moved, the clock at a
/// turn) and every output a return value (where to read the next batch, the `CHANGES` header to send, the timers that
/// fired, a protocol violation), so the rules are tested without a store, a socket or a real clock
/// (`SessionStreamTests`).
public struct SessionStream: Sendable {
    /// The intervals of the session's timers, in milliseconds.
    public struct Timing: Sendable, Hashable {
        /// How often this side sends `PING`.
        public var ping: UInt64
        /// How long the peer may stay silent before the session ends with `TIMEOUT`.
        public var peerTimeout: UInt64
        /// How often this side looks for changes nobody announced (another process's writes).
        public var localCheck: UInt64

        public init(ping: UInt64, peerTimeout: UInt64, localCheck: UInt64) {
            self.ping = ping
            self.peerTimeout = peerTimeout
            self.localCheck = localCheck
        }
    }

    /// A timer that fired.
    public enum Due: Sendable, Hashable {
        /// Look for changes nobody announced (and for operator requests: clearance changes, verify).
        case lookForChanges
        /// Send a `PING` with this side's backlog.
        case ping
        /// The peer sent nothing for longer than the timeout: end the session with `TIMEOUT`.
        case peerSilent
    }

    /// The header of a `CHANGES` to send: the driver adds the states it read.
    public struct Outgoing: Sendable, Hashable {
        public var upTo: UInt64
        public var remaining: UInt64
        /// Whether it carries states or purges (the peer's reply to it may bring merges back).
        public var carried: Bool

        public init(upTo: UInt64, remaining: UInt64, carried: Bool) {
            self.upTo = upTo
            self.remaining = remaining
            self.carried = carried
        }
    }

    /// What an `ACK` acknowledged.
    public struct Acknowledged: Sendable, Hashable {
        /// The position acknowledged.
        public var upTo: Int64
        /// Whether the batch belongs to the current stream (not to one restarted since).
        public var current: Bool

        public init(upTo: Int64, current: Bool) {
            self.upTo = upTo
            self.current = current
        }
    }

    /// An `ACK` the protocol does not allow (`UNEXPECTED_MESSAGE`).
    public struct Violation: Error, Sendable, Hashable {
        public var message: String
    }

    private struct InFlight: Sendable, Hashable {
        var upTo: Int64
        var carried: Bool
        var generation: Int
    }

    /// Batches sent and not yet acknowledged at most.
    public let window: Int
    public let timing: Timing

    /// The log position the next batch is read after.
    public private(set) var scanned: Int64
    /// How far the peer has applied this node's log (its stated cursor, then every `ACK` of the current stream).
    public private(set) var peerApplied: Int64
    /// Whether the last read found nothing more to send.
    public private(set) var outboundAtEnd = false
    /// Batches sent and not yet acknowledged, oldest first: every `CHANGES` gets exactly one `ACK`, in order.
    private var inflight: [InFlight] = []
    /// Bumped when the stream restarts from the beginning, so acknowledgements of earlier batches are told apart.
    private var generation = 0
    private var announcedCaughtUp = false
    private var readDue = true
    /// Changes pending for the peer when the session began, and states sent since: the `remaining` estimate.
    private var pendingAtStart: Int64 = 0
    private var statesSent = 0
    /// Whether the peer's latest `CHANGES` with `remaining = 0` came after it acknowledged every batch of ours that
    /// carried states or purges: only then has it nothing more for us, including what merging ours produced.
    private var peerCaughtUp = false
    /// The highest acknowledged position not yet handed to the driver for storing.
    private var unstoredAcknowledgement: Int64?
    private var lastPing: UInt64
    private var lastLocalCheck: UInt64

    /// A stream that starts after `cursor` (the peer's stated position in this node's log) at `now`.
    public init(cursor: Int64, window: Int, timing: Timing, now: UInt64) {
        scanned = cursor
        peerApplied = cursor
        self.window = max(1, window)
        self.timing = timing
        lastPing = now
        lastLocalCheck = now
    }

    // MARK: Timers

    /// The timers due at `now`, each restarted. `lastReceive` is when bytes last came from the peer; `receivedNow`
    /// says whether messages arrived in this turn (a peer is never silent in the turn it spoke).
    public mutating func due(at now: UInt64, lastReceive: UInt64, receivedNow: Bool) -> [Due] {
        var due: [Due] = []
        if now >= lastLocalCheck &+ timing.localCheck {
            lastLocalCheck = now
            due.append(.lookForChanges)
        }
        if now >= lastPing &+ timing.ping {
            lastPing = now
            due.append(.ping)
        }
        if !receivedNow && now > lastReceive &+ timing.peerTimeout { due.append(.peerSilent) }
        return due
    }

    /// When the next timer is due (uptime milliseconds).
    public var nextDeadline: UInt64 {
        min(lastPing &+ timing.ping, lastLocalCheck &+ timing.localCheck)
    }

    // MARK: Outbound

    /// The peer's backlog when the session began (for the `remaining` of each batch).
    public mutating func expect(pending: Int64) {
        pendingAtStart = pending
    }

    /// The position to read the next batch after, or `nil` when the window is full, `queuedBytes` reached
    /// `highWater`, or nothing new may be waiting.
    public func nextRead(queuedBytes: Int, highWater: Int) -> Int64? {
        guard inflight.count < window, queuedBytes < highWater, readDue || !outboundAtEnd else { return nil }
        return scanned
    }

    /// The batch read after ``nextRead(queuedBytes:highWater:)``: its position (``scanned`` when the log had
    /// nothing more), what it carries, whether it reached the end of what the peer may get.
    /// - Returns: the `CHANGES` to send, or `nil` when nothing is to be sent (the end was announced already).
    public mutating func read(upTo: Int64, states: Int, purges: Int, reachedEnd: Bool) -> Outgoing? {
        readDue = false
        guard upTo != scanned else {
            outboundAtEnd = true
            guard !announcedCaughtUp else { return nil }
            // The caught-up marker: an empty batch at the current position.
            announcedCaughtUp = true
            inflight.append(InFlight(upTo: scanned, carried: false, generation: generation))
            return Outgoing(upTo: UInt64(clamping: scanned), remaining: 0, carried: false)
        }
        statesSent += states
        let remaining = reachedEnd ? 0 : UInt64(max(1, pendingAtStart - Int64(statesSent)))
        let carried = states > 0 || purges > 0
        inflight.append(InFlight(upTo: upTo, carried: carried, generation: generation))
        scanned = upTo
        outboundAtEnd = reachedEnd
        announcedCaughtUp = reachedEnd
        return Outgoing(upTo: UInt64(clamping: upTo), remaining: remaining, carried: carried)
    }

    /// The log moved (a write here or another session's apply): read again.
    public mutating func logMoved() {
        readDue = true
    }

    /// This node's records changed because of the peer (a purge, a repair, an applied batch): read again and
    /// announce the end afresh, so the peer learns of merges before it hears "nothing more".
    public mutating func recordsChangedByPeer() {
        readDue = true
        announcedCaughtUp = false
    }

    /// Sends everything again from the beginning (the peer's clearance changed): acknowledgements of batches sent
    /// before no longer count.
    public mutating func restart() {
        scanned = 0
        generation += 1
        outboundAtEnd = false
        announcedCaughtUp = false
        readDue = true
    }

    /// Whether every batch of the stream restarted last has been acknowledged and the stream is at its end.
    public var restartAcknowledged: Bool {
        outboundAtEnd && !inflight.contains { $0.generation == generation }
    }

    // MARK: Inbound

    /// An `ACK` arrived: it must echo the oldest batch in flight.
    public mutating func acknowledge(_ upTo: UInt64) throws(Violation) -> Acknowledged {
        guard let first = inflight.first else { throw Violation(message: "ACK \(upTo) with no batch in flight") }
        guard upTo == UInt64(clamping: first.upTo) else {
            throw Violation(
                message: "ACK \(upTo) does not acknowledge the oldest batch in flight (upTo \(first.upTo))")
        }
        inflight.removeFirst()
        let current = first.generation == generation
        if current {
            unstoredAcknowledgement = max(unstoredAcknowledgement ?? 0, first.upTo)
            peerApplied = max(peerApplied, first.upTo)
        }
        // A batch that carried something may bring merges back: wait for the marker the peer sends after it.
        if first.carried { peerCaughtUp = false }
        return Acknowledged(upTo: first.upTo, current: current)
    }

    /// A batch of the peer was applied (and is acknowledged): `remaining = 0` means the peer has nothing more, once
    /// it has answered every batch of ours that carried something.
    public mutating func peerBatchApplied(remaining: UInt64, carriedStates: Bool) {
        if remaining == 0 && !inflight.contains(where: \.carried) { peerCaughtUp = true }
        if carriedStates { recordsChangedByPeer() }
    }

    /// Whether both sides are caught up: nothing more to send, nothing in flight, the peer has nothing more, and
    /// `socketBacklog` (bytes the socket has not taken) is zero.
    public func caughtUp(socketBacklog: Int) -> Bool {
        outboundAtEnd && inflight.isEmpty && peerCaughtUp && socketBacklog == 0
    }

    /// The highest acknowledged position not stored yet (it feeds `status`), handed over once.
    public mutating func takeAcknowledgedPosition() -> Int64? {
        defer { unstoredAcknowledgement = nil }
        return unstoredAcknowledgement
    }

    /// Whether an acknowledged position waits to be stored.
    public var hasUnstoredAcknowledgement: Bool { unstoredAcknowledgement != nil }
}
