import BranchSyncCore
import BranchSyncStore
import BranchSyncWire
import Foundation
@preconcurrency import Glibc
import Synchronization

/// The hub's network side. A gate thread with epoll (``HubGate``) accepts every connection and runs each handshake up
/// to the checked proof; an authenticated branch then gets a session thread with its own SQLite connection. A
/// housekeeping thread refreshes the in-memory verifiers and stores limit counts. A bad peer ends only its own
/// connection.
public final class HubServer: Sendable {
    private let directory: String
    private let options: SessionOptions
    private let limits: HubLimits
    private let logger: Logger
    private let software: String
    /// The live sessions; wake them to push new local changes at once.
    public let registry = SessionRegistry()
    private let stopSignal = StopSignal()
    private let group = DispatchGroup()
    private let tls: TLSContext?
    private let ledger: LimitLedger
    private let book: Mutex<ConnectionBook?> = Mutex(nil)
    private let credentials: Mutex<CredentialCache?> = Mutex(nil)

    /// - Parameters:
    ///   - directory: the hub's data directory.
    ///   - tls: when given, every connection starts with a TLS handshake (`Protocol.md` §5).
    ///   - limits: connection limits (logged and counted in `status` when hit).
    ///   - software: the version string sent in the handshake.
    public init(
        directory: String, options: SessionOptions = SessionOptions(), limits: HubLimits = HubLimits(),
        tls: TLSContext? = nil, logger: Logger, software: String
    ) {
        self.directory = directory
        self.options = options
        self.limits = limits
        self.tls = tls
        self.logger = logger
        self.software = software
        ledger = LimitLedger(logger: logger)
    }

    /// Binds `address` (`HOST:PORT`, port 0 for any) and starts accepting.
    /// - Returns: the port bound.
    /// - Throws: ``NodeError`` if the address cannot be bound; ``StorageError`` if the node is not a hub.
    public func start(listeningOn address: String) throws -> UInt16 {
        let store = try NodeStore.open(directory: directory, actor: AuditActor(user: "hub", origin: "daemon"))
        guard store.identity.role == .hub else {
            throw NodeError(
                "this node is a branch; a branch syncs with 'branchsync run' without --listen", code: .configuration)
        }
        try store.markAllPeersOffline()
        try store.preparePositionKey()
        let log = logger.with("site", store.identity.site.rawValue)
        let (before, after) = DescriptorLimit.raiseToHardLimit()
        let connections = ConnectionBook(
            maximum: limits.effectiveMaximumConnections, maximumPerAddress: limits.maximumConnectionsPerAddress)
        book.withLock { $0 = connections }
        log.info(
            "file descriptors",
            [
                ("soft-limit", String(after)), ("raised-from", String(before)),
                ("session-capacity", String(DescriptorLimit.sessionCapacity)),
                ("max-connections", String(connections.maximum)),
                ("max-connections-per-address", String(connections.maximumPerAddress)),
            ])
        let credentials = try CredentialCache(
            store: try NodeStore.open(directory: directory, actor: AuditActor(user: "hub", origin: "gate")))
        self.credentials.withLock { $0 = credentials }
        let (host, port) = try Socket.parseAddress(address)
        let (fd, bound) = try Socket.listen(host: host, port: port)
        let gate: HubGate
        do {
            gate = try HubGate(
                listener: fd,
                configuration: HubGate.Configuration(
                    hubSite: store.identity.site, software: software, tls: tls,
                    handshakeTimeout: options.handshakeTimeout, book: connections, ledger: ledger,
                    credentials: credentials, logger: log)
            ) { [self] connection, peer, host in
                startSession(connection, peer: peer, host: host, book: connections, logger: log)
            }
        } catch {
            close(fd)
            throw error
        }
        log.info("hub listening", [("address", "\(host):\(bound)")])
        let unsafeGate = UnsafeTransfer(gate)
        group.enter()
        Thread.detachNewThread { [self] in
            defer { group.leave() }
            unsafeGate.value.run(until: stopSignal)
            close(fd)
        }
        group.enter()
        Thread.detachNewThread { [self] in
            defer { group.leave() }
            housekeeping(credentials: credentials, logger: log)
        }
        return bound
    }

    /// Once a second: reloads the verifiers if the database changed, stores the limit hits counted meanwhile.
    private func housekeeping(credentials: CredentialCache, logger: Logger) {
        // Opened and closed on this thread, before the thread reports that it ended.
        let store: NodeStore
        do { store = try NodeStore.open(directory: directory, actor: AuditActor(user: "hub", origin: "daemon")) } catch
        {
            logger.error("housekeeping cannot open the database; limit counts are not stored", [("error", "\(error)")])
            return
        }
        while !stopSignal.isStopped {
            for _ in 0..<10 where !stopSignal.isStopped { usleep(100_000) }
            do { try credentials.refreshIfChanged() } catch {
                logger.warning("cannot reload the branches' verifiers", [("error", "\(error)")])
            }
            for (site, failure) in ledger.takeFailedLogins() {
                let at = Timestamp.iso8601(milliseconds: failure.atMilliseconds)
                try? store.recordPeerError(
                    site, error: "login failed from \(failure.address) at \(at) (\(failure.count) time(s))")
            }
            let hits = ledger.takeUnflushed()
            do {
                try store.recordLimitHits(
                    hits.map {
                        (
                            name: $0.key.rawValue, count: $0.value.count, atMilliseconds: $0.value.lastAtMilliseconds,
                            detail: $0.value.lastDetail
                        )
                    })
            } catch {
                ledger.restore(hits)
                logger.warning("cannot store limit counts", [("error", "\(error)")])
            }
        }
    }

    /// Runs an authenticated branch's session on a thread of its own.
    private func startSession(
        _ connection: FramedConnection, peer: AuthenticatedPeer, host: String, book: ConnectionBook, logger: Logger
    ) {
        let transfer = UnsafeTransfer(connection)
        group.enter()
        Thread.detachNewThread { [self] in
            defer {
                book.release(host: host)
                group.leave()
            }
            serve(
                transfer.value, peer: peer, logger: logger.with("peer-address", transfer.value.peerAddress))
        }
    }

    private func serve(_ connection: FramedConnection, peer authenticated: AuthenticatedPeer, logger: Logger) {
        let wake: WakeSignal
        do { wake = try WakeSignal() } catch {
            ledger.hit(.fileDescriptors, "no descriptor for a session of \(authenticated.hello.site)")
            connection.fail(with: WireError(.tryLater, "the hub is out of file descriptors; retry later"))
            return
        }
        var established: EstablishedSession?
        do {
            try connection.takeBufferedMessages()
            let store = try NodeStore.open(
                directory: directory, actor: AuditActor(user: "sync", origin: "session \(connection.peerAddress)"))
            let session = try HubHandshake.complete(
                authenticated, connection: connection, store: store, registry: registry, wake: wake,
                options: options, logger: logger)
            established = session
            defer { registry.unregister(session.peer, wake: wake) }
            let log = logger.with("peer", session.peer.rawValue)
            store.actor = AuditActor(user: "sync", origin: "site \(session.peer) at \(connection.peerAddress)")
            try store.recordSessionStart(
                session.peer, software: session.peerSoftware, clockSkewMilliseconds: session.clockSkewMilliseconds)
            log.info(
                "session started",
                [("cursor", String(session.outboundCursor)), ("clock-skew-ms", String(session.clockSkewMilliseconds))])
            if session.clockSkewMilliseconds.magnitude > options.clockSkewWarning.magnitude {
                log.warning("clock skew beyond threshold", [("skew-ms", String(session.clockSkewMilliseconds))])
            }
            if let plan = session.plan, !plan.reasons.isEmpty {
                log.warning(
                    "restore detected at the handshake; streams restart from the beginning",
                    [
                        ("hub-restored", String(plan.hubRegressed)), ("branch-restored", String(plan.branchRegressed)),
                        ("reasons", plan.reasons.joined(separator: "; ")),
                    ])
            }
            let sync = SyncSession(
                connection: connection, store: store, session: session, options: options, logger: log, wake: wake,
                stop: stopSignal, stopWhenCaughtUp: false,
                hubLimits: HubSessionLimits(
                    quarantineQuota: limits.maximumQuarantinePerSite,
                    report: { [ledger] limit, detail in ledger.hit(limit, detail) }),
                onIncomingApplied: { [registry] in registry.wakeAll() })
            do {
                let summary = try sync.run()
                try? store.recordSessionEnd(session.peer, error: nil)
                log.info("session ended", [("sent", String(summary.sent)), ("received", String(summary.received))])
            } catch {
                try? store.recordSessionEnd(session.peer, error: "\(error)")
                log.warning("session failed", [("error", "\(error)")])
                connection.fail(with: error)
            }
        } catch {
            if established == nil {
                logger.warning("handshake refused", [("error", "\(error)")])
            }
            connection.fail(with: error)
        }
        connection.close()
    }

    /// Stops accepting, tells every session to end with `BYE`, and waits (at most `timeout` seconds) for them.
    public func stop(timeout: Double = 5) {
        stopSignal.stop()
        registry.wakeAll()
        _ = group.wait(timeout: .now() + timeout)
        credentials.withLock {
            $0?.close()
            $0 = nil
        }
    }

    /// Blocks until ``stop(timeout:)`` has been called and every thread has ended.
    public func waitUntilStopped() {
        group.wait()
    }
}

/// Moves a non-`Sendable` value to the one thread that will own it from then on.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    // @unchecked: the sender never touches `value` again after handing it over.
    let value: Value

    init(_ value: Value) { self.value = value }
}
