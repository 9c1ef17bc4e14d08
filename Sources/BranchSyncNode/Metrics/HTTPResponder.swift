import Foundation
@preconcurrency import Glibc
import Synchronization

/// A small HTTP/1.1 server for operators' tools (the metrics endpoint): one request per connection, answered with
/// `Connection: close`. It runs on threads of its own and never touches the sync engine's: one thread accepts, and
/// each connection gets a thread of its own, at most ``Limits/maximumConnections`` at a time (more are answered 503
/// and closed). A request head must arrive whole within ``Limits/requestTimeout`` and fit in
/// ``HTTPRequestHead/maximumSize`` bytes; anything else is answered 400, 408 or 431 and closed.
final class HTTPResponder: Sendable {
    /// Bounds that keep a slow or hostile client from holding the responder.
    struct Limits: Sendable {
        var maximumConnections = 16
        /// Seconds for the whole request head to arrive.
        var requestTimeout = 5.0
        /// Seconds for the whole response to be taken by the client.
        var responseTimeout = 10.0
    }

    /// Answers one request; runs on the connection's thread.
    typealias Handler = @Sendable (HTTPRequestHead) -> HTTPResponse

    private let listener: Int32
    private let limits: Limits
    private let handler: Handler
    private let logger: Logger
    private let stopSignal = StopSignal()
    private let active = Atomic<Int>(0)
    private let group = DispatchGroup()
    /// The port bound.
    let port: UInt16

    /// Binds `host:port` (port 0: any free port); ``start()`` begins accepting.
    /// - Throws: ``NodeError`` when the address does not resolve or cannot be bound.
    init(host: String, port: UInt16, limits: Limits = Limits(), logger: Logger, handler: @escaping Handler) throws {
        (listener, self.port) = try Socket.listen(host: host, port: port)
        self.limits = limits
        self.handler = handler
        self.logger = logger
    }

    /// Starts the accepting thread.
    func start() {
        group.enter()
        Thread.detachNewThread { [self] in
            Thread.current.name = "metrics-accept"
            defer { group.leave() }
            acceptUntilStopped()
            close(listener)
        }
    }

    /// Stops accepting and waits (at most `timeout` seconds) for the connections being served.
    func stop(timeout: Double = 2) {
        stopSignal.stop()
        _ = group.wait(timeout: .now() + timeout)
    }

    /// Connections being served now.
    var activeConnections: Int { active.load(ordering: .relaxed) }

    private func acceptUntilStopped() {
        // Said once per run of shortages, not at every retry.
        var starved = false
        while !stopSignal.isStopped {
            var pollFD = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&pollFD, 1, 200) > 0 else { continue }
            while !stopSignal.isStopped {
                switch Socket.accept(listener) {
                case .connection(let fd, let host, _):
                    starved = false
                    admit(fd, from: host)
                    continue
                case .none: break
                case .outOfDescriptors:
                    // The connection stays in the backlog; the next poll retries after the pause.
                    if !starved { logger.warning("metrics: out of file descriptors; scrapes wait in the backlog") }
                    starved = true
                    usleep(100_000)
                case .failed: continue
                }
                break
            }
        }
    }

    private func admit(_ fd: Int32, from host: String) {
        guard active.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue <= limits.maximumConnections else {
            active.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            // Best effort, never waiting: the client learns why instead of seeing a bare close.
            let busy = HTTPResponse.text(503, "busy: too many metrics connections").bytes
            _ = busy.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            Socket.closeAfterDraining(fd)
            return
        }
        group.enter()
        Thread.detachNewThread { [self] in
            Thread.current.name = "metrics-http"
            defer {
                active.wrappingSubtract(1, ordering: .acquiringAndReleasing)
                group.leave()
            }
            serve(fd, from: host)
        }
    }

    /// Reads one request head, answers it and closes.
    private func serve(_ fd: Int32, from host: String) {
        let response: HTTPResponse
        switch readHead(fd) {
        case .complete(let head): response = handler(head)
        case .malformed(let reason):
            logger.debug("metrics: malformed request", [("from", host), ("reason", reason)])
            response = .text(400, "bad request: \(reason)")
        case .tooLarge: response = .text(431, "request head larger than \(HTTPRequestHead.maximumSize) bytes")
        case .incomplete: response = .text(408, "request not received within \(limits.requestTimeout) s")
        case .closed:
            close(fd)
            return
        }
        write(response.bytes, to: fd)
        lingeringClose(fd)
    }

    private enum Read {
        case complete(HTTPRequestHead)
        case malformed(String)
        case tooLarge
        /// The deadline passed first.
        case incomplete
        /// The client closed (or reset) before sending a whole head: nobody to answer.
        case closed
    }

    private func readHead(_ fd: Int32) -> Read {
        let deadline = Clock.uptimeMilliseconds() + UInt64(limits.requestTimeout * 1000)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let now = Clock.uptimeMilliseconds()
            guard now < deadline else { return .incomplete }
            var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pollFD, 1, Int32(clamping: deadline - now))
            if ready < 0 && errno != EINTR { return .closed }
            guard ready > 0 else { continue }
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count == 0 { return .closed }
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                return .closed
            }
            received.append(contentsOf: buffer[0..<count])
            switch HTTPRequestHead.parse(received) {
            case .incomplete: continue
            case .complete(let head): return .complete(head)
            case .malformed(let reason): return .malformed(reason)
            case .tooLarge: return .tooLarge
            }
        }
    }

    /// Sends `bytes` within the response timeout; a client that does not take them is dropped.
    private func write(_ bytes: [UInt8], to fd: Int32) {
        let deadline = Clock.uptimeMilliseconds() + UInt64(limits.responseTimeout * 1000)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if sent > 0 {
                offset += sent
                continue
            }
            guard sent < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return }
            let now = Clock.uptimeMilliseconds()
            guard now < deadline else { return }
            var pollFD = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&pollFD, 1, Int32(clamping: deadline - now))
        }
    }

    /// Closes after the response: half-closes, then reads what the client still sends (a request body we did not
    /// want) for a moment, so the kernel does not reset the connection and destroy the response before it is read.
    private func lingeringClose(_ fd: Int32) {
        _ = shutdown(fd, Int32(SHUT_WR))
        let deadline = Clock.uptimeMilliseconds() + 1_000
        var buffer = [UInt8](repeating: 0, count: 4_096)
        var drained = 0
        while drained < 65_536 {
            let now = Clock.uptimeMilliseconds()
            guard now < deadline else { break }
            var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pollFD, 1, Int32(clamping: deadline - now)) > 0 else { break }
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { break }
            drained += count
        }
        close(fd)
    }
}
