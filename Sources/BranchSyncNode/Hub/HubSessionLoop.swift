import BranchSyncCore
import BranchSyncStore
import BranchSyncWire
import Synchronization

/// The hub's logged-in branches, all on one thread with epoll (DESIGN.md §14): each session is a ``SyncSession``
/// stepped when its socket has input, when it can write again, when its timer is due, or when the hub's log moved.
/// No thread and no SQLite connection per branch: a session costs its socket and its buffers. Every session uses
/// the loop's one store connection, so the hub's applies are serialized on this thread.
///
/// The gate (``HubGate``) hands over connections whose proof it checked; the loop registers the site (one session
/// per site, a grace period for a branch meeting its own stale session), sends `WELCOME`, waits for `CURSOR`, then
/// streams.
final class HubSessionLoop: Sendable {
    struct Configuration: Sendable {
        var directory: String
        var options: SessionOptions
        var limits: HubLimits
        var registry: SessionRegistry
        var ledger: LimitLedger
        var stop: StopSignal
        var logger: Logger
        var activity: NodeActivity
    }

    /// A connection handed over by the gate, not yet taken by the loop thread.
    private struct Arrival: @unchecked Sendable {
        // @unchecked: the gate never touches the connection after handing it over.
        var connection: FramedConnection
        var peer: AuthenticatedPeer
        var host: String
    }

    private let configuration: Configuration
    /// Wakes the loop: new arrivals, new changes in the log, shutdown.
    let wake: WakeSignal
    private let arrivals = Mutex<[Arrival]>([])
    /// Set by whoever wrote to the log (a session's apply, a CLI poke): sessions look for new changes.
    private let logMoved = Atomic<Bool>(false)
    /// Called for each connection that ended (the gate's connection book frees its place).
    private let onClosed: @Sendable (String) -> Void

    init(configuration: Configuration, onClosed: @escaping @Sendable (String) -> Void) throws {
        self.configuration = configuration
        self.onClosed = onClosed
        wake = try WakeSignal()
    }

    /// Takes over an authenticated connection (from the gate's thread).
    func admit(_ connection: FramedConnection, peer: AuthenticatedPeer, host: String) {
        arrivals.withLock { $0.append(Arrival(connection: connection, peer: peer, host: host)) }
        wake.signal()
    }

    /// New changes are in the log: every session looks whether they concern its branch.
    func noteLogMoved() {
        logMoved.store(true, ordering: .releasing)
        wake.signal()
    }

    /// Runs the loop on the calling thread until the stop signal fires and every session said `BYE`.
    func run() {
        let logger = configuration.logger
        let activity = configuration.activity
        defer { activity.noteLoopEnded() }
        let store: NodeStore
        let epoll: Epoll
        let recentLog: RecentLog
        do {
            store = try NodeStore.open(
                directory: configuration.directory, actor: AuditActor(user: "sync", origin: "hub sessions"))
            // The housekeeping thread checkpoints once a second: no turn's commit pays for it.
            try store.deferCheckpoints()
            epoll = try Epoll(capacity: 1024)
            try epoll.add(wake.readFD, token: Self.wakeToken)
            recentLog = RecentLog(head: try store.lastSeq())
        } catch {
            // Without its loop the hub cannot serve anyone: it stops rather than accept logins it cannot serve.
            logger.error("the session loop cannot start; the hub stops", [("error", "\(error)")])
            configuration.stop.stop()
            for arrival in arrivals.withLock({ $0 }) {
                arrival.connection.fail(with: WireError(.internalError, "the hub cannot serve sessions; retry later"))
                onClosed(arrival.host)
            }
            return
        }
        var state = LoopState(store: store, epoll: epoll, recentLog: recentLog)
        var lastDataVersion = (try? store.dataVersion()) ?? 0
        var lastCollectedTotal = (try? store.collectedTotal()) ?? 0
        var lastLocalCheck = Clock.uptimeMilliseconds()
        let checkInterval = UInt64(configuration.options.localCheckInterval * 1000)
        while true {
            let now = Clock.uptimeMilliseconds()
            activity.noteLoopAlive()
            if configuration.stop.isStopped {
                // Sessions say BYE as they see the stop; connections still in their handshake are refused.
                for slot in Array(state.slots.values) where slot.session != nil {
                    step(slot, received: [], woken: false, now: now, &state)
                }
                for slot in Array(state.slots.values) {
                    end(slot, error: WireError(.shuttingDown, "the hub is shutting down"), &state)
                }
                for arrival in arrivals.withLock({ $0 }) {
                    arrival.connection.fail(with: WireError(.shuttingDown, "the hub is shutting down"))
                    onClosed(arrival.host)
                }
                return
            }
            let timeout = Int32(clamping: max(0, Int64(state.nextTimerScan) - Int64(now)))
            let events = epoll.wait(timeoutMilliseconds: state.readAgain.isEmpty ? timeout : 0)
            let after = Clock.uptimeMilliseconds()
            // One turn, one commit: every session's writes of this turn (the batches of many branches) commit
            // together, and what the sessions send waits for that commit.
            store.beginGroup()
            state.inTurn = true
            defer { finishTurn(&state) }
            var woken = false
            for event in events {
                if event.token == Self.wakeToken {
                    wake.drain()
                    woken = true
                    continue
                }
                guard let slot = state.slots[event.token] else { continue }
                if event.readable || event.closed || event.writable {
                    serve(slot, readable: event.readable || event.closed, now: after, &state)
                }
            }
            for token in state.readAgain {
                state.readAgain.remove(token)
                if let slot = state.slots[token] { serve(slot, readable: true, now: after, &state) }
            }
            if woken {
                for arrival in arrivals.withLock({ list in
                    defer { list = [] }; return list
                }) {
                    accept(arrival, now: after, &state)
                }
            }
            // Another process (the CLI) wrote: a clearance change, a verify request, a local write.
            var fullCheck = false
            if woken || after >= lastLocalCheck + checkInterval {
                lastLocalCheck = after
                if let version = try? store.dataVersion(), version != lastDataVersion {
                    lastDataVersion = version
                    fullCheck = true
                }
            }
            let moved = logMoved.exchange(false, ordering: .acquiring)
            if fullCheck, let collected = try? store.collectedTotal(), collected != lastCollectedTotal {
                // Tombstones were collected (by 'gc' or the daemon's own round): the window may still hold their
                // entries. A site resyncing from the start would get them back (harmless tombstones, but the hub no
                // longer holds them, so verify would then differ): the window starts afresh at the log's head.
                lastCollectedTotal = collected
                recentLog.reset()
            }
            if fullCheck || moved {
                do { try recentLog.refresh(from: store) } catch {
                    logger.warning("cannot read the log's newest entries", [("error", "\(error)")])
                }
                for slot in Array(state.slots.values) where slot.session != nil {
                    if moved { slot.session?.logMoved() }
                    step(slot, received: [], woken: fullCheck, now: after, &state)
                }
            }
            if after >= state.nextBookkeepingFlush {
                state.nextBookkeepingFlush = after + Self.bookkeepingInterval
                flushBookkeeping(&state)
            }
            if after >= state.nextTimerScan {
                state.nextTimerScan = after + Self.timerResolution
                for slot in Array(state.slots.values) where slot.isDue(at: after) {
                    step(slot, received: [], woken: false, now: after, &state)
                }
            }
        }
    }

    // MARK: Turns

    /// Ends a turn: commits its writes, then sends what its sessions queued and closes the connections that ended.
    /// When the commit fails nothing of the turn was stored, so nothing it would have said may reach a branch: the
    /// sessions of the turn end with `TRY_LATER` (their branches send again) and the log window starts afresh.
    private func finishTurn(_ state: inout LoopState) {
        state.inTurn = false
        let held = state.held
        let closing = state.closing
        state.held = [:]
        state.closing = []
        do {
            try state.store.commitGroup()
        } catch {
            configuration.logger.error(
                "cannot store what the sessions received; they end and their branches send it again",
                [("error", "\(error)"), ("sessions", String(held.count))])
            state.recentLog.reset()
            let failure = WireError(.tryLater, "the hub could not store this session's changes; retry later")
            for slot in held.values where state.slots[slot.token] != nil {
                slot.connection.discardHeldOutput()
                end(slot, error: failure, &state)
            }
            for (slot, _) in closing {
                slot.connection.discardHeldOutput()
                close(slot, error: failure)
            }
            return
        }
        for slot in held.values where state.slots[slot.token] != nil {
            slot.connection.holdsOutput = false
            do {
                try slot.connection.flush()
                watchWrites(slot, &state)
            } catch {
                end(slot, error: error, &state)
            }
        }
        for (slot, error) in closing {
            slot.connection.holdsOutput = false
            close(slot, error: error)
        }
    }

    /// Holds what `slot` sends in this turn until the turn's commit.
    private func hold(_ slot: Slot, _ state: inout LoopState) {
        guard state.inTurn, state.held[slot.token] == nil else { return }
        slot.connection.holdsOutput = true
        state.held[slot.token] = slot
    }

    // MARK: One connection

    /// One connection on the loop.
    private final class Slot {
        let token: UInt64
        let connection: FramedConnection
        let host: String
        let peer: AuthenticatedPeer
        let logger: Logger
        var actor: AuditActor
        var phase: Phase
        var session: SyncSession?
        var established: EstablishedSession?
        var watchingWrites = false
        /// Whether the site is registered to this connection (it must be released at the end).
        var registered = false

        enum Phase {
            /// Waiting for an older session of the site to end, until the deadline.
            case registering(deadline: UInt64)
            /// `WELCOME` sent; `CURSOR` due by the deadline.
            case awaitingCursor(HubHandshake.Welcomed, deadline: UInt64)
            case streaming
        }

        init(token: UInt64, connection: FramedConnection, host: String, peer: AuthenticatedPeer, logger: Logger) {
            self.token = token
            self.connection = connection
            self.host = host
            self.peer = peer
            self.logger = logger
            actor = AuditActor(user: "sync", origin: "site \(peer.hello.site) at \(connection.peerAddress)")
            phase = .registering(deadline: 0)
        }

        func isDue(at now: UInt64) -> Bool {
            switch phase {
            case .registering: return true
            case .awaitingCursor(_, let deadline): return now >= deadline
            case .streaming: return session.map { now >= $0.nextDeadline } ?? false
            }
        }
    }

    /// The loop thread's own state.
    private struct LoopState {
        let store: NodeStore
        let epoll: Epoll
        /// The log's newest entries, read once for every session.
        let recentLog: RecentLog
        var slots: [UInt64: Slot] = [:]
        var nextToken: UInt64 = 1
        /// Connections with bytes possibly waiting that epoll will not report (TLS records already decrypted, or a
        /// read cut at its per-call limit).
        var readAgain: Set<UInt64> = []
        var nextTimerScan: UInt64 = 0
        var nextBookkeepingFlush: UInt64 = 0
        /// Whether a turn (one group commit) is open.
        var inTurn = false
        /// Connections whose output waits for the turn's commit.
        var held: [UInt64: Slot] = [:]
        /// Connections that ended in the turn, closed once its commit decided what they may still send.
        var closing: [(Slot, (any Error)?)] = []
    }

    /// Milliseconds between flushes of every session's acknowledged position and heartbeat.
    private static let bookkeepingInterval: UInt64 = 1_000

    /// Stores every session's acknowledged position and heartbeat in one transaction: they feed `status` only (a
    /// branch's own stated cursor is what resumption relies on), so a second's delay costs nothing and a thousand
    /// sessions make one commit a second, not a thousand.
    private func flushBookkeeping(_ state: inout LoopState) {
        let sessions = state.slots.values.compactMap(\.session)
        guard !sessions.isEmpty else { return }
        do {
            try state.store.inOneTransaction {
                for session in sessions { try session.flushBookkeeping() }
            }
        } catch {
            configuration.logger.warning(
                "cannot store the sessions' positions and heartbeats; status may lag", [("error", "\(error)")])
        }
    }

    private static let wakeToken: UInt64 = 0
    /// Milliseconds between scans for due timers (pings, handshake deadlines, silent peers).
    private static let timerResolution: UInt64 = 100

    private func accept(_ arrival: Arrival, now: UInt64, _ state: inout LoopState) {
        let token = state.nextToken
        state.nextToken += 1
        let site = arrival.peer.hello.site
        let slot = Slot(
            token: token, connection: arrival.connection, host: arrival.host, peer: arrival.peer,
            logger: configuration.logger.with("peer", site.rawValue).with("session", String(token))
                .with("peer-address", arrival.connection.peerAddress))
        do {
            try state.epoll.add(arrival.connection.fd, token: token)
        } catch {
            configuration.ledger.hit(.fileDescriptors, "cannot watch the session of \(site): \(error)")
            arrival.connection.fail(with: WireError(.tryLater, "the hub is at its limit of sessions; retry later"))
            onClosed(arrival.host)
            return
        }
        state.slots[token] = slot
        slot.phase = .registering(deadline: now + UInt64(configuration.options.duplicateSessionGrace * 1000))
        do {
            try arrival.connection.takeBufferedMessages()
        } catch {
            end(slot, error: error, &state)
            return
        }
        step(slot, received: [], woken: false, now: now, &state)
    }

    /// Reads what arrived (or writes what waited) and steps the connection's session.
    private func serve(_ slot: Slot, readable: Bool, now: UInt64, _ state: inout LoopState) {
        var received: [Message] = []
        if readable {
            do {
                received = try slot.connection.receiveAvailable()
            } catch {
                end(slot, error: error, &state)
                return
            }
            if slot.connection.mayHoldUnreadInput { state.readAgain.insert(slot.token) }
        }
        step(slot, received: received, woken: false, now: now, &state)
    }

    /// Advances one connection: its handshake, then its session.
    private func step(_ slot: Slot, received: [Message], woken: Bool, now: UInt64, _ state: inout LoopState) {
        guard state.slots[slot.token] != nil else { return }
        hold(slot, &state)
        let store = state.store
        store.actor = slot.actor
        var received = slot.connection.pendingHandshakeMessages + received
        slot.connection.pendingHandshakeMessages = []
        do {
            switch slot.phase {
            case .registering(let deadline):
                let site = slot.peer.hello.site
                if let other = configuration.registry.register(
                    site, token: slot.token, wake: wake, address: slot.connection.peerAddress)
                {
                    guard now >= deadline else {
                        slot.connection.pendingHandshakeMessages = received
                        return
                    }
                    throw WireError(.duplicateSession, "site \(site) already has a session open from \(other)")
                }
                slot.registered = true
                try HubHandshake.checkEnrolled(site, store: store)
                let welcomed = try HubHandshake.welcome(
                    slot.peer, connection: slot.connection, store: store, logger: slot.logger)
                slot.phase = .awaitingCursor(
                    welcomed, deadline: now + UInt64(configuration.options.handshakeTimeout * 1000))
                try slot.connection.flush()
                slot.connection.pendingHandshakeMessages = received
                if !received.isEmpty { step(slot, received: [], woken: false, now: now, &state) }
                return
            case .awaitingCursor(let welcomed, let deadline):
                guard !received.isEmpty else {
                    if now >= deadline {
                        throw WireError(
                            .timeout,
                            "no CURSOR within \(Int(configuration.options.handshakeTimeout)) s of WELCOME")
                    }
                    return
                }
                guard case .cursor(let cursor) = received.removeFirst() else {
                    throw WireError(.unexpectedMessage, "expected CURSOR")
                }
                let established = try HubHandshake.established(welcomed, cursor: cursor, store: store)
                try startSession(slot, established, store: store, recentLog: state.recentLog)
                slot.phase = .streaming
            case .streaming:
                break
            }
            guard let session = slot.session else { return }
            if try session.step(received: received, woken: woken, now: now) {
                end(slot, error: nil, &state)
                return
            }
            watchWrites(slot, &state)
        } catch {
            end(slot, error: error, &state)
        }
    }

    private func startSession(
        _ slot: Slot, _ established: EstablishedSession, store: NodeStore, recentLog: RecentLog
    ) throws {
        let log = slot.logger
        slot.established = established
        try store.recordSessionStart(
            established.peer, software: established.peerSoftware,
            clockSkewMilliseconds: established.clockSkewMilliseconds)
        log.info(
            "session started",
            [
                ("cursor", String(established.outboundCursor)),
                ("clock-skew-ms", String(established.clockSkewMilliseconds)),
            ])
        if established.clockSkewMilliseconds.magnitude > configuration.options.clockSkewWarning.magnitude {
            log.warning("clock skew beyond threshold", [("skew-ms", String(established.clockSkewMilliseconds))])
        }
        if established.plan?.staleResync == true {
            log.warning("full resync with a site that was silent past the GC horizon")
        }
        if let plan = established.plan, !plan.reasons.isEmpty {
            log.warning(
                "restore detected at the handshake; streams restart from the beginning",
                [
                    ("hub-restored", String(plan.hubRegressed)), ("branch-restored", String(plan.branchRegressed)),
                    ("reasons", plan.reasons.joined(separator: "; ")),
                ])
        }
        var options = configuration.options
        // The loop looks for other processes' writes once for every session (`PRAGMA data_version`).
        options.localCheckInterval = Double(UInt32.max)
        let ledger = configuration.ledger
        let session = SyncSession(
            connection: slot.connection, store: store, session: established, options: options, logger: log,
            stop: configuration.stop, stopWhenCaughtUp: false,
            hubLimits: HubSessionLimits(
                quarantineQuota: configuration.limits.maximumQuarantinePerSite,
                report: { limit, detail in ledger.hit(limit, detail) }),
            recentLog: recentLog, driverFlushesBookkeeping: true,
            onIncomingApplied: { [weak self, activity = configuration.activity, peer = established.peer] applied in
                activity.noteApplied(applied, from: peer)
                self?.noteLogMoved()
            })
        try session.begin(now: Clock.uptimeMilliseconds())
        slot.session = session
    }

    /// Watches the socket for writability while output waits, and only then.
    private func watchWrites(_ slot: Slot, _ state: inout LoopState) {
        let pending = slot.connection.pendingOutputCount > 0
        guard pending != slot.watchingWrites else { return }
        if (try? state.epoll.modify(slot.connection.fd, token: slot.token, writable: pending)) != nil {
            slot.watchingWrites = pending
        }
    }

    /// Ends a connection: stores why; tells the peer and frees the site and the connection's place now, or at the end
    /// of the turn when one is open.
    private func end(_ slot: Slot, error: (any Error)?, _ state: inout LoopState) {
        guard state.slots.removeValue(forKey: slot.token) != nil else { return }
        state.readAgain.remove(slot.token)
        state.epoll.remove(slot.connection.fd)
        let site = slot.peer.hello.site
        if let session = slot.session {
            state.store.actor = slot.actor
            session.finish()
            if let error {
                try? state.store.recordSessionEnd(site, error: "\(error)")
                slot.logger.warning("session failed", [("error", "\(error)")])
            } else {
                try? state.store.recordSessionEnd(site, error: nil)
                let summary = session.summarySoFar
                slot.logger.info(
                    "session ended", [("sent", String(summary.sent)), ("received", String(summary.received))])
            }
        } else if let error {
            slot.logger.warning("handshake refused", [("error", "\(error)")])
        }
        if state.inTurn {
            state.closing.append((slot, error))
        } else {
            close(slot, error: error)
        }
    }

    /// Tells the peer why (if it failed), closes the connection, frees the site and the connection's place.
    private func close(_ slot: Slot, error: (any Error)?) {
        if let error {
            slot.connection.fail(with: error)
        } else {
            try? slot.connection.flush()
            slot.connection.close()
        }
        if slot.registered { configuration.registry.unregister(slot.peer.hello.site, token: slot.token) }
        onClosed(slot.host)
    }
}
