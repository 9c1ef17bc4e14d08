import BranchSyncCore
import BranchSyncCrypto
import BranchSyncStore
import BranchSyncWire
@preconcurrency import Glibc

/// The hub's front door (DESIGN.md §14): one thread with epoll owns the listening socket and every connection that
/// has not yet proven its site. Such a connection costs one descriptor and a few KiB: its frames are capped at
/// ``Frame/handshakeMaximumLength``, its handshake has a deadline, it starts no thread and touches no storage
/// (verifiers come from the ``CredentialCache``). Connections over the limits get `ERROR TRY_LATER` at once; failed
/// logins are throttled per address and per site. A connection whose proof is right leaves the gate for a session.
///
/// Not `Sendable`: everything here runs on the gate's thread.
final class HubGate {
    /// What the gate needs from the hub.
    struct Configuration {
        var hubSite: SiteID
        var software: String
        var tls: TLSContext?
        /// Seconds from accept to a checked proof.
        var handshakeTimeout: Double
        var book: ConnectionBook
        var ledger: LimitLedger
        var credentials: CredentialCache
        var logger: Logger
    }

    /// A connection waiting for its proof.
    private final class Pending {
        let fd: Int32
        let host: String
        let port: String
        let tls: TLSSession?
        var tlsEstablished: Bool
        var decoder = FrameDecoder(maximumLength: Frame.handshakeMaximumLength)
        var output: [UInt8] = []
        var machine: HubAuthMachine

        init(fd: Int32, host: String, port: String, tls: TLSSession?, deadline: UInt64) {
            self.fd = fd
            self.host = host
            self.port = port
            self.tls = tls
            tlsEstablished = tls == nil
            machine = HubAuthMachine(deadline: deadline)
        }

        var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    private static let listenerToken: UInt64 = 0
    private let configuration: Configuration
    private let listener: Int32
    private let epoll: Epoll
    private var pending: [UInt64: Pending] = [:]
    private var nextToken: UInt64 = 1
    private var throttle = AuthThrottle()
    /// A descriptor held in reserve: when the process runs out, it is closed to accept and refuse one connection
    /// cleanly instead of leaving it in the backlog (the libev/nginx "spare fd" approach).
    private var spareDescriptor: Int32
    private var readBuffer = [UInt8](repeating: 0, count: 4096)
    private var lastExpiry: UInt64 = 0
    private var refusalsNotLogged = 0
    private var lastRefusalLog: UInt64 = 0
    private let onAuthenticated: (FramedConnection, AuthenticatedPeer, String) -> Void

    /// - Parameters:
    ///   - listener: a bound, listening, non-blocking socket the gate now owns.
    ///   - onAuthenticated: takes over a connection whose proof is right, with its peer and source host; it must
    ///     release the host from the ``ConnectionBook`` when the connection ends.
    init(
        listener: Int32, configuration: Configuration,
        onAuthenticated: @escaping (FramedConnection, AuthenticatedPeer, String) -> Void
    ) throws {
        self.listener = listener
        self.configuration = configuration
        self.onAuthenticated = onAuthenticated
        epoll = try Epoll()
        spareDescriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try epoll.add(listener, token: Self.listenerToken)
    }

    deinit {
        if spareDescriptor >= 0 { close(spareDescriptor) }
    }

    /// Serves until `stop` fires, then refuses the connections still in their handshake with `SHUTTING_DOWN`.
    func run(until stop: StopSignal) {
        while !stop.isStopped {
            for event in epoll.wait(timeoutMilliseconds: 100) {
                if event.token == Self.listenerToken {
                    acceptAll()
                } else if let connection = pending[event.token] {
                    service(connection, token: event.token, event: event)
                }
            }
            let now = Clock.uptimeMilliseconds()
            if now >= lastExpiry + 100 {
                expireDeadlines(now: now)
                lastExpiry = now
            }
        }
        for (token, connection) in pending {
            refuse(connection, token: token, WireError(.shuttingDown, "the hub is shutting down"))
        }
    }

    // MARK: Accepting

    private func acceptAll() {
        for _ in 0..<1024 {
            switch Socket.accept(listener) {
            case .none:
                return
            case .failed:
                continue
            case .outOfDescriptors:
                refuseOneForLackOfDescriptors()
                return
            case .connection(let fd, let host, let port):
                admit(fd, host: host, port: port)
            }
        }
    }

    private func admit(_ fd: Int32, host: String, port: String) {
        if let (limit, reason) = configuration.book.admit(host: host) {
            configuration.ledger.hit(limit, "\(reason); refused \(host)")
            refuseAtOnce(fd, WireError(.tryLater, "\(reason); retry later"))
            return
        }
        var tls: TLSSession?
        if let context = configuration.tls {
            do { tls = try TLSSession(context: context, fd: fd, host: nil) } catch {
                configuration.book.release(host: host)
                close(fd)
                return
            }
        }
        let deadline = Clock.uptimeMilliseconds() + UInt64(max(0.1, configuration.handshakeTimeout) * 1000)
        let connection = Pending(fd: fd, host: host, port: port, tls: tls, deadline: deadline)
        let token = nextToken
        nextToken += 1
        do { try epoll.add(fd, token: token) } catch {
            configuration.book.release(host: host)
            close(fd)
            return
        }
        pending[token] = connection
        if tls != nil { service(connection, token: token, event: nil) }
    }

    /// Out of descriptors: frees the spare one, accepts a waiting connection, tells it to retry later, and takes the
    /// spare back. Sessions already open keep running.
    private func refuseOneForLackOfDescriptors() {
        configuration.ledger.hit(.fileDescriptors, "accept failed: out of file descriptors")
        guard spareDescriptor >= 0 else { return }
        close(spareDescriptor)
        if case .connection(let fd, _, _) = Socket.accept(listener) {
            refuseAtOnce(fd, WireError(.tryLater, "the hub is out of file descriptors; retry later"))
        }
        spareDescriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    /// Sends `ERROR` on a connection that was never admitted (best effort, plain TCP only) and closes it.
    private func refuseAtOnce(_ fd: Int32, _ error: WireError) {
        if configuration.tls == nil {
            let frame = Message.error(ErrorMessage(code: error.code, message: error.message)).encodedFrame()
            _ = frame.withUnsafeBytes { StreamIO.write(fd: fd, tls: nil, $0) }
        }
        Socket.closeAfterDraining(fd)
    }

    // MARK: Connections in their handshake

    private func service(_ connection: Pending, token: UInt64, event: Epoll.Event?) {
        if !connection.tlsEstablished, let tls = connection.tls {
            do {
                switch try tls.handshakeStep(server: true) {
                case .done:
                    connection.tlsEstablished = true
                case .wantRead:
                    try? epoll.modify(connection.fd, token: token, writable: false)
                    return
                case .wantWrite:
                    try? epoll.modify(connection.fd, token: token, writable: true)
                    return
                }
                try? epoll.modify(connection.fd, token: token, writable: false)
            } catch {
                logRateLimited("TLS handshake refused", [("peer-address", connection.address), ("error", "\(error)")])
                drop(connection, token: token)
                return
            }
        }
        if !connection.output.isEmpty {
            guard flush(connection, token: token) else { return }
        }
        receive(connection, token: token)
    }

    /// Reads what arrived and feeds each complete message to the connection's handshake machine.
    private func receive(_ connection: Pending, token: UInt64) {
        var received = 0
        while received < 4 * Int(Frame.handshakeMaximumLength) {
            let result = readBuffer.withUnsafeMutableBytes {
                StreamIO.read(fd: connection.fd, tls: connection.tls, into: $0)
            }
            switch result {
            case .transferred(let count):
                received += count
                connection.decoder.append(readBuffer[0..<count])
                do {
                    while let frame = try connection.decoder.next() {
                        let message = try Message.decode(type: frame.type, payload: frame.payload)
                        guard
                            handle(
                                connection.machine.receive(message, context: try context(for: connection)),
                                connection, token: token)
                        else { return }
                    }
                } catch {
                    refuse(connection, token: token, error)
                    return
                }
            case .wouldBlock:
                return
            case .closed, .failed:
                drop(connection, token: token)
                return
            }
        }
    }

    private func context(for connection: Pending) throws -> HubAuthMachine.Context {
        let host = connection.host
        return HubAuthMachine.Context(
            hubSite: configuration.hubSite, software: configuration.software, wallClock: Timestamp.nowMilliseconds(),
            nonce: try SecureRandom.bytes(32),
            credentials: { [configuration] in configuration.credentials.verifier(for: $0) },
            retryAfter: { [throttle] site in
                throttle.retryAfter(address: host, site: site.rawValue, now: Clock.uptimeMilliseconds())
            })
    }

    /// Carries out a step. Returns whether the connection stays in the gate.
    private func handle(_ step: HubAuthMachine.Step, _ connection: Pending, token: UInt64) -> Bool {
        switch step {
        case .send(let message):
            connection.output += message.encodedFrame()
            return flush(connection, token: token)
        case .refuse(let error, let failedLogin):
            if let site = failedLogin {
                throttle.recordFailure(address: connection.host, site: site.rawValue, now: Clock.uptimeMilliseconds())
                configuration.ledger.failedLogin(site: site, address: connection.address)
                logRateLimited(
                    "login failed: unknown site or wrong secret",
                    [("site", site.rawValue), ("peer-address", connection.address)])
            } else if error.code == .tryLater {
                configuration.ledger.hit(.authThrottle, "\(error.message); from \(connection.host)")
            }
            refuse(connection, token: token, error)
            return false
        case .close:
            drop(connection, token: token)
            return false
        case .authenticated(let peer):
            throttle.recordSuccess(address: connection.host, site: peer.hello.site.rawValue)
            epoll.remove(connection.fd)
            pending[token] = nil
            var decoder = connection.decoder
            decoder.maximumLength = Frame.maximumLength
            let framed = FramedConnection(
                fd: connection.fd, peerAddress: connection.address, decoder: decoder, tls: connection.tls,
                pendingOutput: connection.output)
            onAuthenticated(framed, peer, connection.host)
            return false
        }
    }

    /// Writes queued output. Returns `false` if the connection failed (and was dropped).
    private func flush(_ connection: Pending, token: UInt64) -> Bool {
        while !connection.output.isEmpty {
            let result = connection.output.withUnsafeBytes {
                StreamIO.write(fd: connection.fd, tls: connection.tls, $0)
            }
            switch result {
            case .transferred(let count):
                connection.output.removeFirst(count)
            case .wouldBlock:
                try? epoll.modify(connection.fd, token: token, writable: true)
                return true
            case .closed, .failed:
                drop(connection, token: token)
                return false
            }
        }
        try? epoll.modify(connection.fd, token: token, writable: false)
        return true
    }

    private func expireDeadlines(now: UInt64) {
        for (token, connection) in pending where now >= connection.machine.deadline {
            if case .refuse(let error, _)? = connection.machine.tick(now: now) {
                configuration.ledger.hit(.handshakeDeadline, "no proof in time from \(connection.host)")
                refuse(connection, token: token, error)
            } else {
                drop(connection, token: token)
            }
        }
    }

    /// Sends `ERROR` (best effort: the socket's buffer takes a small frame) and closes.
    private func refuse(_ connection: Pending, token: UInt64, _ error: any Error) {
        let wire = (error as? WireError) ?? WireError(.internalError, "the handshake failed; retry later")
        connection.output += Message.error(ErrorMessage(code: wire.code, message: wire.message)).encodedFrame()
        _ = connection.output.withUnsafeBytes { StreamIO.write(fd: connection.fd, tls: connection.tls, $0) }
        drop(connection, token: token)
    }

    private func drop(_ connection: Pending, token: UInt64) {
        epoll.remove(connection.fd)
        pending[token] = nil
        connection.tls?.shutdown()
        Socket.closeAfterDraining(connection.fd)
        configuration.book.release(host: connection.host)
    }

    /// Logs a refused connection, at most one line a second (a flood of wrong proofs must not flood the log).
    private func logRateLimited(_ message: String, _ fields: [(String, String)]) {
        let now = Clock.uptimeMilliseconds()
        guard now >= lastRefusalLog + 1000 else {
            refusalsNotLogged += 1
            return
        }
        configuration.logger.warning(message, fields + [("not-logged-since", String(refusalsNotLogged))])
        refusalsNotLogged = 0
        lastRefusalLog = now
    }
}
