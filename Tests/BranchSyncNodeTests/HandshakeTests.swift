import BranchSyncCore
import BranchSyncCrypto
import BranchSyncNode
import BranchSyncStore
import BranchSyncWire
import Foundation
import Testing

@Suite(.serialized) struct HandshakeTests {
    func expectError(_ message: Message, _ code: ErrorCode, _ text: String? = nil) {
        guard case .error(let error) = message else {
            Issue.record("expected ERROR \(code), got \(message.type)")
            return
        }
        #expect(error.code == code)
        if let text { #expect(error.message == text) }
    }

    /// The site's secret is rotated after the hub checked its proof but before the session begins (between `WELCOME`
    /// and `CURSOR`): the session is refused, since it proved a secret that no longer works.
    @Test func aSecretRotatedDuringTheLoginEndsIt() throws {
        let cluster = try Cluster()
        let secret = try cluster.addBranch("gz01")
        let peer = try RawPeer(port: cluster.port)
        let (_, reply) = try peer.handshake(site: "gz01", secret: secret, nonce: try SecureRandom.bytes(32))
        guard case .welcome = reply else {
            Issue.record("the genuine handshake failed: \(reply)")
            return
        }
        let fresh = SiteCredentials.verifier(for: try SiteCredentials.newSecret())
        try cluster.hubStore().rotateSecret(
            of: try SiteID("gz01"), storedKey: fresh.storedKey, serverKey: fresh.serverKey)
        peer.send(try RawPeer.cursor(0))
        expectError(
            try peer.receive(), .authenticationFailed,
            "authentication failed for site gz01: unknown site or wrong secret")
        // Nothing of the refused login was stored (its resume state, the incarnation it claimed).
        #expect(try cluster.hubStore().peer(try SiteID("gz01"))?.peerIncarnation == nil)
    }

    @Test func aRecordedProofReplayedInAnotherSessionIsRefused() throws {
        let cluster = try Cluster()
        let secret = try cluster.addBranch("gz01")
        let nonce = try SecureRandom.bytes(32)
        let first = try RawPeer(port: cluster.port)
        let (proof, reply) = try first.handshake(site: "gz01", secret: secret, nonce: nonce)
        guard case .welcome = reply else {
            Issue.record("the genuine handshake failed: \(reply)")
            return
        }
        first.send(try RawPeer.cursor(0))
        first.send(.bye(Bye(reason: "done")))
        Thread.sleep(forTimeInterval: 0.3)
        // Same branch nonce, same proof: the hub's fresh nonce makes the recorded proof worthless.
        let second = try RawPeer(port: cluster.port)
        let replay = try second.handshake(site: "gz01", secret: [], nonce: nonce, proof: proof)
        expectError(
            replay.reply, .authenticationFailed, "authentication failed for site gz01: unknown site or wrong secret")
        // The failed login shows in the site's line of `status` (stored by the hub's housekeeping, not per attempt).
        #expect(
            try cluster.eventually {
                try cluster.hubStore().peer(try SiteID("gz01"))?.lastError?.hasPrefix("login failed from 127.0.0.1:")
                    == true
            })
    }

    /// A branch that vanishes between WELCOME and CURSOR does not leave its site registered: it can connect again.
    /// A handshake step that does not arrive in time is answered with `ERROR TIMEOUT` (Protocol.md §8), not a generic
    /// internal error, and the hub keeps serving.
    @Test func aSilentPeerInTheHandshakeGetsTimeout() throws {
        let cluster = try Cluster(handshakeTimeout: 0.3)
        let silent = try RawPeer(port: cluster.port)
        let replies = silent.drain()
        let codes = replies.compactMap { message -> ErrorCode? in
            if case .error(let error) = message { return error.code } else { return nil }
        }
        #expect(codes == [.timeout], "\(replies)")
        #expect(try cluster.syncOnce("bj01").verify?.identical == true)
    }

    @Test func aConnectionDroppedMidHandshakeReleasesTheSite() throws {
        let cluster = try Cluster()
        let secret = try cluster.addBranch("gz01")
        do {
            let peer = try RawPeer(port: cluster.port)
            guard
                case .welcome = try peer.handshake(site: "gz01", secret: secret, nonce: try SecureRandom.bytes(32))
                    .reply
            else {
                Issue.record("handshake failed")
                return
            }
        }  // closed here, before CURSOR
        #expect(cluster.eventually { cluster.hub.registry.connectedSites.isEmpty })
        let again = try RawPeer(port: cluster.port)
        guard case .welcome = try again.handshake(site: "gz01", secret: secret, nonce: try SecureRandom.bytes(32)).reply
        else {
            Issue.record("the site stayed registered after its connection dropped")
            return
        }
    }

    @Test func aBlobWhoseBytesDoNotMatchItsHashIsRefused() throws {
        let cluster = try Cluster()
        let secret = try cluster.addBranch("gz01")
        let peer = try RawPeer(port: cluster.port)
        guard case .welcome = try peer.handshake(site: "gz01", secret: secret, nonce: try SecureRandom.bytes(32)).reply
        else {
            Issue.record("handshake failed")
            return
        }
        peer.send(try RawPeer.cursor(0))
        peer.send(.blob(Blob(sha256: SHA256.digest([1, 2, 3]), data: [9, 9, 9])))
        var received: [Message] = []
        while let message = try? peer.receive() { received.append(message) }
        #expect(
            received.contains {
                if case .error(let error) = $0 { return error.code == .malformedFrame } else { return false }
            })
        #expect(try cluster.hubStore().blob(sha256: hex(SHA256.digest([1, 2, 3]))) == nil)
    }

    @Test func schemaVersionAndRoleMismatchesAreRefusedWithAReason() throws {
        let cluster = try Cluster()
        let nonce = try SecureRandom.bytes(32)
        var peer = try RawPeer(port: cluster.port)
        peer.send(.hello(RawPeer.hello(site: "bj01", nonce: nonce, schema: 2)))
        expectError(
            try peer.receive(), .schemaMismatch,
            "record schema 2 at bj01 differs from 1 at the hub; upgrade the older side")
        peer = try RawPeer(port: cluster.port)
        peer.send(.hello(RawPeer.hello(site: "bj01", nonce: nonce, versions: 3...4)))
        expectError(try peer.receive(), .unsupportedVersion, "this hub speaks protocol 2; site bj01 speaks 3–4")
        peer = try RawPeer(port: cluster.port)
        peer.send(.hello(RawPeer.hello(site: "bj01", nonce: nonce, role: .hub)))
        expectError(try peer.receive(), .roleMismatch)
        peer = try RawPeer(port: cluster.port)
        peer.send(try RawPeer.cursor(1))
        expectError(try peer.receive(), .unexpectedMessage, "expected HELLO")
    }

    @Test func clockSkewIsMeasuredAtTheHandshake() throws {
        let cluster = try Cluster()
        let secret = try cluster.addBranch("gz01")
        let peer = try RawPeer(port: cluster.port)
        let ahead = UInt64(Date().timeIntervalSince1970 * 1000) + 60_000
        let (_, reply) = try peer.handshake(
            site: "gz01", secret: secret, nonce: try SecureRandom.bytes(32), clock: ahead)
        guard case .welcome = reply else {
            Issue.record("handshake failed: \(reply)")
            return
        }
        peer.send(try RawPeer.cursor(0))
        #expect(
            try cluster.eventually {
                guard let skew = try cluster.hubStore().peer(try SiteID("gz01"))?.clockSkewMilliseconds else {
                    return false
                }
                return (59_000...61_000).contains(skew)
            })
    }

    @Test func aNewBranchBootstrapsInBatchesWithProgress() throws {
        let cluster = try Cluster()
        let bj = try cluster.store("bj01")
        // Two full batches and part of a third, whatever the batch size.
        let count = SessionOptions().batchLimit * 2 + 500
        try bj.batch { writer in
            for index in 0..<count { try writer.create(.customers, values: customer(String(110_000 + index))) }
        }
        try cluster.syncOnce("bj01")
        let progress = LockedProgress()
        let summary = try cluster.client("sh01").syncOnce { progress.append($0) }
        #expect(summary.received == count)
        let seen = progress.values
        #expect(seen.count >= 3)
        #expect(seen.first.map { $0.remaining > 0 } == true)
        #expect(seen.last?.remaining == 0)
        #expect(try cluster.store("sh01").peer(try SiteID("hq"))?.incomingDone == Int64(count))
    }
}

final class LockedProgress: @unchecked Sendable {
    // @unchecked: `items` is only touched under `lock`.
    private let lock = NSLock()
    private var items: [SyncProgress] = []

    func append(_ progress: SyncProgress) { lock.withLock { items.append(progress) } }

    var values: [SyncProgress] { lock.withLock { items } }
}
