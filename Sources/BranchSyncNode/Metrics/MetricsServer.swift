import BranchSyncCore
import Synchronization

/// `branchsync run --metrics HOST:PORT`: serves `GET /metrics` (Prometheus text format 0.0.4) and `GET /healthz`
/// (200 when the node's database answers and its sync loop is alive, else 503) on a small HTTP responder of its own
/// threads, apart from the sync engine's. Any other path is 404, another method 405, a malformed request 400.
public final class MetricsServer: Sendable {
    private let collector: MetricsCollector
    private let logger: Logger
    private let responder = Mutex<HTTPResponder?>(nil)

    /// Checks a metrics address (`HOST:PORT`, `[::1]:PORT`) without binding it.
    /// - Throws: ``NodeError`` saying what is wrong.
    public static func checkAddress(_ text: String) throws {
        _ = try Socket.parseAddress(text)
    }

    /// - Parameters:
    ///   - directory: the node's data directory (the server reads it on a connection of its own).
    ///   - role: the node's role: a hub's session loop must have turned in the last 30 s to be healthy, a branch's
    ///     loop in the last 60 s.
    ///   - activity: the daemon's in-process numbers.
    ///   - registry: the hub's live sessions (`nil` on a branch).
    ///   - software: the version `branchsync_info` shows.
    public init(
        directory: String, role: NodeRole, activity: NodeActivity, registry: SessionRegistry?, software: String,
        logger: Logger
    ) {
        collector = MetricsCollector(
            directory: directory, role: role, activity: activity, registry: registry, software: software)
        self.logger = logger
    }

    /// Binds `address` (port 0 picks one) and starts serving.
    /// - Returns: the port bound.
    /// - Throws: ``NodeError`` when the address is malformed, does not resolve, or cannot be bound (in use).
    public func start(listeningOn address: String) throws -> UInt16 {
        let (host, port) = try Socket.parseAddress(address)
        let collector = collector
        let logger = logger
        let server = try HTTPResponder(host: host, port: port, logger: logger) { head in
            Self.respond(to: head, collector: collector, logger: logger)
        }
        responder.withLock { $0 = server }
        try server.start()
        logger.info("metrics listening", [("address", "\(host):\(server.port)")])
        return server.port
    }

    /// Stops serving (connections being answered get a moment to finish).
    public func stop() {
        responder.withLock {
            $0?.stop()
            $0 = nil
        }
    }

    /// The paths served.
    static let paths = ["/metrics", "/healthz"]

    /// The answer to one request.
    static func respond(to head: HTTPRequestHead, collector: MetricsCollector, logger: Logger) -> HTTPResponse {
        guard paths.contains(head.path) else {
            return .text(404, "not found; this server answers GET /metrics and GET /healthz")
        }
        guard head.method == "GET" else {
            return .text(405, "method not allowed; use GET", headers: [("Allow", "GET")])
        }
        if head.path == "/healthz" {
            let (healthy, report) = collector.health()
            return .text(healthy ? 200 : 503, report)
        }
        do {
            return HTTPResponse(status: 200, contentType: MetricsRenderer.contentType, body: try collector.scrape())
        } catch {
            logger.warning("metrics: cannot read the node's database", [("error", "\(error)")])
            return .text(
                500, "cannot read the node's database: \(String(describing: error).escapedForDisplay(limit: 300))")
        }
    }
}
