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
    /// Peer clock minus local clock at the handshake (saturating).
    var clockSkewMilliseconds: Int64
    /// The peer's clearance (hub side), used to filter what it is sent and what it may write.
    var clearance: Classification?
    /// Hub side: the clearance epoch whose full resend this session performs, if one is due.
    var resendEpoch: Int64? = nil
    /// Hub side: this session is the full resync the peer owes a restored hub (DESIGN.md §12).
    var fullResync = false
    /// Hub side: the site's access epoch read with the verifier the session proved (a later change ends it).
    var accessEpoch: Int64? = nil
    /// What the handshake decided about restores, for the log.
    var plan: ResumePlan? = nil
}

/// Peer clock minus local clock, saturated to the `Int64` range: a peer's clock of 2^63 is a wrong clock to report,
/// not an arithmetic trap.
func clockSkew(peer: UInt64, local: UInt64) -> Int64 {
    if peer >= local { return Int64(clamping: peer - local) }
    return -Int64(clamping: local - peer)
}

extension ResumeState {
    init(_ positions: ResumePositions) {
        self.init(
            cursor: UInt64(clamping: positions.cursor), acked: UInt64(clamping: positions.acked),
            logHead: UInt64(clamping: positions.logHead), yourCounter: UInt64(clamping: positions.peerCounter),
            incarnation: positions.incarnation, yourIncarnation: positions.peerIncarnation)
    }
}

extension ResumeOutcome {
    /// What one side of a session stores of the resume `plan`, given the resume state its `peer` sent: the hub and
    /// the branch see the same plan from opposite ends.
    init(_ plan: ResumePlan, peer: ResumeState, atHub: Bool) {
        self.init(
            peerIncarnation: peer.incarnation,
            appliedCursor: Int64(clamping: atHub ? plan.branchStreamStart : plan.hubStreamStart),
            ackedCursor: Int64(clamping: atHub ? plan.hubStreamStart : plan.branchStreamStart),
            echoPeerChanges: atHub ? plan.hubEchoesBranchChanges : plan.branchEchoesHubChanges,
            counterFloor: peer.yourCounter, peerRegressed: atHub ? plan.branchRegressed : plan.hubRegressed,
            selfRegressed: atHub ? plan.hubRegressed : plan.branchRegressed, reasons: plan.reasons)
    }
}

/// The hub's side of the handshake after the gate checked the proof and the site was registered (`Protocol.md` §8):
/// the position proof and `WELCOME`, then the branch's `CURSOR`. Each half runs when its input is there, so an event
/// loop drives it without waiting.
enum HubHandshake {
    /// What `WELCOME` told the branch, for judging its `CURSOR`.
    struct Welcomed {
        var authenticated: AuthenticatedPeer
        var hubState: ResumeState
        var flags: UInt8
    }

    /// The site is enrolled as a branch (the gate's cache may be a moment behind a `site remove`).
    static func checkEnrolled(_ site: SiteID, store: NodeStore) throws {
        guard let peer = try store.peer(site), peer.role == .branch, peer.retiredAt == nil, peer.revokedAt == nil
        else {
            throw WireError(.authenticationFailed, HubAuthMachine.loginFailed(site).message)
        }
        // Disabled for now: the branch keeps retrying, and comes back once an operator enables it.
        if let disabledAt = peer.disabledAt {
            throw WireError(
                .tryLater, "site \(site) is disabled at the hub (since \(disabledAt)); it retries until 'site enable'")
        }
    }

    /// Judges the branch's position proof and queues `WELCOME` with the hub's resume state.
    static func welcome(
        _ authenticated: AuthenticatedPeer, connection: FramedConnection, store: NodeStore, logger: Logger
    ) throws -> Welcomed {
        let site = authenticated.hello.site
        if let proof = authenticated.hello.proof {
            try judgeRestoreProof(proof, from: site, store: store, logger: logger)
        }
        let positions = try store.resumePositions(for: site)
        let hubState = ResumeState(positions)
        // A stale site's resync says why, unless the hub recovers from a restore: then the branch must hear that.
        let stale = try positions.stale && store.restoreKnowledge() != .recovering
        let flags = positions.resyncPending ? Welcome.fullResync | (stale ? Welcome.staleSite : 0) : 0
        connection.send(
            .welcome(
                Welcome(
                    serverSignature: SiteCredentials.serverSignature(
                        verifier: authenticated.verifier, authMessage: authenticated.authMessage),
                    resume: hubState, flags: flags)))
        return Welcomed(authenticated: authenticated, hubState: hubState, flags: flags)
    }

    /// Takes the branch's `CURSOR`: decides where each stream starts and stores it.
    static func established(_ welcomed: Welcomed, cursor: Cursor, store: NodeStore) throws -> EstablishedSession {
        let hello = welcomed.authenticated.hello
        let site = hello.site
        let plan = ResumePlan(hub: welcomed.hubState, branch: cursor.resume, flags: welcomed.flags)
        // Access may have changed while the site logged in: judged again here, before anything of the login is stored.
        try checkEnrolled(site, store: store)
        // The secret may have been rotated while the site logged in: the proof must be of the current one.
        let proven = welcomed.authenticated.verifier
        guard let current = try store.peer(site), current.storedKey == proven.storedKey,
            current.serverKey == proven.serverKey
        else {
            throw WireError(.authenticationFailed, HubAuthMachine.loginFailed(site).message)
        }
        try store.recordResume(ResumeOutcome(plan, peer: cursor.resume, atHub: true), peer: site)
        // After a clearance change the whole log is resent once (backfill and purge), until acknowledged.
        let resendDue = current.syncedEpoch < current.clearanceEpoch
        return EstablishedSession(
            peer: site, peerRole: .branch, peerSoftware: hello.software,
            outboundCursor: resendDue ? 0 : Int64(clamping: plan.hubStreamStart),
            clockSkewMilliseconds: clockSkew(
                peer: hello.clockMilliseconds, local: welcomed.authenticated.helloReceivedAt),
            clearance: current.clearance, resendEpoch: resendDue ? current.clearanceEpoch : nil,
            fullResync: plan.hubRegressed || plan.staleResync, accessEpoch: current.accessEpoch, plan: plan)
    }
}

extension HubHandshake {
    /// Checks the branch's proof of the last hub position it received (§8.2). A proof this hub made of a position its
    /// history no longer reaches shows that the hub was restored from an older copy: it starts recovering before
    /// `WELCOME`, so this very session already resyncs.
    static func judgeRestoreProof(_ proof: PositionProof, from site: SiteID, store: NodeStore, logger: Logger) throws {
        switch try store.checkPositionProof(proof) {
        case .held:
            break
        case .lost(let reason):
            if try store.startRecovery(provenBy: site, proof: proof, reason: reason) {
                logger.warning(
                    "this hub was restored from an older copy; recovering: every branch resyncs once",
                    [("proven-by", site.rawValue), ("reason", reason)])
            }
        case .recovered(let reason):
            logger.info("a branch presented a proof of history this hub already recovered", [("reason", reason)])
        case .invalid(let reason):
            logger.warning(
                "a branch presented a position proof this hub did not make; ignored",
                [("peer", site.rawValue), ("reason", reason)])
            try store.recordInvalidProof(from: site, reason: reason)
        }
    }
}

/// The branch's side of the handshake (`Protocol.md` §8).
enum BranchHandshake {
    static func perform(
        connection: FramedConnection, store: NodeStore, secret: [UInt8], software: String, options: SessionOptions
    ) throws -> EstablishedSession {
        let hello = Hello(
            minimumVersion: SessionOptions.protocolVersion, maximumVersion: SessionOptions.protocolVersion,
            site: store.identity.site, role: .branch, software: software, schemaVersion: SessionOptions.schemaVersion,
            clockMilliseconds: Timestamp.nowMilliseconds(), nonce: try SecureRandom.bytes(nonceLength),
            proof: try store.hubPositionProof())
        connection.send(.hello(hello))
        try connection.flush()
        let challenge = try reply(connection, options, "CHALLENGE") { message -> Challenge? in
            if case .challenge(let value) = message { return value }
            return nil
        }
        let receivedAt = Timestamp.nowMilliseconds()
        let message = SiteCredentials.authMessage(
            helloPayload: Message.hello(hello).encodedPayload(),
            challengePayload: Message.challenge(challenge).encodedPayload())
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
                code: .authentication)
        }
        try store.rememberHub(challenge.site)
        let branchState = ResumeState(try store.resumePositions(for: challenge.site))
        connection.send(.cursor(Cursor(resume: branchState)))
        try connection.flush()
        let plan = ResumePlan(hub: welcome.resume, branch: branchState, flags: welcome.flags)
        try store.recordResume(ResumeOutcome(plan, peer: welcome.resume, atHub: false), peer: challenge.site)
        return EstablishedSession(
            peer: challenge.site, peerRole: .hub, peerSoftware: challenge.software,
            outboundCursor: Int64(clamping: plan.branchStreamStart),
            clockSkewMilliseconds: clockSkew(peer: challenge.clockMilliseconds, local: receivedAt), clearance: nil,
            plan: plan)
    }

    /// The hub's next handshake message, or the hub's refusal as a ``NodeError``.
    private static func reply<T>(
        _ connection: FramedConnection, _ options: SessionOptions, _ name: String, _ extract: (Message) -> T?
    ) throws -> T {
        let message = try connection.receive(timeout: options.handshakeTimeout)
        if let value = extract(message) { return value }
        if case .error(let error) = message {
            connection.peerSentError()
            let hint =
                error.code == .authenticationFailed
                ? "; check that 'branchsync site list' at the hub shows this site and that this branch holds the "
                    + "secret 'site add' printed"
                : ""
            throw NodeError(
                "the hub refused: \(error.message.escapedForDisplay(limit: 300)) (\(error.code))\(hint)",
                code: isRetryable(error.code) ? .transient : .refusedForGood)
        }
        throw NodeError("the hub sent \(message.type) instead of \(name)")
    }

    /// Refusals that a retry cannot fix (wrong secret, unknown site, schema) stop a branch from retrying in a loop.
    static func isRetryable(_ code: ErrorCode) -> Bool {
        ![ErrorCode.unknownSite, .authenticationFailed, .schemaMismatch, .unsupportedVersion, .roleMismatch].contains(
            code)
    }
}
