import BranchSyncCore
import BranchSyncStore
import BranchSyncWire
import Foundation
@preconcurrency import Glibc
import Synchronization

/// The hub's network side: accepts branch connections and runs one session per branch, each on its own thread with
/// its own SQLite connection to the hub's database. A bad peer ends only its own session.
public final class HubServer: Sendable {
    private let directory: String
    private let options: SessionOptions
    private let logger: Logger
    private let software: String
    /// The live sessions; wake them to push new local changes at once.
    public let registry = SessionRegistry()
    private let stopSignal = StopSignal()
    private let listener = Mutex<Int32>(-1)
    private let group = DispatchGroup()
    private let tls: TLSContext?

    /// - Parameters:
    ///   - directory: the hub's data directory.
    ///   - tls: when given, every connection starts with a TLS handshake (`Protocol.md` §5).
    ///   - software: the version string sent in the handshake.
    public init(
        directory: String, options: SessionOptions = SessionOptions(), tls: TLSContext? = nil, logger: Logger,
        software: String
    ) {
        self.directory = directory
        self.options = options
        self.tls = tls
        self.logger = logger
        self.software = software
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
        let (host, port) = try Socket.parseAddress(address)
        let (fd, bound) = try Socket.listen(host: host, port: port)
        listener.withLock { $0 = fd }
        let log = logger.with("site", store.identity.site.rawValue)
        log.info("hub listening", [("address", "\(host):\(bound)")])
        group.enter()
        Thread.detachNewThread { [self] in
            defer { group.leave() }
            acceptLoop(fd, logger: log)
        }
        return bound
    }

    private func acceptLoop(_ fd: Int32, logger: Logger) {
        while !stopSignal.isStopped {
            var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pollFD, 1, 200) > 0 else { continue }
            while let (client, address) = Socket.accept(fd) {
                group.enter()
                Thread.detachNewThread { [self] in
                    defer { group.leave() }
                    serve(client, address: address, logger: logger.with("peer-address", address))
                }
            }
        }
    }

    private func serve(_ fd: Int32, address: String, logger: Logger) {
        let connection = FramedConnection(fd: fd, peerAddress: address)
        if let tls {
            do {
                let session = try TLSSession(context: tls, fd: fd, host: nil)
                try session.handshake(fd: fd, server: true, timeout: options.handshakeTimeout)
                connection.tls = session
            } catch {
                logger.warning("TLS handshake refused", [("error", "\(error)")])
                connection.close()
                return
            }
        }
        let wake = WakeSignal()
        var established: EstablishedSession?
        do {
            let store = try NodeStore.open(
                directory: directory, actor: AuditActor(user: "sync", origin: "session \(address)"))
            let session = try HubHandshake.perform(
                connection: connection, store: store, registry: registry, wake: wake, software: software,
                options: options, logger: logger)
            established = session
            defer { registry.unregister(session.peer, wake: wake) }
            let log = logger.with("peer", session.peer.rawValue)
            store.actor = AuditActor(user: "sync", origin: "site \(session.peer) at \(address)")
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
                stop: stopSignal, stopWhenCaughtUp: false, onIncomingApplied: { [registry] in registry.wakeAll() })
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
        listener.withLock {
            if $0 >= 0 { close($0) }
            $0 = -1
        }
    }

    /// Blocks until ``stop(timeout:)`` has been called and every thread has ended.
    public func waitUntilStopped() {
        group.wait()
    }
}
