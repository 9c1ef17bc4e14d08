import BranchSyncCore
import BranchSyncCrypto
import BranchSyncStore
import BranchSyncWire

/// What one session moved, for `sync --once` and logs.
public struct SessionSummary: Sendable, Hashable {
    public var sent = 0
    public var purgesSent = 0
    public var purgesReceived = 0
    public var received = 0
    public var applied = 0
    public var quarantined = 0
    public var conflicts = 0

    public init() {}
}

/// Progress of an incoming stream (bootstrap of a new branch).
public struct SyncProgress: Sendable {
    public var received: Int
    public var remaining: UInt64
}

/// An authenticated session streaming both ways (`Protocol.md` §9): this node's log out in batches with a window
/// of unacknowledged batches, the peer's batches in, each applied with its cursor in one transaction and
/// acknowledged. Caught up, it stays open and pushes new changes when woken.
///
/// Not `Sendable`: runs on the thread that owns the connection and the store.
final class SyncSession {
    private let connection: FramedConnection
    private let store: NodeStore
    private let session: EstablishedSession
    private let options: SessionOptions
    private let logger: Logger
    private let wake: WakeSignal
    private let stop: StopSignal
    private let onIncomingApplied: @Sendable () -> Void
    private let stopWhenCaughtUp: Bool
    private let progress: ((SyncProgress) -> Void)?

    private var scanned: Int64
    private var inflight: [Int64] = []
    private var outboundAtEnd = false
    private var announcedCaughtUp = false
    /// Whether the peer's latest `CHANGES` with `remaining = 0` came after it acknowledged our latest non-empty
    /// batch: only then has it nothing more for us, including what merging our changes produced.
    private var peerCaughtUp = false
    /// The position of our latest batch that carried states or purges, until the peer acknowledges it.
    private var lastNonEmptyBatch: Int64?
    private var scanDue = true
    private var outboundTotal: Int64 = 0
    private var summary = SessionSummary()
    /// How far the peer has applied this node's log (its stated cursor, then every ACK).
    private var peerApplied: Int64
    /// The highest acknowledged position not yet written to the store (persisted at most once a second: it only
    /// feeds `status`, the receiver's stated cursor is what resumption relies on).
    private var unpersistedAck: Int64?
    private var lastAckPersist: UInt64 = 0
    /// Attachments already sent in this session (content-addressed: once is enough).
    private var blobsSent: Set<String> = []

    init(
        connection: FramedConnection, store: NodeStore, session: EstablishedSession, options: SessionOptions,
        logger: Logger, wake: WakeSignal, stop: StopSignal, stopWhenCaughtUp: Bool,
        progress: ((SyncProgress) -> Void)? = nil, onIncomingApplied: @escaping @Sendable () -> Void
    ) {
        self.connection = connection
        self.store = store
        self.session = session
        self.options = options
        self.logger = logger
        self.wake = wake
        self.stop = stop
        self.stopWhenCaughtUp = stopWhenCaughtUp
        self.progress = progress
        self.onIncomingApplied = onIncomingApplied
        self.scanned = session.outboundCursor
        self.peerApplied = session.outboundCursor
    }

    /// Runs until the peer leaves, `stop` fires, an error occurs, or (with `stopWhenCaughtUp`) both sides are
    /// caught up.
    func run() throws -> SessionSummary {
        defer { try? persistAck() }
        if session.peerRole == .hub { try store.completePendingPurges(peerApplied: peerApplied) }
        outboundTotal = try store.pendingCount(for: session.peer, after: scanned, clearance: session.clearance)
        var lastPing = Clock.uptimeMilliseconds()
        var lastLocalCheck = lastPing
        var pending = connection.pendingHandshakeMessages
        connection.pendingHandshakeMessages = []
        while true {
            if stop.isStopped {
                connection.send(.bye(Bye(reason: "shutting down")))
                try? connection.flush()
                return summary
            }
            if try !pending.isEmpty && handle(pending) { return summary }
            pending = []
            if unpersistedAck != nil && Clock.uptimeMilliseconds() >= lastAckPersist + 1000 { try persistAck() }
            try fillWindow()
            try connection.flush()
            if stopWhenCaughtUp && outboundAtEnd && inflight.isEmpty && peerCaughtUp
                && connection.pendingOutputCount == 0
            {
                connection.send(.bye(Bye(reason: "caught up")))
                try? connection.flush()
                return summary
            }
            let now = Clock.uptimeMilliseconds()
            let pingDue = lastPing + UInt64(options.pingInterval * 1000)
            let checkDue = lastLocalCheck + UInt64(options.localCheckInterval * 1000)
            let timeout = Int32(clamping: max(1, Int64(min(pingDue, checkDue)) - Int64(now)))
            let (readable, woken) = connection.wait(timeoutMilliseconds: timeout, wake: wake)
            if woken { scanDue = true }
            if readable { pending = try connection.receiveAvailable() }
            let after = Clock.uptimeMilliseconds()
            if after >= checkDue {
                scanDue = true
                lastLocalCheck = after
            }
            if after >= pingDue {
                // Everything the peer has not acknowledged yet, in flight or not sent.
                let backlog = try store.pendingCount(
                    for: session.peer, after: peerApplied, clearance: session.clearance)
                connection.send(
                    .ping(Ping(clockMilliseconds: Timestamp.nowMilliseconds(), pending: UInt64(max(0, backlog)))))
                lastPing = after
            }
            if pending.isEmpty && after - connection.lastReceiveUptime > UInt64(options.peerTimeout * 1000) {
                connection.send(
                    .error(ErrorMessage(code: .timeout, message: "nothing received for \(Int(options.peerTimeout)) s")))
                try? connection.flush()
                throw NodeError("\(session.peer) sent nothing for \(Int(options.peerTimeout)) s; closing the session")
            }
        }
    }

    /// Sends batches while the window has room and the log has more.
    private func fillWindow() throws {
        while inflight.count < options.window && connection.pendingOutputCount < 8 << 20 && (scanDue || !outboundAtEnd)
        {
            let batch = try store.outboundBatch(
                for: session.peer, after: scanned, clearance: session.clearance, limit: options.batchLimit,
                maximumBytes: options.batchBytes)
            scanDue = false
            let advanced = batch.upTo != scanned
            if !advanced {
                outboundAtEnd = true
                if !announcedCaughtUp {
                    connection.send(.changes(Changes(upTo: UInt64(scanned), remaining: 0, states: [])))
                    inflight.append(scanned)
                    announcedCaughtUp = true
                }
                return
            }
            if !batch.purges.isEmpty {
                connection.send(.purge(Purge(ids: batch.purges)))
                summary.purgesSent += batch.purges.count
            }
            if !batch.purges.isEmpty || !batch.encodedStates.isEmpty { lastNonEmptyBatch = batch.upTo }
            // Attachments go just before the states that refer to them.
            for sha in batch.attachments where !blobsSent.contains(sha) {
                guard let data = try store.blob(sha256: sha), let digest = bytes(fromHex: sha) else {
                    continue
                }
                connection.send(.blob(Blob(sha256: digest, data: data)))
                blobsSent.insert(sha)
            }
            summary.sent += batch.encodedStates.count
            let remaining = batch.reachedEnd ? 0 : UInt64(max(1, outboundTotal - Int64(summary.sent)))
            connection.send(
                .changes(Changes(upTo: UInt64(batch.upTo), remaining: remaining, encodedStates: batch.encodedStates)))
            inflight.append(batch.upTo)
            scanned = batch.upTo
            outboundAtEnd = batch.reachedEnd
            announcedCaughtUp = batch.reachedEnd
            if batch.reachedEnd { return }
        }
    }

    /// Handles received messages; returns true when the peer ended the session.
    private func handle(_ messages: [Message]) throws -> Bool {
        for message in messages {
            switch message {
            case .changes(let changes):
                let result = try store.applyIncoming(
                    changes.states, encoded: changes.encodedStates, from: session.peer,
                    upTo: Int64(clamping: changes.upTo),
                    remaining: Int64(clamping: changes.remaining), admit: admit)
                connection.send(.ack(Ack(upTo: changes.upTo)))
                summary.received += changes.states.count
                summary.applied += result.applied
                summary.quarantined += result.quarantined
                summary.conflicts += result.conflicts
                if changes.remaining == 0 { peerCaughtUp = true }
                if !changes.encodedStates.isEmpty {
                    // Answer with our log's state right after this ACK (new merges, or a fresh caught-up marker),
                    // so the peer learns that we have nothing more for it only after we applied its changes.
                    scanDue = true
                    announcedCaughtUp = false
                }
                if result.quarantined > 0 {
                    logger.warning("changes quarantined", [("count", String(result.quarantined))])
                }
                if result.conflicts > 0 { logger.info("conflicts recorded", [("count", String(result.conflicts))]) }
                if result.applied > 0 { onIncomingApplied() }
                progress?(SyncProgress(received: summary.received, remaining: changes.remaining))
            case .purge(let purge):
                guard session.peerRole == .hub else {
                    throw protocolViolation("a branch may not send PURGE")
                }
                let removed = try store.purge(purge.ids, from: session.peer, peerApplied: peerApplied)
                summary.purgesReceived += removed
                scanDue = true
                announcedCaughtUp = false
                if removed > 0 { logger.info("records purged", [("count", String(removed))]) }
            case .ack(let ack):
                let upTo = Int64(clamping: ack.upTo)
                inflight.removeAll { $0 <= upTo }
                unpersistedAck = max(unpersistedAck ?? 0, upTo)
                peerApplied = max(peerApplied, upTo)
                if let last = lastNonEmptyBatch, upTo >= last {
                    lastNonEmptyBatch = nil
                    peerCaughtUp = false  // wait for the marker the peer sends after applying it
                }
                if session.peerRole == .hub {
                    summary.purgesReceived += try store.completePendingPurges(peerApplied: peerApplied)
                }
                if let epoch = session.resendEpoch, outboundAtEnd, inflight.isEmpty {
                    try persistAck()
                    try store.recordResendComplete(session.peer, epoch: epoch)
                }
            case .blob(let blob):
                do {
                    try store.storeBlob(sha256: hex(blob.sha256), bytes: blob.data)
                } catch let error as StorageError where error.code == .corrupt {
                    throw WireError(.malformedFrame, error.message)
                }
            case .ping(let ping):
                try store.recordHeartbeat(session.peer, peerPending: Int64(clamping: ping.pending))
                connection.send(.pong(Pong(echoedClockMilliseconds: ping.clockMilliseconds)))
            case .pong:
                break
            case .error(let error):
                throw NodeError("\(session.peer) reported \(error.code): \(error.message)", retryable: true)
            case .bye(let bye):
                logger.info("peer closed the session", [("reason", bye.reason)])
                return true
            case .hello, .challenge, .auth, .welcome, .cursor:
                throw protocolViolation("\(message.type) after the handshake")
            }
        }
        return false
    }

    private func persistAck() throws {
        guard let upTo = unpersistedAck else { return }
        try store.recordAck(session.peer, upTo: upTo)
        unpersistedAck = nil
        lastAckPersist = Clock.uptimeMilliseconds()
    }

    private func protocolViolation(_ text: String) -> NodeError {
        connection.send(.error(ErrorMessage(code: .unexpectedMessage, message: text)))
        try? connection.flush()
        return NodeError("protocol violation by \(session.peer): \(text)", retryable: false)
    }

    /// The hub's scope rules for what a branch may write (DESIGN.md §6); a branch admits what its hub sends.
    private func admit(_ remote: RecordState, _ local: RecordState?) -> String? {
        guard let clearance = session.clearance else { return nil }
        let peer = session.peer
        if let local {
            guard Scope.mayHold(local, site: peer, clearance: clearance) else {
                return
                    "site \(peer) may not change \(local.classification.rawValue) record \(local.id) owned by \(local.owner)"
            }
        } else if remote.owner != peer {
            return "site \(peer) sent a new record owned by \(remote.owner); a site creates only its own records"
        }
        guard Scope.mayHold(remote, site: peer, clearance: clearance) else {
            return "site \(peer) may not hold \(remote.classification.rawValue) records of \(remote.owner)"
        }
        return nil
    }
}
