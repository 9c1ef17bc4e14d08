import BranchSyncCore
import BranchSyncCrypto
import BranchSyncNode
import BranchSyncStore
import BranchSyncWire
import Foundation

/// Many light branches in one thread: each a non-blocking socket speaking `Protocol.md` (handshake, CURSOR, ACK of
/// every CHANGES, PONG to PING, its own writes as CHANGES), driven by `poll`. Not the branch daemon: no SQLite, so
/// the numbers are the hub's. Used by `branchsync-bench fleet` and by the tests of a hub holding a fleet.
///
/// Not `Sendable`: one thread drives it.
public final class FleetClients {
    /// Where a client is in its session.
    public enum Phase: Sendable { case connecting, awaitingChallenge, awaitingWelcome, live, failed }

    /// One simulated branch.
    public final class Client {
        public let site: SiteID
        let secret: [UInt8]
        var fd: Int32 = -1
        public internal(set) var phase = Phase.connecting
        var decoder = FrameDecoder()
        var output: [UInt8] = []
        var hello: Hello?
        var sentUpTo: UInt64 = 0
        var counter: UInt64 = 0
        /// Whether the hub said it has nothing more (a `CHANGES` with `remaining = 0`).
        public internal(set) var caughtUp = false
        /// Why the session failed (the hub's `ERROR`, or the socket's error).
        public internal(set) var error: String?

        init(site: SiteID, secret: [UInt8]) {
            self.site = site
            self.secret = secret
        }
    }

    public let clients: [Client]
    public let port: UInt16
    private let rows: [[String: String]]
    private var rowIndex = 0
    /// When each record written by a client was sent (uptime ns), to time its arrival at the others.
    private var sentAt: [RecordID: UInt64] = [:]
    /// Arrival delays in milliseconds since ``resetArrivals()``.
    public private(set) var arrivals: [Double] = []
    /// Clients live (WELCOME received).
    public var live: Int { clients.count { $0.phase == .live } }
    /// Clients whose session failed.
    public var failed: [Client] { clients.filter { $0.phase == .failed } }

    /// Clients for `sites` (each with its secret) of the hub at 127.0.0.1:`port`; their writes take values from `rows`.
    public init(sites: [(SiteID, [UInt8])], port: UInt16, rows: [[String: String]]) {
        clients = sites.map { Client(site: $0.0, secret: $0.1) }
        self.port = port
        self.rows = rows
    }

    /// Enrols each of `sites` at `hub` (clearance internal) with a new secret.
    /// - Returns: the sites with their secrets, for ``init(sites:port:rows:)``.
    public static func enroll(_ sites: [SiteID], at hub: NodeStore) throws -> [(SiteID, [UInt8])] {
        try sites.map { site in
            let secret = try SiteCredentials.newSecret()
            let verifier = SiteCredentials.verifier(for: secret)
            try hub.enroll(
                site: site, clearance: .internal, storedKey: verifier.storedKey, serverKey: verifier.serverKey)
            return (site, secret)
        }
    }

    /// Opens every connection and sends its HELLO.
    public func connectAll() {
        for client in clients { connect(client) }
    }

    private func connect(_ client: Client) {
        let fd: Int32
        switch Self.connectLoopback(port: port) {
        case .success(let connected): fd = connected
        case .failure(let reason):
            fail(client, reason.text)
            return
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        client.fd = fd
        guard let nonce = randomBytes(32, for: client) else { return }
        let hello = Hello(
            minimumVersion: SessionOptions.protocolVersion, maximumVersion: SessionOptions.protocolVersion,
            site: client.site, role: .branch, software: "bench-fleet", schemaVersion: SessionOptions.schemaVersion,
            clockMilliseconds: Timestamp.nowMilliseconds(), nonce: nonce)
        client.hello = hello
        client.phase = .awaitingChallenge
        send(.hello(hello), to: client)
    }

    /// Why a connection could not be opened.
    public struct ConnectFailure: Error {
        public var text: String
    }

    /// A blocking TCP connection to 127.0.0.1:`port`, or why there is none.
    public static func connectLoopback(port: UInt16) -> Result<Int32, ConnectFailure> {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure(ConnectFailure(text: "socket: \(String(cString: strerror(errno)))")) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let text = "connect: \(String(cString: strerror(errno)))"
            close(fd)
            return .failure(ConnectFailure(text: text))
        }
        return .success(fd)
    }

    /// `count` random bytes, or `nil` after failing `client` when the system has no random source.
    private func randomBytes(_ count: Int, for client: Client) -> [UInt8]? {
        do { return try SecureRandom.bytes(count) } catch {
            fail(client, error.description)
            return nil
        }
    }

    private func fail(_ client: Client, _ text: String) {
        client.phase = .failed
        client.error = client.error ?? text
        if client.fd >= 0 {
            close(client.fd)
            client.fd = -1
        }
    }

    private func send(_ message: Message, to client: Client) {
        client.output += message.encodedFrame()
        flush(client)
    }

    private func flush(_ client: Client) {
        while !client.output.isEmpty && client.fd >= 0 {
            let written = client.output.withUnsafeBytes { Glibc.send(client.fd, $0.baseAddress, $0.count, 0) }
            if written > 0 {
                client.output.removeFirst(written)
            } else {
                if errno != EAGAIN && errno != EWOULDBLOCK { fail(client, "send: \(String(cString: strerror(errno)))") }
                return
            }
        }
    }

    /// Writes one new customer at `client`, sent at once as a CHANGES batch.
    public func write(at client: Client) {
        guard client.phase == .live else { return }
        let now = Timestamp.nowMilliseconds()
        guard let random = randomBytes(10, for: client) else { return }
        client.counter = max(client.counter + 1, now)
        var record = RecordState(
            id: RecordID.version7(unixMilliseconds: now, random: random), collection: .customers,
            owner: client.site)
        _ = record.applyLocalWrite(
            rows[rowIndex % rows.count],
            stamp: Stamp(
                dot: Dot(site: client.site, counter: client.counter),
                time: HLCTimestamp(wallMilliseconds: now, logical: 0)))
        rowIndex += 1
        sentAt[record.id] = DispatchTime.now().uptimeNanoseconds
        client.sentUpTo += 1
        send(.changes(Changes(upTo: client.sentUpTo, remaining: 0, states: [record])), to: client)
    }

    /// Forgets the arrival delays measured so far.
    public func resetArrivals() {
        arrivals = []
    }

    /// Polls every socket for up to `milliseconds` and handles what arrived.
    public func poll(milliseconds: Int32) {
        var fds = clients.map { client in
            pollfd(
                fd: client.fd, events: Int16(POLLIN) | (client.output.isEmpty ? 0 : Int16(POLLOUT)), revents: 0)
        }
        let ready = Glibc.poll(&fds, nfds_t(fds.count), milliseconds)
        guard ready > 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        for (index, entry) in fds.enumerated() where entry.revents != 0 {
            let client = clients[index]
            if entry.revents & Int16(POLLOUT) != 0 { flush(client) }
            guard entry.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 else { continue }
            var ended: String?
            while client.fd >= 0 {
                let count = recv(client.fd, &buffer, buffer.count, 0)
                if count > 0 {
                    client.decoder.append(buffer[0..<count])
                    continue
                }
                if count == 0 {
                    ended = "the hub closed the connection"
                } else if errno != EAGAIN && errno != EWOULDBLOCK {
                    ended = "recv: \(String(cString: strerror(errno)))"
                }
                break
            }
            // What arrived before the end (an ERROR saying why) is read first.
            do {
                while client.phase != .failed, let frame = try client.decoder.next() {
                    handle(try Message.decode(type: frame.type, payload: frame.payload), client)
                }
            } catch {
                fail(client, "\(error)")
            }
            if let ended { fail(client, ended) }
        }
    }

    private func handle(_ message: Message, _ client: Client) {
        switch message {
        case .challenge(let challenge):
            guard let hello = client.hello else { return }
            let authMessage = SiteCredentials.authMessage(
                helloPayload: Message.hello(hello).encodedPayload(),
                challengePayload: Message.challenge(challenge).encodedPayload())
            client.phase = .awaitingWelcome
            send(
                .auth(Auth(proof: SiteCredentials.clientProof(secret: client.secret, authMessage: authMessage))),
                to: client)
        case .welcome:
            guard let incarnation = randomBytes(16, for: client) else { return }
            client.phase = .live
            send(
                .cursor(
                    Cursor(
                        resume: ResumeState(
                            cursor: 0, acked: 0, logHead: 0, yourCounter: 0, incarnation: incarnation,
                            yourIncarnation: Array(repeating: 0, count: incarnationLength)))), to: client)
        case .changes(let changes):
            let now = DispatchTime.now().uptimeNanoseconds
            for bytes in changes.encodedStates {
                // The record id follows the format byte (Protocol.md §4): no need to decode the whole state.
                guard bytes.count > 17, let id = try? RecordID(bytes: Array(bytes[1..<17])), let sent = sentAt[id]
                else { continue }
                arrivals.append(Double(now - sent) / 1e6)
            }
            if changes.remaining == 0 { client.caughtUp = true }
            send(.ack(Ack(upTo: changes.upTo)), to: client)
        case .ping(let ping):
            send(.pong(Pong(echoedClockMilliseconds: ping.clockMilliseconds)), to: client)
        case .error(let error):
            fail(client, "ERROR \(error.code): \(error.message)")
        case .bye(let bye):
            fail(client, "BYE \(bye.reason)")
        default:
            break
        }
    }

    /// Closes every connection.
    public func closeAll() {
        for client in clients where client.fd >= 0 {
            send(.bye(Bye(reason: "bench done")), to: client)
            close(client.fd)
            client.fd = -1
        }
    }
}
