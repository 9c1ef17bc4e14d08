import BranchSyncCore
import BranchSyncStore
import BranchSyncWire
import Foundation
@preconcurrency import Glibc
import Synchronization

/// The hub's network side, three threads whatever the number of branches: a gate with epoll (``HubGate``) accepts
/// every connection and runs each handshake up to the checked proof; the session loop (``HubSessionLoop``, epoll,
/// one SQLite connection) runs every logged-in branch's session; a housekeeping thread refreshes the in-memory
/// verifiers and stores limit counts. A bad peer ends only its own connection.
public final class HubServer: Sendable {
    /// Checks a listening address (`HOST:PORT`, `[::1]:PORT`) without binding it.
    /// - Throws: ``NodeError`` saying what is wrong.
    public static func checkListenAddress(_ text: String) throws {
        _ = try Socket.parseAddress(text)
    }

    private let directory: String
    private let options: SessionOptions
    private let limits: HubLimits
    private let logger: Logger
    private let software: String
    /// The live sessions; wake them to push new local changes at once.
    public let registry = SessionRegistry()
    /// What the metrics endpoint reads besides the database: changes applied, the session loop's liveness.
    public let activity = NodeActivity()
    private let stopSignal = StopSignal()
    private let group = DispatchGroup()
    private let tls: TLSContext?
    private let ledger: LimitLedger
    private let book: Mutex<ConnectionBook?> = Mutex(nil)
    private let credentials: Mutex<CredentialCache?> = Mutex(nil)
    private let loop: Mutex<HubSessionLoop?> = Mutex(nil)

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
        let sessions = try HubSessionLoop(
            configuration: HubSessionLoop.Configuration(
                directory: directory, options: options, limits: limits, registry: registry, ledger: ledger,
                stop: stopSignal, logger: log, activity: activity),
            onClosed: { host in connections.release(host: host) })
        loop.withLock { $0 = sessions }
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
            ) { connection, peer, host in
                sessions.admit(connection, peer: peer, host: host)
            }
        } catch {
            close(fd)
            throw error
        }
        log.info("hub listening", [("address", "\(host):\(bound)")])
        let unsafeGate = UnsafeTransfer(gate)
        group.enter()
        // Named threads: `top -H`, `ps -L` and `perf` show which of the three is busy.
        Thread.detachNewThread { [self] in
            Thread.current.name = "hub-gate"
            defer { group.leave() }
            unsafeGate.value.run(until: stopSignal)
            close(fd)
        }
        group.enter()
        Thread.detachNewThread { [self] in
            Thread.current.name = "hub-sessions"
            defer { group.leave() }
            sessions.run()
        }
        group.enter()
        Thread.detachNewThread { [self] in
            Thread.current.name = "hub-housekeeping"
            defer { group.leave() }
            housekeeping(credentials: credentials, logger: log)
        }
        return bound
    }

    /// Once a second: reloads the verifiers if the database changed, stores the limit hits counted meanwhile, and
    /// checkpoints the log (the session loop's commits leave that to this thread).
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
            do { try store.checkpointPassively() } catch {
                logger.warning("cannot checkpoint the database's log", [("error", "\(error)")])
            }
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

    /// Stops accepting, tells every session to end with `BYE`, and waits (at most `timeout` seconds) for them.
    public func stop(timeout: Double = 5) {
        stopSignal.stop()
        loop.withLock { $0?.wake.signal() }
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
