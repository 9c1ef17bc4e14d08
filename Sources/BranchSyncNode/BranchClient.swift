import BranchSyncCore
import BranchSyncCrypto
import BranchSyncStore
import BranchSyncWire
import Foundation
import Synchronization

/// The branch's network side: connects to its hub and syncs, once or for as long as it runs, reconnecting with
/// capped exponential backoff and jitter.
public final class BranchClient: Sendable {
    private let directory: String
    private let options: SessionOptions
    private let logger: Logger
    private let software: String
    private let hubAddressOverride: String?
    private let stopSignal = StopSignal()
    private let currentWake = Mutex<WakeSignal?>(nil)
    /// What the metrics endpoint reads besides the database: the session's state, changes applied.
    public let activity = NodeActivity()
    /// Sessions started so far; the number names a session in the log (`session=3`).
    private let sessionsStarted = Atomic<Int>(0)

    /// The key under which the branch keeps its enrolment secret (hex) in its metadata.
    public static let secretKey = "hub_secret"
    /// The key under which the branch keeps the PEM certificates it trusts for the hub's TLS, if TLS is used.
    public static let tlsTrustKey = "hub_tls_ca"

    public init(
        directory: String, hubAddress: String? = nil, options: SessionOptions = SessionOptions(), logger: Logger,
        software: String
    ) {
        self.directory = directory
        self.hubAddressOverride = hubAddress
        self.options = options
        self.logger = logger
        self.software = software
    }

    /// Syncs until caught up both ways, then closes.
    /// - Parameter progress: called as incoming batches are applied.
    /// - Throws: ``NodeError`` when the hub is unreachable or refuses; storage errors.
    public func syncOnce(progress: ((SyncProgress) -> Void)? = nil) throws -> SessionSummary {
        try connectAndRun(stopWhenCaughtUp: true, progress: progress)
    }

    /// Stays connected until ``stop()``: syncs, pushes new local changes at once, reconnects after failures.
    /// - Throws: ``NodeError`` only for failures a retry cannot fix (wrong secret, unknown site, not a branch).
    public func runForever() throws {
        // The session's commits leave checkpoints to this thread, so a change's way to the hub never waits for one.
        let checkpointsEnd = StopSignal()
        defer { checkpointsEnd.stop() }
        Thread.detachNewThread { [directory, stopSignal, logger] in
            Thread.current.name = "branch-checkpoints"
            Self.checkpointEverySecond(directory: directory, until: [stopSignal, checkpointsEnd], logger: logger)
        }
        defer { activity.noteLoopEnded() }
        var failures = 0
        while !stopSignal.isStopped {
            activity.noteLoopAlive()
            do {
                _ = try connectAndRun(stopWhenCaughtUp: false, progress: nil)
                failures = 0
            } catch let error as NodeError where !error.isRetryable {
                throw error
            } catch {
                failures += 1
                let delay = Self.backoff(failures: failures)
                logger.warning(
                    "sync failed; retrying", [("error", "\(error)"), ("retry-in-s", String(format: "%.1f", delay))])
                sleepUnlessStopped(delay)
            }
        }
    }

    /// Copies the database's log into its file once a second on its own connection, until one of `stops` fires.
    private static func checkpointEverySecond(directory: String, until stops: [StopSignal], logger: Logger) {
        var store: NodeStore?
        var failing = false
        while !stops.contains(where: \.isStopped) {
            for _ in 0..<10 where !stops.contains(where: \.isStopped) { usleep(100_000) }
            do {
                let opened =
                    try store ?? NodeStore.open(directory: directory, actor: AuditActor(user: "sync", origin: "daemon"))
                store = opened
                try opened.checkpointPassively()
                failing = false
            } catch {
                // Said once per run of failures; the session's own commits checkpoint past about 40 MB meanwhile.
                if !failing { logger.warning("cannot checkpoint the database's log", [("error", "\(error)")]) }
                failing = true
            }
        }
    }

    /// The delay before retry number `failures`: 0.5 s doubling to at most 30 s, with ±50% jitter so that branches
    /// cut off together do not reconnect together.
    public static func backoff(failures: Int) -> Double {
        let base = min(30, 0.5 * pow(2, Double(min(failures - 1, 10))))
        return base * Double.random(in: 0.5...1.5)
    }

    /// Wakes the session so a change just written in this process goes out at once.
    public func notifyLocalChange() {
        currentWake.withLock { $0?.signal() }
    }

    /// Ends the session with `BYE` and stops reconnecting.
    public func stop() {
        stopSignal.stop()
        notifyLocalChange()
    }

    /// Waits before a retry; the loop stays alive meanwhile (waiting is what it should be doing).
    private func sleepUnlessStopped(_ seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while !stopSignal.isStopped && Date() < deadline {
            activity.noteLoopAlive()
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    private func connectAndRun(stopWhenCaughtUp: Bool, progress: ((SyncProgress) -> Void)?) throws -> SessionSummary {
        let store = try NodeStore.open(directory: directory, actor: AuditActor(user: "sync", origin: "daemon"))
        // A daemon's checkpoints run on their own thread; a `sync --once` checkpoints in its commits, but only past
        // about 40 MB of log too: a bulk sync (a new branch's bootstrap) then copies each page it rewrites once per
        // 40 MB instead of once per 4 MB (SQLite's default), and the end of the sync checkpoints what is left.
        try store.deferCheckpoints()
        defer { if stopWhenCaughtUp { _ = try? store.checkpointPassively() } }
        guard store.identity.role == .branch else {
            throw NodeError(
                "this node is the hub; run it with 'branchsync run --listen HOST:PORT'", code: .configuration)
        }
        guard let address = hubAddressOverride ?? store.identity.hubAddress else {
            throw NodeError(
                "this branch has no hub address; run 'branchsync join --hub HOST:PORT --secret-file FILE'",
                code: .configuration)
        }
        guard let secretHex = try store.metadata(Self.secretKey), let secret = bytes(fromHex: secretHex) else {
            throw NodeError(
                "this branch has no enrolment secret; run 'branchsync join --hub HOST:PORT --secret-file FILE'",
                code: .configuration)
        }
        let (host, port) = try Socket.parseAddress(address)
        // Each stage below is bounded by the handshake timeout; noting the loop alive between them keeps a branch
        // whose hub is slow to answer healthy, while one stuck anywhere goes stale (MetricsCollector).
        activity.noteLoopAlive()
        let fd = try Socket.connect(host: host, port: port, timeout: options.handshakeTimeout)
        let connection = FramedConnection(fd: fd, peerAddress: address)
        defer { connection.close() }
        activity.noteLoopAlive()
        let trusted = try store.metadata(Self.tlsTrustKey)
        if let trusted {
            let tls = try TLSSession(context: try TLSContext.client(trustedPEM: trusted), fd: fd, host: host)
            do {
                try tls.handshake(fd: fd, server: false, timeout: options.handshakeTimeout)
            } catch let error as NodeError {
                throw NodeError(
                    "\(error.message) with the hub at \(address) (does it run with --tls-cert, and is its certificate "
                        + "signed by the CA given with --tls-ca?)", code: .configuration)
            }
            connection.tls = tls
            activity.noteLoopAlive()
        }
        let wake = try WakeSignal()
        currentWake.withLock { $0 = wake }
        defer { currentWake.withLock { $0 = nil } }
        let session: EstablishedSession
        do {
            session = try BranchHandshake.perform(
                connection: connection, store: store, secret: secret, software: software, options: options)
        } catch let error as WireError {
            connection.fail(with: error)
            throw NodeError("the hub at \(address) failed the handshake: \(error)", code: .connection)
        } catch let error as NodeError where trusted == nil && error.code == .connection {
            // The hub's refusals explain themselves; a dropped connection may mean the hub wants TLS.
            throw NodeError(
                "the hub at \(address) closed the connection during the handshake (\(error.message)); if it requires "
                    + "TLS, give this branch its CA with 'branchsync join --hub \(address) --secret-file FILE --tls-ca FILE'",
                code: .connection)
        }
        activity.noteLoopAlive()
        if session.plan?.staleResync == true {
            logger.warning(
                "the hub asked for a full resync: this site was silent past its GC horizon; copies of records deleted "
                    + "and collected meanwhile are forgotten")
        }
        if let plan = session.plan, !plan.reasons.isEmpty {
            logger.warning(
                "restore detected at the handshake; streams restart from the beginning",
                [
                    ("hub-restored", String(plan.hubRegressed)), ("branch-restored", String(plan.branchRegressed)),
                    ("reasons", plan.reasons.joined(separator: "; ")),
                ])
        }
        let log = logger.with("site", store.identity.site.rawValue).with("peer", session.peer.rawValue)
            .with("session", String(sessionsStarted.add(1, ordering: .relaxed).newValue))
        store.actor = AuditActor(user: "sync", origin: "hub \(session.peer) at \(address)")
        try store.recordSessionStart(
            session.peer, software: session.peerSoftware, clockSkewMilliseconds: session.clockSkewMilliseconds)
        log.info("connected to hub", [("address", address), ("clock-skew-ms", String(session.clockSkewMilliseconds))])
        activity.noteConnected(true)
        defer { activity.noteConnected(false) }
        let sync = SyncSession(
            connection: connection, store: store, session: session, options: options, logger: log,
            stop: stopSignal, stopWhenCaughtUp: stopWhenCaughtUp, progress: progress,
            onIncomingApplied: { [activity, peer = session.peer] in activity.noteApplied($0, from: peer) })
        do {
            let summary = try sync.run(on: connection, wake: wake) { [activity] in activity.noteLoopAlive() }
            try? store.recordSessionEnd(session.peer, error: nil)
            return summary
        } catch {
            try? store.recordSessionEnd(session.peer, error: "\(error)")
            connection.fail(with: error)
            throw error
        }
    }
}
