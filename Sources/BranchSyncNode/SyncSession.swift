import BranchSyncCore
import BranchSyncCrypto
import BranchSyncStore
import BranchSyncWire

/// What one session moved, for `sync --once` and logs.
public struct SessionSummary: Sendable, Hashable {
    /// Changes sent, audit blocks not counted.
    public var sent = 0
    /// Blocks of this site's audit trail sent.
    public var auditBlocksSent = 0
    public var purgesSent = 0
    public var purgesReceived = 0
    /// Records forgotten because the hub collected them: told (hub) or dropped (branch).
    public var forgotten = 0
    public var received = 0
    public var applied = 0
    public var quarantined = 0
    public var conflicts = 0
    /// Changes of this branch the hub refused (`REFUSED` notices received).
    public var refusedByHub = 0
    /// The last verify this session ran, if any.
    public var verify: VerifyOutcome?
    /// Records the verify found different and repaired.
    public var repaired = 0

    public init() {}
}

/// Progress of an incoming stream (bootstrap of a new branch).
public struct SyncProgress: Sendable {
    public var received: Int
    public var remaining: UInt64
}

/// An authenticated session streaming both ways (`Protocol.md` §9): this node's log out in batches with a window
/// of unacknowledged batches, the peer's batches in, each judged, applied with its cursor in one transaction and
/// acknowledged. Caught up, it stays open, pushes new changes when woken, and verifies that both replicas hold the
/// same records.
///
/// The protocol's rules live in pure values (``SessionStream`` for the stream and its timers, ``VerifyRound`` for
/// verify); this class does what they ask in the store and on the channel. Driven one turn at a time
/// (``step(received:woken:now:)``) with what arrived and the driver's clock: by the hub's event loop
/// (``HubSessionLoop``), by the branch's thread (`run(on:wake:)`), or by a test. It sends through a
/// ``SessionChannel`` and never reads a socket or a clock itself.
///
/// Not `Sendable`: used only by the thread that drives it and owns its store connection.
final class SyncSession {
    private let connection: any SessionChannel
    private let store: NodeStore
    private var session: EstablishedSession
    private let options: SessionOptions
    private let logger: Logger
    private let stop: StopSignal
    private let onIncomingApplied: @Sendable (_ applied: Int) -> Void
    private let stopWhenCaughtUp: Bool
    private let progress: ((SyncProgress) -> Void)?
    /// Hub: the limits a logged-in branch meets.
    private let hubLimits: HubSessionLimits?
    /// The newest log entries in memory, shared by the sessions of one loop (fan-out without a query per session).
    private let recentLog: RecentLog?
    /// Whether the driver stores acknowledged positions and heartbeats (``flushBookkeeping()``, the hub's loop: all
    /// sessions in one transaction a second) instead of each session on its own.
    private let driverFlushesBookkeeping: Bool
    /// A heartbeat kept in memory until the driver's next flush.
    private var unpersistedHeartbeat: (pending: Int64, age: Int64)?
    private var isHub: Bool { session.peerRole == .branch }

    /// The stream's rules: window, acknowledgements, caught-up markers, timers (pure; this class does the I/O).
    private var stream: SessionStream
    private var echoFloor: Int64 = 0
    private var clearanceEpoch: Int64 = 0
    /// The peer's access epoch when the session began (hub side): a change ends the session.
    private var accessEpoch: Int64 = 0
    /// How far the peer has applied this node's log.
    private var peerApplied: Int64 { stream.peerApplied }
    /// When an acknowledged position was last stored (at most once a second: it only feeds `status`, the receiver's
    /// stated cursor is what resumption relies on).
    private var lastAckPersist: UInt64 = 0
    /// The last heartbeat stored, and when.
    private var lastPersistedHeartbeat: (pending: Int64, age: Int64)?
    private var lastHeartbeatPersist: UInt64 = 0
    /// Attachments already sent in this session (content-addressed: once is enough).
    private var blobsSent: Set<String> = []
    /// Attachments the peer sent in this session (hex SHA-256): the only ones its states may newly refer to.
    private var blobsReceived: Set<String> = []
    /// Attachments the peer sent that were new here, until the batch that should refer to them is applied: those
    /// no state of it mentions and no record refers to are removed (Protocol.md §9.2 A7).
    private var unclaimedBlobs: Set<String> = []

    // Inbound stream.
    /// Refusal notices sent in this session and not yet shown delivered (hub).
    private var noticesSent: Set<Int64> = []
    /// Whether states of this peer may be held waiting for a reference (hub).
    private var mayHoldReferences = true

    // Verify.
    private var verifyRun: VerifyRun?
    private var verifySchedule: VerifySchedule
    private var nextRound: UInt64 = 1
    private var verifiedOnce = false
    /// Hub: the settled position last stored for the peer (``NodeStore/recordSettled(_:upTo:)``).
    private var settledRecorded: Int64 = 0
    /// This node's records as verify compares them: the peer's scope at the hub, with its clearance as of now.
    private var digests: ReplicaDigests {
        ReplicaDigests(store: store, scope: session.clearance.map { .site(session.peer, clearance: $0) } ?? .all)
    }

    private var summary = SessionSummary()
    /// The driver's clock at the current step (uptime milliseconds): every timer of the session reads it, so tests
    /// drive the session with a clock of their own.
    private var now: UInt64 = 0

    init(
        connection: any SessionChannel, store: NodeStore, session: EstablishedSession, options: SessionOptions,
        logger: Logger, stop: StopSignal, stopWhenCaughtUp: Bool,
        progress: ((SyncProgress) -> Void)? = nil, hubLimits: HubSessionLimits? = nil, recentLog: RecentLog? = nil,
        driverFlushesBookkeeping: Bool = false, onIncomingApplied: @escaping @Sendable (_ applied: Int) -> Void
    ) {
        self.driverFlushesBookkeeping = driverFlushesBookkeeping
        self.hubLimits = hubLimits
        self.recentLog = recentLog
        self.connection = connection
        self.store = store
        self.session = session
        self.options = options
        self.logger = logger
        self.stop = stop
        self.stopWhenCaughtUp = stopWhenCaughtUp
        self.progress = progress
        self.onIncomingApplied = onIncomingApplied
        stream = SessionStream(
            cursor: session.outboundCursor, window: options.window,
            timing: SessionStream.Timing(
                ping: UInt64(options.pingInterval * 1000), peerTimeout: UInt64(options.peerTimeout * 1000),
                localCheck: UInt64(min(options.localCheckInterval, 1e9) * 1000)),
            now: 0)
        verifySchedule = VerifySchedule(delay: options.verifyDelay, interval: options.verifyInterval)
    }

    /// Starts the session at `now` (uptime milliseconds): loads what the peer's row says, completes purges and owed
    /// notices.
    func begin(now: UInt64) throws {
        self.now = now
        if let peer = try store.peer(session.peer) {
            echoFloor = peer.echoFloor
            clearanceEpoch = peer.clearanceEpoch
            // The epoch read with the proven verifier: a change since (a new secret, a revocation) ends the session.
            accessEpoch = session.accessEpoch ?? peer.accessEpoch
            if isHub, let denied = peer.accessDenied {
                throw WireError(.authenticationFailed, "site \(session.peer) \(denied)")
            }
        }
        if !isHub {
            try store.completePendingPurges(peerApplied: peerApplied)
            try store.shipAuditTrail()
        }
        stream = SessionStream(
            cursor: stream.scanned, window: stream.window, timing: stream.timing, now: now)
        stream.expect(pending: try pendingCount(after: stream.scanned))
        try sendUndeliveredNotices()
    }

    /// Stores what is kept in memory between flushes; drops attachments no batch claimed. Call once, at the end.
    func finish() {
        try? flushBookkeeping()
        _ = try? store.dropUnreferencedBlobs(unclaimedBlobs)
    }

    /// When the session next needs a ``step(received:woken:now:)`` with nothing received (uptime milliseconds):
    /// its next ping or check for local changes.
    var nextDeadline: UInt64 { stream.nextDeadline }

    /// One turn of the session: handles the messages received, the wake signal and the timers due at `now`, then
    /// sends what the window allows. Queued output is flushed as far as the socket takes it.
    /// - Returns: `true` when the session ended (the peer said `BYE`, `stop` fired, or it is caught up and asked to
    ///   stop then).
    /// - Throws: when the session failed (the peer broke the protocol, went silent, or the store failed).
    func step(received: [Message], woken: Bool, now: UInt64) throws -> Bool {
        self.now = max(self.now, now)
        if woken { try wokenUp() }
        for due in stream.due(at: now, lastReceive: connection.lastReceiveUptime, receivedNow: !received.isEmpty) {
            switch due {
            case .lookForChanges:
                if !woken { try wokenUp() }
            case .ping:
                try sendPing()
            case .peerSilent:
                connection.send(
                    .error(
                        ErrorMessage(code: .timeout, message: "nothing received for \(Int(options.peerTimeout)) s")))
                try? connection.flush()
                throw NodeError(
                    "\(session.peer) sent nothing for \(Int(options.peerTimeout)) s; closing the session",
                    code: .connection)
            }
        }
        if stop.isStopped {
            connection.send(.bye(Bye(reason: "shutting down")))
            try? connection.flush()
            return true
        }
        if try !received.isEmpty && handle(received) { return true }
        if !driverFlushesBookkeeping && stream.hasUnstoredAcknowledgement && now >= lastAckPersist + 1000 {
            try persistAck()
        }
        try fillWindow()
        try connection.flush()
        let caughtUp = stream.caughtUp(socketBacklog: connection.outputBacklog)
        verifySchedule.noteCaughtUp(caughtUp, at: now)
        if caughtUp { try caughtUpBothWays(now: now) }
        if stopWhenCaughtUp && caughtUp && verifiedOnce && verifyRun == nil {
            connection.send(.bye(Bye(reason: "caught up")))
            try? connection.flush()
            return true
        }
        return false
    }

    /// Tells the peer this node's clock and everything it has not acknowledged yet (in flight or not sent).
    private func sendPing() throws {
        try recentLog?.refreshIfBehind(store)
        let backlog =
            try recentLog?.pending(
                for: session.peer, after: peerApplied, clearance: session.clearance, echoFloor: echoFloor)
            ?? store.pending(for: session.peer, after: peerApplied, clearance: session.clearance, echoFloor: echoFloor)
        let age = backlog.oldestMilliseconds.map { Int64(clamping: store.wallClock()) - $0 } ?? 0
        connection.send(
            .ping(
                Ping(
                    clockMilliseconds: Timestamp.nowMilliseconds(), pending: UInt64(max(0, backlog.count)),
                    pendingAge: UInt64(max(0, age)))))
    }

    private func pendingCount(after cursor: Int64) throws -> Int64 {
        try store.pendingCount(for: session.peer, after: cursor, clearance: session.clearance, echoFloor: echoFloor)
    }

    /// What the session moved so far.
    var summarySoFar: SessionSummary { summary }

    /// This node's log moved (another session applied changes): look for what concerns the peer at the next step.
    func logMoved() {
        stream.logMoved()
    }

    /// New local changes, a clearance change, or a verify request may be waiting.
    private func wokenUp() throws {
        stream.logMoved()
        if !isHub { try store.shipAuditTrail() }
        if isHub, let peer = try store.peer(session.peer), peer.accessEpoch != accessEpoch || peer.accessDenied != nil {
            // An operator changed the site's access (disabled, revoked, retired, a new secret): its session ends now,
            // not at its next login, which is judged under the new rules.
            throw WireError(
                .authenticationFailed,
                "site \(session.peer) " + (peer.accessDenied ?? "got a new secret; log in with it"))
        }
        if isHub, let peer = try store.peer(session.peer), peer.clearanceEpoch != clearanceEpoch {
            // A clearance change reaches a connected branch at once: resend everything (backfill and purge).
            logger.info(
                "clearance changed; resending the log",
                [("from", session.clearance?.rawValue ?? "-"), ("to", peer.clearance.rawValue)])
            session.clearance = peer.clearance
            session.resendEpoch = peer.clearanceEpoch
            clearanceEpoch = peer.clearanceEpoch
            echoFloor = peer.echoFloor
            stream.restart()
            verifySchedule.noteChange()
        }
        if verifyRun == nil, try store.verifyRequested(for: session.peer) {
            startVerify(requested: true)
        }
    }

    // MARK: Caught up

    private func caughtUpBothWays(now: UInt64) throws {
        // Both sides caught up: the site applied this hub's log up to `peerApplied`, and the hub applied every change
        // the site made before (its merges of ours included), so no tombstone up to there can meet a concurrent
        // change of this site any more (tombstone collection, Protocol.md §9.7).
        if isHub && stream.peerApplied > settledRecorded {
            try store.recordSettled(session.peer, upTo: stream.peerApplied)
            settledRecorded = stream.peerApplied
        }
        if isHub && session.fullResync {
            session.fullResync = false
            if try store.completeResync(with: session.peer) {
                logger.info("every branch has resynced: the hub's recovery from its restore is complete")
            } else {
                logger.info("full resync with the site complete")
            }
        }
        if verifyRun == nil && (verifySchedule.isDue(at: now) || (stopWhenCaughtUp && !verifiedOnce)) {
            startVerify(requested: false)
        }
        // A verify waiting for both sides to be caught up starts now, in this step: no event may follow to wake the
        // session (both sides have nothing more to say), so waiting would cost a timer's period.
        if var run = verifyRun, !run.started {
            run.started = true
            let first = run.round.start()
            verifyRun = run
            try sendVerifyStep(first)
            try connection.flush()
        }
    }

    // MARK: Outbound

    /// Sends batches while the window has room and the log has more.
    private func fillWindow() throws {
        while let after = stream.nextRead(
            queuedBytes: connection.pendingOutputCount, highWater: options.outputHighWater)
        {
            try recentLog?.refreshIfBehind(store)
            let batch =
                try recentLog?.batch(
                    for: session.peer, after: after, clearance: session.clearance, echoFloor: echoFloor,
                    limit: options.batchLimit, maximumBytes: options.batchBytes)
                ?? store.outboundBatch(
                    for: session.peer, after: after, clearance: session.clearance, echoFloor: echoFloor,
                    limit: options.batchLimit, maximumBytes: options.batchBytes)
            guard
                let outgoing = stream.read(
                    upTo: batch.upTo, states: batch.encodedStates.count, purges: batch.purges.count,
                    reachedEnd: batch.reachedEnd)
            else { return }
            if !batch.purges.isEmpty {
                connection.send(.purge(Purge(ids: batch.purges)))
                summary.purgesSent += batch.purges.count
            }
            // Attachments go just before the states that refer to them.
            try sendAttachments(batch.attachments)
            summary.sent += batch.encodedStates.count - batch.auditBlocks
            summary.auditBlocksSent += batch.auditBlocks
            try send(
                Changes(upTo: outgoing.upTo, remaining: outgoing.remaining, encodedStates: batch.encodedStates))
            if outgoing.carried { verifySchedule.noteChange() }
        }
    }

    private func send(_ changes: Changes) throws {
        var changes = changes
        // The hub proves each position it sends, so a branch can later show that the hub went back in time (§8.2).
        if isHub { changes.proof = try store.positionProof(for: Int64(clamping: changes.upTo)) }
        logger.debug(
            "sending changes",
            [
                ("up-to", String(changes.upTo)), ("states", String(changes.encodedStates.count)),
                ("remaining", String(changes.remaining)),
            ])
        connection.send(.changes(changes))
    }

    /// After a clearance change, records that the peer has the whole resend once every batch of it is acknowledged.
    private func completeResendIfDone() throws {
        guard let epoch = session.resendEpoch, stream.restartAcknowledged else { return }
        try persistAck()
        try store.recordResendComplete(session.peer, epoch: epoch)
        session.resendEpoch = nil
    }

    // MARK: Inbound

    /// Handles received messages; returns true when the peer ended the session.
    private func handle(_ messages: [Message]) throws -> Bool {
        for message in messages {
            logger.debug("received", [("type", "\(message.type)")])
            switch message {
            case .changes(let changes):
                try receive(changes)
            case .purge(let purge):
                guard !isHub else { throw protocolViolation("a branch may not send PURGE") }
                let removed = try store.purge(purge.ids, from: session.peer, peerApplied: peerApplied)
                summary.purgesReceived += removed
                stream.recordsChangedByPeer()
                verifySchedule.noteChange()
                if removed > 0 { logger.info("records purged", [("count", String(removed))]) }
            case .forget(let forget):
                guard !isHub else { throw protocolViolation("a branch may not send FORGET") }
                let dropped = try store.forgetCollected(
                    forget.entries.map { (id: $0.id, vector: $0.vector) }, by: session.peer)
                summary.forgotten += dropped
                if dropped > 0 {
                    stream.recordsChangedByPeer()
                    verifySchedule.noteChange()
                    logger.info("dropped records the hub collected after their deletion", [("count", String(dropped))])
                }
            case .ack(let ack):
                try acknowledge(ack)
            case .blob(let blob):
                guard blob.data.count <= LocalWriter.maximumAttachmentBytes else {
                    hubLimits?.report(.attachments, "\(session.peer) sent an attachment of \(blob.data.count) bytes")
                    throw protocolViolation(
                        "an attachment of \(blob.data.count) bytes; attachments are at most "
                            + "\(LocalWriter.maximumAttachmentBytes) bytes")
                }
                do {
                    let sha = hex(blob.sha256)
                    if try store.storeBlob(sha256: sha, bytes: blob.data) { unclaimedBlobs.insert(sha) }
                    blobsReceived.insert(sha)
                } catch let error as StorageError where error.code == .corrupt {
                    throw WireError(.malformedFrame, error.message)
                }
            case .refused(let refused):
                guard !isHub else { throw protocolViolation("a branch may not send REFUSED") }
                if try store.recordRefusal(
                    recordID: refused.recordID, dot: refused.dot, reason: refused.reason, by: session.peer)
                {
                    summary.refusedByHub += 1
                    logger.warning(
                        "the hub refused a change of this branch; see 'branchsync quarantine list'",
                        [("record", refused.recordID.description), ("reason", refused.reason.escapedForDisplay())])
                }
            case .ping(let ping):
                try noteHeartbeat(pending: Int64(clamping: ping.pending), age: Int64(clamping: ping.pendingAge))
                connection.send(.pong(Pong(echoedClockMilliseconds: ping.clockMilliseconds)))
            case .pong:
                break
            case .error(let error):
                connection.peerSentError()
                throw NodeError(
                    "\(session.peer) reported \(error.code): \(error.message.escapedForDisplay(limit: 300))",
                    code: error.code == .invalidChange ? .transient : .connection)
            case .bye(let bye):
                logger.info("peer closed the session", [("reason", bye.reason.escapedForDisplay())])
                return true
            case .verify, .verifyList, .fetch:
                try answerVerifyRequest(message)
            case .repair(let repair):
                try receive(repair)
            case .verifySummary, .verifyEntries:
                try feedVerify(message)
            case .hello, .challenge, .auth, .welcome, .cursor:
                throw protocolViolation("\(message.type) after the handshake")
            }
        }
        return false
    }

    /// Answers a verify request of the peer's round (§9.5), within the limits an initiator keeps to.
    private func answerVerifyRequest(_ message: Message) throws {
        if let excess = VerifyRound.excess(of: message) { throw protocolViolation(excess) }
        switch message {
        case .verify(let request):
            connection.send(
                .verifySummary(
                    VerifySummary(
                        round: request.round,
                        nodes: try StoreVerifySource(digests: digests).summaries(request.paths))))
        case .verifyList(let request):
            guard let entries = try digests.entries(in: request.paths, atMost: VerifyRound.maximumAnswered)
            else {
                throw protocolViolation(
                    "VERIFY_LIST asks for nodes holding more than \(VerifyRound.maximumAnswered) records")
            }
            connection.send(
                .verifyEntries(
                    VerifyEntries(
                        round: request.round,
                        entries: entries.map { VerifyEntry(id: $0.0, digest: UInt64(bitPattern: $0.1)) })))
        case .fetch(let request):
            try answer(request)
        default:
            break
        }
    }

    private var policy: AdmissionPolicy {
        session.clearance.map { .hub(clearance: $0) } ?? .branch
    }

    private func receive(_ changes: Changes) throws {
        let result = try withinQuota {
            try store.applyIncoming(
                changes.encodedStates, from: session.peer, upTo: Int64(clamping: changes.upTo),
                remaining: Int64(clamping: changes.remaining), policy: policy, attachmentsSent: blobsReceived,
                proof: isHub ? nil : changes.proof, quarantineQuota: hubLimits?.quarantineQuota)
        }
        try answer(result)
        // What applying wrote in this branch's audit trail goes up in this session (before it counts as caught up).
        if !isHub && !changes.encodedStates.isEmpty { try store.shipAuditTrail() }
        try dropUnclaimedBlobs(notMentionedIn: changes.encodedStates)
        connection.send(.ack(Ack(upTo: changes.upTo)))
        summary.received += changes.encodedStates.count
        // Answer with our log's state right after this ACK (new merges, or a fresh caught-up marker), so the peer
        // learns that we have nothing more for it only after we applied its changes.
        stream.peerBatchApplied(remaining: changes.remaining, carriedStates: !changes.encodedStates.isEmpty)
        if !changes.encodedStates.isEmpty { verifySchedule.noteChange() }
        if isHub && changes.remaining == 0 && mayHoldReferences, let clearance = session.clearance {
            try store.refuseUnresolvedReferences(from: session.peer, clearance: clearance)
            mayHoldReferences = false
            try sendUndeliveredNotices()
        }
        progress?(SyncProgress(received: summary.received, remaining: changes.remaining))
        try endIfInvalid(result)
    }

    /// Applies a verify repair: the same judgement as `CHANGES`, no cursor moves.
    private func receive(_ repair: Repair) throws {
        let result = try withinQuota {
            try store.applyIncoming(
                repair.encodedStates, from: session.peer, upTo: nil, remaining: 0, policy: policy,
                attachmentsSent: blobsReceived, quarantineQuota: hubLimits?.quarantineQuota)
        }
        try answer(result)
        try dropUnclaimedBlobs(notMentionedIn: repair.encodedStates)
        summary.received += repair.encodedStates.count
        if result.applied > 0 { stream.recordsChangedByPeer() }
        if repair.kind == .finalReply { try feedVerify(.repair(repair)) }
        try endIfInvalid(result)
    }

    /// Runs an apply; a batch refused for the peer's quarantine quota ends the session with `TRY_LATER` (nothing of
    /// it was stored or acknowledged: the peer sends it again once an operator has reviewed the quarantine).
    private func withinQuota(_ apply: () throws -> BatchResult) throws -> BatchResult {
        do { return try apply() } catch let error as StorageError where error.code == .quotaExceeded {
            hubLimits?.report(.quarantineQuota, error.message)
            connection.send(.error(ErrorMessage(code: .tryLater, message: error.message)))
            try? connection.flush()
            throw NodeError(error.message, code: .transient)
        }
    }

    /// What a batch's judgement asks of this session: refusal notices, purges of records the peer may not hold.
    private func answer(_ result: BatchResult) throws {
        summary.applied += result.applied
        summary.quarantined += result.quarantined
        summary.conflicts += result.conflicts
        if result.held > 0 { mayHoldReferences = true }
        if result.refused > 0 { try sendUndeliveredNotices() }
        if !result.purges.isEmpty {
            connection.send(.purge(Purge(ids: result.purges)))
            summary.purgesSent += result.purges.count
        }
        if !result.forgotten.isEmpty {
            connection.send(
                .forget(Forget(entries: result.forgotten.map { Forget.Entry(id: $0.id, vector: $0.vector) })))
            summary.forgotten += result.forgotten.count
            logger.info(
                "the site sent old copies of records this hub collected; told it to forget them",
                [("count", String(result.forgotten.count))])
        }
        if result.quarantined > 0 {
            logger.warning(
                "changes quarantined",
                [("count", String(result.quarantined)), ("refused", String(result.refused))])
        }
        if result.restamped > 0 {
            logger.warning(
                "changes re-stamped: the site's clock is ahead of the hub's", [("count", String(result.restamped))])
        }
        if result.conflicts > 0 { logger.info("conflicts recorded", [("count", String(result.conflicts))]) }
        if result.applied > 0 { onIncomingApplied(result.applied) }
    }

    /// A causally invalid state ends the session, after its batch was acknowledged (the good states in it are kept).
    private func endIfInvalid(_ result: BatchResult) throws {
        guard let reason = result.invalid.first else { return }
        let text =
            "a change was causally invalid and is quarantined at the hub; the site stays flagged until an operator "
            + "drops it: \(reason)"
        connection.send(.error(ErrorMessage(code: .invalidChange, message: text.escapedForDisplay(limit: 500))))
        try? connection.flush()
        throw NodeError("\(session.peer) sent a causally invalid change: \(reason)", code: .protocolViolation)
    }

    private func acknowledge(_ ack: Ack) throws {
        let upTo: Int64
        do { upTo = try stream.acknowledge(ack.upTo).upTo } catch { throw protocolViolation(error.message) }
        if !isHub { summary.purgesReceived += try store.completePendingPurges(peerApplied: peerApplied) }
        if !noticesSent.isEmpty {
            try store.markRefusalsDelivered(to: session.peer, upTo: upTo)
            noticesSent = noticesSent.intersection(try store.undeliveredRefusals(to: session.peer).map(\.id))
        }
        try completeResendIfDone()
    }

    /// Hub: tells the peer about refusals it has not received yet.
    private func sendUndeliveredNotices() throws {
        guard isHub else { return }
        for notice in try store.undeliveredRefusals(to: session.peer) where !noticesSent.contains(notice.id) {
            connection.send(.refused(Refused(recordID: notice.recordID, dot: notice.dot, reason: notice.reason)))
            noticesSent.insert(notice.id)
        }
    }

    // MARK: Verify

    private func startVerify(requested: Bool) {
        guard verifyRun == nil else { return }
        let round = nextRound
        nextRound += 1
        verifyRun = VerifyRun(
            round: VerifyRound(round: round), attempt: 1, startedAt: Timestamp.nowISO8601(),
            startSeq: (try? store.lastSeq()) ?? 0,
            startPeerSeq: (try? store.peer(session.peer)?.appliedCursor) ?? 0, repaired: 0, started: false,
            requested: requested)
    }

    private func feedVerify(_ message: Message) throws {
        guard var run = verifyRun, run.started else { return }
        let step = try run.round.receive(message, source: StoreVerifySource(digests: digests))
        verifyRun = run
        try sendVerifyStep(step)
    }

    private func sendVerifyStep(_ step: VerifyRound.Step) throws {
        switch step {
        case .send(let messages):
            for message in messages { connection.send(message) }
        case .wait:
            break
        case .repair(let push, let fetch):
            for chunk in try repairChunks(of: push) {
                connection.send(.repair(Repair(round: verifyRun?.round.round ?? 0, kind: .push, encodedStates: chunk)))
            }
            var fetches = 0
            var offset = 0
            while offset < fetch.count {
                let ids = Array(fetch[offset..<min(offset + VerifyRound.maximumFetched, fetch.count)])
                connection.send(.fetch(Fetch(round: verifyRun?.round.round ?? 0, ids: ids)))
                fetches += 1
                offset += ids.count
            }
            guard var run = verifyRun else { return }
            let next = run.round.fetchSent(fetches)
            verifyRun = run
            try sendVerifyStep(next)
        case .finished(let outcome):
            try finishVerify(outcome)
        }
    }

    private func finishVerify(_ outcome: VerifyOutcome) throws {
        guard let run = verifyRun else { return }
        verifyRun = nil
        if !outcome.identical && run.attempt == 1 {
            // Repaired; check again once both sides are caught up (records in flight are expected to differ).
            let round = nextRound
            nextRound += 1
            verifyRun = VerifyRun(
                round: VerifyRound(round: round), attempt: 2, startedAt: run.startedAt, startSeq: try store.lastSeq(),
                startPeerSeq: try store.peer(session.peer)?.appliedCursor ?? 0, repaired: outcome.differing.count,
                started: false, requested: run.requested)
            logger.info("verify repaired records; checking again", [("records", String(outcome.differing.count))])
            summary.repaired = outcome.differing.count
            stream.logMoved()
            return
        }
        verifySchedule.noteVerified(at: now)
        verifiedOnce = true
        summary.verify = outcome
        let result: String
        if outcome.identical {
            result =
                "identical: \(outcome.records) records"
                + (run.repaired > 0 ? " (after repairing \(run.repaired))" : "")
            if run.requested || run.repaired > 0 { logger.info("verify", [("result", result)]) }
        } else {
            let shown = outcome.differing.prefix(20).map(\.description).joined(separator: ", ")
            result =
                "differ: \(outcome.differing.count) record(s) still differ after a repair: \(shown)"
                + (outcome.differing.count > 20 ? ", …" : "")
            logger.warning("verify found replicas that still differ", [("result", result)])
        }
        try store.recordVerify(
            with: session.peer, identical: outcome.identical, records: Int64(clamping: outcome.records),
            result: result, startedAt: run.startedAt, seq: run.startSeq, peerSeq: run.startPeerSeq)
        // A verify asked for while this one ran (a collection round's, an operator's) is not lost waiting for a wake.
        if try store.verifyRequested(for: session.peer) { startVerify(requested: true) }
    }

    /// Answers a `FETCH`: the states asked for that the peer may hold, in `REPAIR` parts of about a batch's size; the
    /// hub tells the peer to purge those it holds but may not.
    private func answer(_ fetch: Fetch) throws {
        let states = try digests.states(fetch.ids)
        if isHub {
            let sent = Set(try states.map { try RecordState(decoding: $0.state).id })
            let stale = try fetch.ids.filter { id in try !sent.contains(id) && store.record(id) != nil }
            if !stale.isEmpty {
                connection.send(.purge(Purge(ids: stale)))
                summary.purgesSent += stale.count
            }
        }
        let chunks = try repairChunks(states: states)
        for (index, chunk) in chunks.enumerated() {
            connection.send(
                .repair(
                    Repair(
                        round: fetch.round, kind: index == chunks.count - 1 ? .finalReply : .reply,
                        encodedStates: chunk)))
        }
    }

    private func repairChunks(of ids: [RecordID]) throws -> [[[UInt8]]] {
        try repairChunks(states: digests.states(ids))
    }

    /// Splits repair states into parts of about a batch's size; sends the attachments they refer to first.
    private func repairChunks(states: [(state: [UInt8], attachment: String?)]) throws -> [[[UInt8]]] {
        try sendAttachments(states.compactMap(\.attachment))
        var chunks: [[[UInt8]]] = [[]]
        var size = 0
        for (state, _) in states {
            if size + state.count > options.batchBytes, !(chunks.last?.isEmpty ?? true) {
                chunks.append([])
                size = 0
            }
            chunks[chunks.count - 1].append(state)
            size += state.count
        }
        return chunks
    }

    /// Sends the attachments not yet sent in this session (content-addressed: once is enough).
    private func sendAttachments(_ hashes: [String]) throws {
        for sha in hashes where !blobsSent.contains(sha) {
            guard let data = try store.blob(sha256: sha), let digest = bytes(fromHex: sha) else { continue }
            connection.send(.blob(Blob(sha256: digest, data: data)))
            blobsSent.insert(sha)
        }
    }

    // MARK: Helpers

    /// Keeps a heartbeat in memory; stores it only when what the peer reports changed, or to keep `status`'s "last
    /// seen" fresh (every ``heartbeatPersistInterval`` ms): a ping is not a database write.
    private func noteHeartbeat(pending: Int64, age: Int64) throws {
        let reportChanged = lastPersistedHeartbeat.map { $0.pending != pending || ($0.age == 0) != (age == 0) } ?? true
        guard reportChanged || now >= lastHeartbeatPersist + Self.heartbeatPersistInterval else { return }
        lastPersistedHeartbeat = (pending, age)
        lastHeartbeatPersist = now
        if driverFlushesBookkeeping {
            unpersistedHeartbeat = (pending, age)
        } else {
            try store.recordHeartbeat(session.peer, peerPending: pending, pendingAgeMilliseconds: age)
        }
    }

    /// Stores the acknowledged position and the heartbeat kept in memory (the driver calls it for every session in
    /// one transaction).
    func flushBookkeeping() throws {
        try persistAck()
        if let (pending, age) = unpersistedHeartbeat {
            try store.recordHeartbeat(session.peer, peerPending: pending, pendingAgeMilliseconds: age)
            unpersistedHeartbeat = nil
        }
    }

    /// Milliseconds between stored heartbeats when nothing changed (well inside ``PeerHealth/staleAfterSeconds``).
    static let heartbeatPersistInterval: UInt64 = 10_000

    /// Removes the attachments received for this batch that no record refers to: those none of its states
    /// mentions (reported), and those of states merged into a destroyed record. A state held or refused keeps the
    /// bytes it mentions (for review and retry).
    private func dropUnclaimedBlobs(notMentionedIn states: [[UInt8]]) throws {
        guard !unclaimedBlobs.isEmpty else { return }
        let mentioned = unclaimedBlobs.filter { sha in
            let needle = Array(sha.utf8)
            return states.contains { $0.count >= needle.count && $0.firstRange(of: needle) != nil }
        }
        try store.dropUnreferencedBlobs(mentioned)
        let dropped = try store.dropUnreferencedBlobs(unclaimedBlobs.subtracting(mentioned))
        if dropped > 0 {
            hubLimits?.report(.attachments, "\(dropped) attachment(s) of \(session.peer) no state referred to")
            if hubLimits == nil {
                logger.warning(
                    "attachments no state of the batch refers to were not kept", [("count", String(dropped))])
            }
        }
        unclaimedBlobs = []
    }

    private func persistAck() throws {
        guard let upTo = stream.takeAcknowledgedPosition() else { return }
        try store.recordAck(session.peer, upTo: upTo)
        lastAckPersist = now
    }

    private func protocolViolation(_ text: String) -> NodeError {
        connection.send(.error(ErrorMessage(code: .unexpectedMessage, message: text)))
        try? connection.flush()
        return NodeError("protocol violation by \(session.peer): \(text)", code: .protocolViolation)
    }
}
