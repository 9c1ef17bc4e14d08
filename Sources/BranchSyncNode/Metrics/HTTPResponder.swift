import Foundation
@preconcurrency import Glibc
import Synchronization

/// A small HTTP/1.1 server for operators' tools (the metrics endpoint): one request per connection, answered with
/// `Connection: close`. It runs on threads of its own and never touches the sync engine's: one thread accepts and a
/// fixed pool of ``Limits/maximumConnections`` worker threads, started once, serves the connections. A connection is
/// admitted only when a worker is free for it and its peer address has fewer than
/// ``Limits/maximumConnectionsPerAddress`` connections being served, so one slow or hostile client cannot take every
/// worker; any other is answered 503 and closed at once. A request head must arrive whole within
/// ``Limits/requestTimeout`` and fit in ``HTTPRequestHead/maximumSize`` bytes; anything else is answered 400, 408 or
/// 431 and closed.
final class HTTPResponder: Sendable {
    /// Bounds that keep a slow or hostile client from holding the responder.
    struct Limits: Sendable {
        /// Connections served at once (the worker threads).
        var maximumConnections = 16
        /// Connections served at once for one peer address: a scraper and a health probe come from different
        /// addresses, so neither can starve the other.
        var maximumConnectionsPerAddress = 4
        /// Seconds for the whole request head to arrive.
        var requestTimeout = 5.0
        /// Seconds for the whole response to be taken by the client.
        var responseTimeout = 10.0
    }

    /// Answers one request; runs on a worker thread.
    typealias Handler = @Sendable (HTTPRequestHead) -> HTTPResponse

    /// Starts `body` on a new thread named `name`; `false` when the system cannot start one (`body` then never runs).
    typealias ThreadStarter = @Sendable (_ name: String, _ body: @escaping @Sendable () -> Void) -> Bool

    /// Connections admitted and not yet finished: those waiting for a worker and those being served.
    private struct Admitted {
        var waiting: [(fd: Int32, host: String)] = []
        var total = 0
        var byAddress: [String: Int] = [:]
        /// Worker threads that started; a connection is admitted only while `total` is below it.
        var workers = 0
        var stopped = false
    }

    private let listener: Int32
    private let limits: Limits
    private let handler: Handler
    private let logger: Logger
    private let startThread: ThreadStarter
    private let stopSignal = StopSignal()
    private let admitted = Mutex(Admitted())
    /// One signal per admitted connection (and one per worker at stop).
    private let work = DispatchSemaphore(value: 0)
    private let group = DispatchGroup()
    /// The port bound.
    let port: UInt16

    /// Binds `host:port` (port 0: any free port); ``start()`` begins accepting.
    /// - Parameter startThread: how threads are started (tests make it fail).
    /// - Throws: ``NodeError`` when the address does not resolve or cannot be bound.
    init(
        host: String, port: UInt16, limits: Limits = Limits(), logger: Logger,
        startThread: @escaping ThreadStarter = HTTPResponder.startDetachedThread, handler: @escaping Handler
    ) throws {
        (listener, self.port) = try Socket.listen(host: host, port: port)
        self.limits = limits
        self.handler = handler
        self.logger = logger
        self.startThread = startThread
    }

    /// Starts the worker threads and the accepting thread.
    /// - Throws: ``NodeError`` when not one worker or the accepting thread can be started (the socket is closed).
    func start() throws {
        var started = 0
        for index in 0..<limits.maximumConnections {
            group.enter()
            let running = startThread("metrics-http-\(index)") { [self] in
                defer { group.leave() }
                serveUntilStopped()
            }
            guard running else {
                group.leave()
                break
            }
            started += 1
        }
        admitted.withLock { $0.workers = started }
        if started < limits.maximumConnections {
            logger.warning(
                "metrics: fewer worker threads than configured",
                [("started", String(started)), ("configured", String(limits.maximumConnections))])
        }
        group.enter()
        let accepting =
            started > 0
            && startThread("metrics-accept") { [self] in
                defer { group.leave() }
                acceptUntilStopped()
                close(listener)
            }
        guard accepting else {
            group.leave()
            stop(timeout: 0)
            close(listener)
            throw NodeError("metrics: the system cannot start the responder's threads (too many threads?)")
        }
    }

    /// Stops accepting, ends the workers once the connections admitted are served, and waits (at most `timeout`
    /// seconds) for them.
    func stop(timeout: Double = 2) {
        stopSignal.stop()
        let workers = admitted.withLock {
            $0.stopped = true
            return $0.workers
        }
        for _ in 0..<workers { work.signal() }
        _ = group.wait(timeout: .now() + timeout)
    }

    /// Connections admitted and not finished (waiting for a worker or being served).
    var activeConnections: Int { admitted.withLock { $0.total } }

    /// Starts a detached POSIX thread: unlike `Thread.detachNewThread`, a failure to start one is reported.
    static func startDetachedThread(name: String, body: @escaping @Sendable () -> Void) -> Bool {
        final class Box {
            let name: String
            let body: @Sendable () -> Void
            init(name: String, body: @escaping @Sendable () -> Void) {
                self.name = name
                self.body = body
            }
        }
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, &attributes,
            { context in
                guard let context else { return nil }
                let box = Unmanaged<Box>.fromOpaque(context).takeRetainedValue()
                Thread.current.name = box.name
                box.body()
                return nil
            }, context)
        guard result == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            errno = result
            return false
        }
        return true
    }

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

    /// Queues the connection for a worker, or answers 503 and closes it.
    private func admit(_ fd: Int32, from host: String) {
        let refusal: String? = admitted.withLock { state in
            if state.stopped { return "busy: the metrics server is stopping" }
            if state.byAddress[host, default: 0] >= limits.maximumConnectionsPerAddress {
                return "busy: too many metrics connections from \(host)"
            }
            if state.total >= state.workers { return "busy: too many metrics connections" }
            state.total += 1
            state.byAddress[host, default: 0] += 1
            state.waiting.append((fd, host))
            return nil
        }
        guard let refusal else {
            work.signal()
            return
        }
        // Best effort, never waiting: the client learns why instead of seeing a bare close.
        let busy = HTTPResponse.text(503, refusal).bytes
        _ = busy.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        Socket.closeAfterDraining(fd)
    }

    /// A worker: serves admitted connections one at a time until the responder stops and none waits.
    private func serveUntilStopped() {
        while true {
            work.wait()
            let next: (fd: Int32, host: String)?? = admitted.withLock { state in
                if !state.waiting.isEmpty { return .some(state.waiting.removeFirst()) }
                return state.stopped ? .none : .some(nil)
            }
            guard let next else { return }
            guard let connection = next else { continue }
            let (fd, host) = (connection.fd, connection.host)
            // The slot is given back on every way out of `serve`, which closes the descriptor on every path.
            defer {
                admitted.withLock { state in
                    state.total -= 1
                    let remaining = state.byAddress[host, default: 1] - 1
                    state.byAddress[host] = remaining > 0 ? remaining : nil
                }
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
