import BranchSyncCore
import BranchSyncCrypto
import BranchSyncStore
import BranchSyncWire

/// What a completed handshake established.
struct EstablishedSession {
    var peer: SiteID
    var peerRole: NodeRole
    var peerSoftware: String
    /// Where to start sending this node's log to the peer.
    var outboundCursor: Int64
    /// Peer clock minus local clock at the handshake.
    var clockSkewMilliseconds: Int64
    /// The peer's clearance (hub side), used to filter what it is sent and what it may write.
    var clearance: Classification?
    /// Hub side: the clearance epoch whose full resend this session performs, if one is due.
    var resendEpoch: Int64? = nil
}

/// The hub's side of the handshake (`Protocol.md` §8).
enum HubHandshake {
    static func perform(
        connection: FramedConnection, store: NodeStore, registry: SessionRegistry, wake: WakeSignal,
        software: String, options: SessionOptions, logger: Logger
    ) throws -> EstablishedSession {
        func refuse(_ code: ErrorCode, _ message: String) -> WireError {
            connection.send(.error(ErrorMessage(code: code, message: message)))
            try? connection.flush()
            return WireError(code, message)
        }
        guard case .hello(let hello) = try connection.receive(timeout: options.handshakeTimeout) else {
            throw refuse(.unexpectedMessage, "expected HELLO")
        }
        let receivedAt = Timestamp.nowMilliseconds()
        guard
            hello.minimumVersion <= SessionOptions.protocolVersion
                && SessionOptions.protocolVersion <= hello.maximumVersion
        else {
            throw refuse(
                .unsupportedVersion,
                "this hub speaks protocol \(SessionOptions.protocolVersion); site \(hello.site) speaks \(hello.minimumVersion)–\(hello.maximumVersion)"
            )
        }
        guard hello.role == .branch else {
            throw refuse(.roleMismatch, "\(hello.site) connected as a hub; only branches connect to a hub")
        }
        guard hello.schemaVersion == SessionOptions.schemaVersion else {
            throw refuse(
                .schemaMismatch,
                "record schema \(hello.schemaVersion) at \(hello.site) differs from \(SessionOptions.schemaVersion) at the hub; upgrade the older side"
            )
        }
        guard let peer = try store.peer(hello.site), peer.role == .branch, let storedKey = peer.storedKey,
            let serverKey = peer.serverKey
        else {
            throw refuse(
                .unknownSite,
                "site \(hello.site) is not enrolled at hub \(store.identity.site); run 'branchsync site add \(hello.site)' on the hub"
            )
        }
        let hubNonce = SecureRandom.bytes(nonceLength)
        connection.send(
            .challenge(
                Challenge(
                    version: SessionOptions.protocolVersion, site: store.identity.site, software: software,
                    schemaVersion: SessionOptions.schemaVersion, clockMilliseconds: Timestamp.nowMilliseconds(),
                    nonce: hubNonce)))
        try connection.flush()
        guard case .auth(let auth) = try connection.receive(timeout: options.handshakeTimeout) else {
            throw refuse(.unexpectedMessage, "expected AUTH")
        }
        let message = SiteCredentials.authMessage(
            branch: hello.site.rawValue, hub: store.identity.site.rawValue, branchNonce: hello.nonce, hubNonce: hubNonce
        )
        let verifier = SiteCredentials.Verifier(storedKey: storedKey, serverKey: serverKey)
        guard SiteCredentials.verifyClientProof(auth.proof, verifier: verifier, authMessage: message) else {
            try? store.recordPeerError(hello.site, error: "authentication failed from \(connection.peerAddress)")
            throw refuse(.authenticationFailed, "authentication failed for site \(hello.site): wrong secret")
        }
        if let other = registry.register(
            hello.site, wake: wake, address: connection.peerAddress, grace: options.duplicateSessionGrace)
        {
            throw refuse(.duplicateSession, "site \(hello.site) already has a session open from \(other)")
        }
        // From here on the site is registered: any failure must release it, or the site could never connect again.
        let cursor: Cursor
        do {
            connection.send(
                .welcome(
                    Welcome(
                        serverSignature: SiteCredentials.serverSignature(verifier: verifier, authMessage: message),
                        cursor: UInt64(peer.appliedCursor))))
            try connection.flush()
            guard case .cursor(let value) = try connection.receive(timeout: options.handshakeTimeout) else {
                throw refuse(.unexpectedMessage, "expected CURSOR")
            }
            cursor = value
        } catch {
            registry.unregister(hello.site, wake: wake)
            throw error
        }
        // After a clearance change the whole log is resent once (backfill and purge), until acknowledged.
        let resendDue = peer.syncedEpoch < peer.clearanceEpoch
        return EstablishedSession(
            peer: hello.site, peerRole: .branch, peerSoftware: hello.software,
            outboundCursor: resendDue ? 0 : Int64(clamping: cursor.cursor),
            clockSkewMilliseconds: Int64(bitPattern: hello.clockMilliseconds) - Int64(bitPattern: receivedAt),
            clearance: peer.clearance, resendEpoch: resendDue ? peer.clearanceEpoch : nil)
    }
}

/// The branch's side of the handshake (`Protocol.md` §8).
enum BranchHandshake {
    static func perform(
        connection: FramedConnection, store: NodeStore, secret: [UInt8], software: String, options: SessionOptions
    ) throws -> EstablishedSession {
        let branchNonce = SecureRandom.bytes(nonceLength)
        connection.send(
            .hello(
                Hello(
                    minimumVersion: SessionOptions.protocolVersion, maximumVersion: SessionOptions.protocolVersion,
                    site: store.identity.site, role: .branch, software: software,
                    schemaVersion: SessionOptions.schemaVersion, clockMilliseconds: Timestamp.nowMilliseconds(),
                    nonce: branchNonce)))
        try connection.flush()
        let challenge = try reply(connection, options, "CHALLENGE") { message -> Challenge? in
            if case .challenge(let value) = message { return value }
            return nil
        }
        let receivedAt = Timestamp.nowMilliseconds()
        try store.rememberHub(challenge.site)
        let message = SiteCredentials.authMessage(
            branch: store.identity.site.rawValue, hub: challenge.site.rawValue, branchNonce: branchNonce,
            hubNonce: challenge.nonce)
        connection.send(.auth(Auth(proof: SiteCredentials.clientProof(secret: secret, authMessage: message))))
        try connection.flush()
        let welcome = try reply(connection, options, "WELCOME") { message -> Welcome? in
            if case .welcome(let value) = message { return value }
            return nil
        }
        guard SiteCredentials.verifyServerSignature(welcome.serverSignature, secret: secret, authMessage: message)
        else {
            connection.send(.error(ErrorMessage(code: .authenticationFailed, message: "the hub's signature is wrong")))
            try? connection.flush()
            throw NodeError(
                "the hub at \(connection.peerAddress) could not prove it knows this branch's secret; check --hub",
                retryable: false)
        }
        let hubPeer = try store.peer(challenge.site)
        connection.send(.cursor(Cursor(cursor: UInt64(hubPeer?.appliedCursor ?? 0))))
        try connection.flush()
        return EstablishedSession(
            peer: challenge.site, peerRole: .hub, peerSoftware: challenge.software,
            outboundCursor: Int64(clamping: welcome.cursor),
            clockSkewMilliseconds: Int64(bitPattern: challenge.clockMilliseconds) - Int64(bitPattern: receivedAt),
            clearance: nil)
    }

    /// The hub's next handshake message, or the hub's refusal as a ``NodeError``.
    private static func reply<T>(
        _ connection: FramedConnection, _ options: SessionOptions, _ name: String, _ extract: (Message) -> T?
    ) throws -> T {
        let message = try connection.receive(timeout: options.handshakeTimeout)
        if let value = extract(message) { return value }
        if case .error(let error) = message {
            throw NodeError("the hub refused: \(error.message) (\(error.code))", retryable: isRetryable(error.code))
        }
        throw NodeError("the hub sent \(message.type) instead of \(name)")
    }

    /// Refusals that a retry cannot fix (wrong secret, unknown site, schema) stop a branch from retrying in a loop.
    static func isRetryable(_ code: ErrorCode) -> Bool {
        ![ErrorCode.unknownSite, .authenticationFailed, .schemaMismatch, .unsupportedVersion, .roleMismatch].contains(
            code)
    }
}
