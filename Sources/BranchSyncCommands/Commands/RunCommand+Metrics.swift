import BranchSyncCore
import BranchSyncNode
import Foundation

/// `run --metrics HOST:PORT`: the metrics and health endpoint beside the daemon (README, "Metrics").
extension RunCommand {
    /// What `run --help` says about the metrics endpoint.
    static let metricsDiscussion = """


        With --metrics HOST:PORT (hub or branch), GET /metrics answers in the Prometheus text format (version 0.0.4) \
        with branchsync_* metrics read fresh at each scrape (the list is in the README, 'Metrics'), and GET /healthz \
        answers 200 'ok' while the database answers and the sync loop runs, else 503. One request per connection; \
        at most 16 at a time; a request head must arrive within 5 s and fit in 8 KiB. Alert rules for these metrics \
        are in deploy/alerts/branchsync-alerts.yml.
        """

    /// The options of the metrics endpoint, listed in `run --help`.
    static let metricsOptions = [
        OptionSpec(
            "metrics", value: "HOST:PORT",
            help: "serve GET /metrics (Prometheus text format) and GET /healthz here (port 0 picks one); off by default"
        ),
        OptionSpec("metrics-port-file", value: "PATH", help: "write the metrics port actually bound to this file"),
    ]

    /// Refuses malformed metrics options before anything starts (exit 2).
    static func checkMetricsOptions(_ invocation: Invocation) throws {
        if let address = invocation.value("metrics") {
            do { try MetricsServer.checkAddress(address) } catch let error as NodeError {
                throw CLIError.usage("--metrics: \(error.message)")
            }
        } else if invocation.value("metrics-port-file") != nil {
            throw CLIError.usage("--metrics-port-file needs --metrics HOST:PORT")
        }
    }

    /// Starts the metrics endpoint when `--metrics` is given; a bind failure ends `run` at start (exit 1).
    /// - Returns: the running server (stop it on shutdown), or `nil` without `--metrics`.
    static func startMetrics(
        _ invocation: Invocation, role: NodeRole, activity: NodeActivity, registry: SessionRegistry?, logger: Logger
    ) throws -> MetricsServer? {
        guard let address = invocation.value("metrics") else { return nil }
        let server = MetricsServer(
            directory: invocation.dataDirectory, role: role, activity: activity, registry: registry,
            software: BranchSyncTool.version, logger: logger)
        let port: UInt16
        do { port = try server.start(listeningOn: address) } catch let error as NodeError {
            throw CLIError(exitCode: ExitCode.failure, message: "--metrics: \(error.message)")
        }
        try writePort(port, toFileOf: "metrics-port-file", invocation) { server.stop() }
        return server
    }
}
