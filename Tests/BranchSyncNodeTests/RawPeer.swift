import BranchSyncCore
import BranchSyncCrypto
import BranchSyncFleet
import BranchSyncNode
import BranchSyncWire
import Foundation

/// A minimal protocol peer on a blocking socket, for driving the hub message by message as another implementation
/// of `Protocol.md` would.
final class RawPeer {
    let fd: Int32
    private var decoder = FrameDecoder()

    init(port: UInt16) throws {
        switch FleetClients.connectLoopback(port: port) {
        case .success(let connected): fd = connected
        case .failure(let failure): throw NodeError(failure.text)
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ message: Message) {
        send(bytes: message.encodedFrame())
    }

    /// Sends raw bytes (for malformed input).
    func send(bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, 0) }
    }

    func receive() throws -> Message {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let frame = try decoder.next() { return try Message.decode(type: frame.type, payload: frame.payload) }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { throw NodeError("connection closed or timed out") }
            decoder.append(buffer[0..<count])
        }
    }

    static func hello(
        site: String, nonce: [UInt8], schema: UInt64 = SessionOptions.schemaVersion,
        versions: ClosedRange<UInt64> = SessionOptions.protocolVersion...SessionOptions.protocolVersion,
        role: NodeRole = .branch, clock: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)
    ) -> Hello {
        Hello(
            minimumVersion: versions.lowerBound, maximumVersion: versions.upperBound, site: try! SiteID(site),
            role: role, software: "raw-peer", schemaVersion: schema, clockMilliseconds: clock, nonce: nonce)
    }

    /// A CURSOR for a fresh branch that has applied the hub's log up to `cursor`.
    static func cursor(_ cursor: UInt64 = 0) throws -> Message {
        .cursor(
            Cursor(
                resume: ResumeState(
                    cursor: cursor, acked: 0, logHead: 0, yourCounter: 0, incarnation: try SecureRandom.bytes(16),
                    yourIncarnation: Array(repeating: 0, count: 16))))
    }

    /// Runs a whole branch handshake; returns the proof it sent and what the hub answered to AUTH.
    func handshake(
        site: String, secret: [UInt8], nonce: [UInt8], clock: UInt64? = nil, proof override: [UInt8]? = nil,
        positionProof: PositionProof? = nil
    ) throws -> (proof: [UInt8], reply: Message) {
        var hello =
            clock.map { Self.hello(site: site, nonce: nonce, clock: $0) } ?? Self.hello(site: site, nonce: nonce)
        hello.proof = positionProof
        send(.hello(hello))
        guard case .challenge(let challenge) = try receive() else { throw NodeError("no CHALLENGE") }
        let message = SiteCredentials.authMessage(
            helloPayload: Message.hello(hello).encodedPayload(),
            challengePayload: Message.challenge(challenge).encodedPayload())
        let proof = override ?? SiteCredentials.clientProof(secret: secret, authMessage: message)
        send(.auth(Auth(proof: proof)))
        return (proof, try receive())
    }

    /// Connects as the enrolled branch `site` of `cluster`, completes the handshake and states cursor 0.
    static func session(_ cluster: Cluster, site: String) throws -> RawPeer {
        let peer = try RawPeer(port: cluster.port)
        guard let secret = cluster.secrets[site] else { throw NodeError("no secret for \(site)") }
        guard case .welcome = try peer.handshake(site: site, secret: secret, nonce: try SecureRandom.bytes(32)).reply
        else { throw NodeError("the handshake of \(site) failed") }
        peer.send(try cursor(0))
        return peer
    }

    /// Every message until the peer closes the connection (or sends nothing for the receive timeout).
    func drain() -> [Message] {
        var messages: [Message] = []
        while let message = try? receive() { messages.append(message) }
        return messages
    }
}
