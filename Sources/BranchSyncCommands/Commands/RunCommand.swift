import BranchSyncCore
import BranchSyncNode
import BranchSyncStore
import Dispatch
import Foundation

/// `branchsync run`: the daemon. A hub listens for branches; a branch stays connected to its hub.
enum RunCommand {
    static let spec = CommandSpec(
        name: "run",
        abstract: "run the node: a hub serves its branches, a branch stays connected to its hub",
        discussion: """
            Logs go to standard error, or to --log-file. SIGINT or SIGTERM ends every session with BYE and exits 0. \
            SIGHUP reopens the log file (after logrotate renamed it) and re-reads the config file: --verbose, \
            --log-file and --log-format change at once, other options at the next start (the log line says \
            which). A branch \
            reconnects after failures with capped exponential backoff and jitter; it gives up only when the hub \
            refuses it for good (unknown site, wrong secret).
            """
                + metricsDiscussion,
        options: [
            OptionSpec(
                "listen", value: "HOST:PORT", help: "hub: where to listen (default 0.0.0.0:7700; port 0 picks one)"),
            OptionSpec("port-file", value: "PATH", help: "hub: write the port actually bound to this file"),
            OptionSpec(
                "hub", value: "HOST:PORT", help: "branch: connect here instead of the address given at init/join"),
            OptionSpec("tls-cert", value: "PEM", help: "hub: require TLS 1.3 with this certificate chain"),
            OptionSpec("tls-key", value: "PEM", help: "hub: the private key of --tls-cert"),
            OptionSpec(
                "check-interval", value: "SECONDS",
                help: "how often to look for changes written by other processes that did not poke (default 0.5)"),
            OptionSpec(
                "max-connections", value: "N",
                help: "hub: connections at most (default: as many as the file descriptor limit allows)"),
            OptionSpec(
                "max-connections-per-address", value: "N",
                help: "hub: connections at most from one address (default 64)"),
            OptionSpec(
                "max-quarantine-per-site", value: "N",
                help: "hub: open quarantine rows one branch may have before the hub applies nothing more of it "
                    + "(default 10000)"),
            OptionSpec(
                "gc-interval", value: "DURATION", help: "hub: how often to collect tombstones (default 1h; see 'gc')"),
            OptionSpec(
                "gc-horizon", value: "DURATION",
                help: "hub: how long a site may be silent before it stops holding tombstones back (default 30d)"),
            OptionSpec(
                "gc-min-age", value: "DURATION", help: "hub: collect only tombstones at least this old (default 2d)"),
            .flag("verbose", help: "log every batch"),
        ] + metricsOptions + RunLogging.options,
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        // A SIGHUP before its handler is installed (a 'systemctl reload' while the store opens) must not end the
        // daemon: systemd takes that for a clean exit and would not restart it.
        signal(SIGHUP, SIG_IGN)
        // A process starts with its parent's blocked signals: a supervisor (or a test runner's thread) that blocks
        // SIGTERM would leave the daemon unable to stop. Every thread started from here inherits this mask.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        for number in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&stopSignals, number) }
        pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
        let settings = try Settings(invocation)
        // The lock first: this daemon is then the node's only one, and migrates the database (an older daemon still
        // running keeps the lock; a command beside this one refuses to migrate, and one racing it finds each
        // migration already applied inside its write).
        let lock: DaemonLock
        do { lock = try DaemonLock(directory: invocation.dataDirectory) } catch let error as NodeError {
            // An uninitialized directory says so, not that its lock file cannot be made.
            guard FileManager.default.fileExists(atPath: NodeStore.databasePath(in: invocation.dataDirectory)) else {
                _ = try invocation.openStore()
                throw error
            }
            throw CLIError(exitCode: ExitCode.failure, message: error.message)
        }
        defer { withExtendedLifetime(lock) {} }
        let store = try NodeStore.open(directory: invocation.dataDirectory, actor: invocation.actor)
        try NodeStore.checkPrivate(directory: invocation.dataDirectory)
        let logging = try RunLogging(invocation)
        let logger = logging.logger
        let hangups = logging.reloadOnHangup()
        defer { hangups.cancel() }
        let stopped = DispatchSemaphore(value: 0)
        // Not ignored first: Dispatch installs its own handler, and a SIGTERM before that (or, ignored, between the
        // two) must still stop the daemon, not be dropped.
        let signals = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stopped.signal() }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        var options = SessionOptions()
        if let seconds = settings.checkInterval { options.localCheckInterval = seconds }
        switch store.identity.role {
        case .hub:
            var tls: TLSContext?
            if let (certificate, key) = settings.tls {
                do { tls = try TLSContext.server(certificateFile: certificate, keyFile: key) } catch let error
                    as NodeError
                {
                    throw CLIError(exitCode: ExitCode.failure, message: error.message)
                }
            }
            let collector = TombstoneCollector(
                directory: invocation.dataDirectory, intervalMilliseconds: settings.gcIntervalMilliseconds,
                horizonMilliseconds: settings.gcHorizonMilliseconds,
                minimumAgeMilliseconds: settings.gcMinimumAgeMilliseconds, logger: logger)
            defer { collector.stop() }
            let server = HubServer(
                directory: invocation.dataDirectory, options: options, limits: settings.limits, tls: tls,
                logger: logger,
                software: BranchSyncTool.version)
            let metrics = try startMetrics(
                invocation, role: .hub, activity: server.activity, registry: server.registry, logger: logger)
            defer { metrics?.stop() }
            let address = invocation.value("listen") ?? "0.0.0.0:7700"
            let port: UInt16
            do { port = try server.start(listeningOn: address) } catch let error as NodeError {
                throw CLIError(exitCode: ExitCode.failure, message: error.message)
            }
            try writePort(port, toFileOf: "port-file", invocation) { server.stop() }
            // CLI writes on this node poke the daemon so they go out at once (DESIGN.md §3).
            let pokes = try? LocalChangeSignal(directory: invocation.dataDirectory) { [registry = server.registry] in
                registry.wakeAll()
            }
            collector.start()
            invocation.console.line(
                "hub \(store.identity.site) listening on port \(port)"
                    + (tls == nil ? " (no TLS: traffic is not encrypted)" : " (TLS)"))
            invocation.console.flush()
            stopped.wait()
            logger.info("shutting down")
            pokes?.close()
            server.stop()
        case .branch:
            let client = BranchClient(
                directory: invocation.dataDirectory, hubAddress: invocation.value("hub"), options: options,
                logger: logger, software: BranchSyncTool.version)
            let metrics = try startMetrics(
                invocation, role: .branch, activity: client.activity, registry: nil, logger: logger)
            defer { metrics?.stop() }
            let pokes = try? LocalChangeSignal(directory: invocation.dataDirectory) { client.notifyLocalChange() }
            defer { pokes?.close() }
            let finished = DispatchSemaphore(value: 0)
            let failure = LockedBox<NodeError?>(nil)
            Thread.detachNewThread {
                do { try client.runForever() } catch let error as NodeError { failure.set(error) } catch {
                    failure.set(NodeError("\(error)", code: .configuration))
                }
                finished.signal()
                stopped.signal()
            }
            invocation.console.line(
                "branch \(store.identity.site) syncing with \(invocation.value("hub") ?? store.identity.hubAddress ?? "?")"
            )
            invocation.console.flush()
            stopped.wait()
            client.stop()
            finished.wait()
            if let error = failure.get() { throw CLIError(exitCode: ExitCode.failure, message: error.message) }
        }
        return ExitCode.success
    }

    /// What `run`'s options say, checked and parsed once before anything starts; SIGHUP checks a re-read config file
    /// the same way, so a file that would not start is reported then, not at the next restart.
    struct Settings {
        /// `--check-interval`, in seconds.
        var checkInterval: Double?
        /// `--tls-cert` and `--tls-key`.
        var tls: (certificate: String, key: String)?
        var limits = HubLimits()
        var gcIntervalMilliseconds: Int64
        var gcHorizonMilliseconds: Int64
        var gcMinimumAgeMilliseconds: Int64

        /// - Throws: ``CLIError`` (usage) naming the option and what is wrong with it.
        init(_ invocation: Invocation) throws {
            if let address = invocation.value("listen") {
                do { try HubServer.checkListenAddress(address) } catch let error as NodeError {
                    throw CLIError.usage("--listen: \(error.message)")
                }
            }
            try checkMetricsOptions(invocation)
            if let text = invocation.value("check-interval") {
                guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
                    throw CLIError.usage("--check-interval must be a positive number of seconds, got '\(text)'")
                }
                checkInterval = seconds
            }
            switch (invocation.value("tls-cert"), invocation.value("tls-key")) {
            case (let certificate?, let key?): tls = (certificate, key)
            case (nil, nil): tls = nil
            default: throw CLIError.usage("--tls-cert and --tls-key go together")
            }
            gcIntervalMilliseconds = try DurationArgument.milliseconds(invocation, "gc-interval", default: 3_600_000)
            gcHorizonMilliseconds = try DurationArgument.milliseconds(
                invocation, "gc-horizon", default: NodeStore.defaultCollectionHorizonMilliseconds)
            gcMinimumAgeMilliseconds = try DurationArgument.milliseconds(
                invocation, "gc-min-age", default: NodeStore.defaultCollectionMinimumAgeMilliseconds,
                allowingZero: true)
            if invocation.value("max-connections") != nil {
                limits.maximumConnections = try positive(invocation, "max-connections")
            }
            if invocation.value("max-connections-per-address") != nil {
                limits.maximumConnectionsPerAddress = try positive(invocation, "max-connections-per-address")
            }
            if invocation.value("max-quarantine-per-site") != nil {
                limits.maximumQuarantinePerSite = try positive(invocation, "max-quarantine-per-site")
            }
        }
    }

    /// Writes the port actually bound to the file `--option` names, if given; if it cannot, calls `stop` and fails
    /// at start (a script waiting for the file would wait forever).
    static func writePort(_ port: UInt16, toFileOf option: String, _ invocation: Invocation, stop: () -> Void) throws {
        guard let path = invocation.value(option),
            !FileManager.default.createFile(atPath: path, contents: Data("\(port)\n".utf8))
        else { return }
        stop()
        throw CLIError(
            exitCode: ExitCode.failure,
            message: "cannot write --\(option) \(path): the directory does not exist or is not writable")
    }

    /// The value of `--name` as a positive integer, or a usage error that says what was wrong.
    static func positive(_ invocation: Invocation, _ name: String) throws -> Int {
        let text = invocation.value(name) ?? ""
        guard let value = Int(text), value > 0 else {
            throw CLIError.usage("--\(name) must be a positive whole number, got '\(text)'")
        }
        return value
    }
}

/// A value shared between threads behind a lock.
final class LockedBox<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func get() -> Value { lock.withLock { value } }

    func set(_ newValue: Value) { lock.withLock { value = newValue } }
}

/// `branchsync sync --once`: a branch syncs until caught up both ways, then exits.
enum SyncCommand {
    static let spec = CommandSpec(
        name: "sync",
        abstract: "branch: sync with the hub until caught up both ways and verified, then exit",
        discussion: """
            Pushes this branch's changes, pulls the hub's, then verifies that both hold identical records (repairing \
            any difference). Exit status 0 when caught up and verified identical; 1 with the reason when the hub is \
            unreachable or refuses, or the replicas still differ.
            """,
        options: [
            .flag("once", help: "sync once and exit (required; 'branchsync run' stays connected)"),
            OptionSpec("hub", value: "HOST:PORT", help: "connect here instead of the address given at init/join"),
            .json,
        ],
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        guard invocation.flag("once") else {
            throw CLIError.usage("use 'branchsync sync --once', or 'branchsync run' to stay connected")
        }
        let store = try invocation.openStore()
        guard store.identity.role == .branch else {
            throw CLIError.usage("sync --once is for branches; the hub runs with 'branchsync run'")
        }
        try NodeStore.checkPrivate(directory: invocation.dataDirectory)
        let console = invocation.console
        let client = BranchClient(
            directory: invocation.dataDirectory, hubAddress: invocation.value("hub"), logger: .silent,
            software: BranchSyncTool.version)
        let summary: SessionSummary
        do {
            summary = try client.syncOnce { progress in
                guard progress.remaining > 0 else { return }
                let line = "receiving: \(progress.received) done, \(progress.remaining) to go"
                console.writeError(console.errorIsTerminal ? "\r" + line : line + "\n")
            }
        } catch let error as NodeError {
            throw CLIError(exitCode: ExitCode.failure, message: "sync failed: \(error.message)")
        }
        if console.errorIsTerminal && summary.received > 0 { console.writeError("\n") }
        let identical = summary.verify?.identical ?? false
        if invocation.flag("json") {
            console.line(
                CanonicalJSON.object([
                    ("sent", String(summary.sent)), ("auditBlocksSent", String(summary.auditBlocksSent)),
                    ("received", String(summary.received)),
                    ("applied", String(summary.applied)),
                    ("conflicts", String(summary.conflicts)), ("quarantined", String(summary.quarantined)),
                    ("refusedByHub", String(summary.refusedByHub)), ("purged", String(summary.purgesReceived)),
                    ("verifiedIdentical", identical ? "true" : "false"),
                    ("verifiedRecords", String(summary.verify?.records ?? 0)), ("repaired", String(summary.repaired)),
                ]))
        } else {
            console.line(
                "caught up with the hub: sent \(summary.sent), received \(summary.received) (applied \(summary.applied)), "
                    + "\(summary.conflicts) conflict(s), \(summary.quarantined) quarantined"
                    + (summary.auditBlocksSent > 0 ? ", audit trail sent (\(summary.auditBlocksSent) block(s))" : "")
                    + (summary.refusedByHub > 0
                        ? ", \(summary.refusedByHub) change(s) refused by the hub (see 'branchsync quarantine list')"
                        : ""))
            if let outcome = summary.verify {
                console.line(
                    outcome.identical
                        ? "verified identical: \(outcome.records) records"
                            + (summary.repaired > 0 ? " (after repairing \(summary.repaired))" : "")
                        : "verify: \(outcome.differing.count) record(s) still differ: "
                            + outcome.differing.prefix(10).map(\.description).joined(separator: ", "))
            }
        }
        return identical ? ExitCode.success : ExitCode.failure
    }
}
