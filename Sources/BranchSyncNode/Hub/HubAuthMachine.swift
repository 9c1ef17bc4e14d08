import BranchSyncCore
import BranchSyncCrypto
import BranchSyncWire

/// A branch whose proof the hub checked: what the rest of the handshake needs.
struct AuthenticatedPeer {
    var hello: Hello
    var challenge: Challenge
    var verifier: SiteCredentials.Verifier
    var authMessage: [UInt8]
    /// The hub's wall clock when `HELLO` arrived, for the clock skew.
    var helloReceivedAt: UInt64
}

/// The hub's side of the handshake up to a checked proof (`Protocol.md` §8, §8.1), as a pure state machine: fed
/// decoded messages and clock ticks, it answers with what to do. It never touches storage: credentials come from
/// the caller's in-memory cache, and failures go to the caller's throttle.
///
/// Every refusal of a login is the same `AUTHENTICATION_FAILED`, whether the site is unknown or the secret wrong: an
/// unknown site still gets a `CHALLENGE` (its nonce is as fresh as any) and fails at `AUTH`, so the hub's answers do
/// not tell which sites are enrolled.
struct HubAuthMachine {
    /// What the I/O layer does next.
    enum Step {
        /// Send this message and wait for the next.
        case send(Message)
        /// Send `ERROR` with this error and close. `failedLogin` names the site a wrong proof was for (the throttle
        /// counts it).
        case refuse(WireError, failedLogin: SiteID?)
        /// Close without a word (the peer sent `ERROR`).
        case close
        /// The proof is right: hand the connection to a session.
        case authenticated(AuthenticatedPeer)
    }

    /// What the machine needs from the hub, passed with each input.
    struct Context {
        var hubSite: SiteID
        var software: String
        /// The hub's wall clock (milliseconds since 1970).
        var wallClock: UInt64
        /// 32 fresh random bytes, used if this input produces a `CHALLENGE`.
        var nonce: [UInt8]
        /// The site's verifier, or `nil` if it is not enrolled.
        var credentials: (SiteID) -> SiteCredentials.Verifier?
        /// How long (milliseconds) logins for the site from this connection's address must still wait, if at all.
        var retryAfter: (SiteID) -> UInt64?
    }

    private enum State {
        case awaitingHello
        case awaitingAuth(Hello, Challenge, receivedAt: UInt64)
        case finished
    }

    private var state = State.awaitingHello
    /// Monotonic milliseconds by which the proof must have arrived.
    let deadline: UInt64

    init(deadline: UInt64) {
        self.deadline = deadline
    }

    /// Whether the machine has given its last step.
    var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// The step a message from the branch leads to.
    mutating func receive(_ message: Message, context: Context) -> Step {
        if case .error = message {
            state = .finished
            return .close
        }
        switch state {
        case .awaitingHello:
            guard case .hello(let hello) = message else { return refuse(.unexpectedMessage, "expected HELLO") }
            return receiveHello(hello, context: context)
        case .awaitingAuth(let hello, let challenge, let receivedAt):
            guard case .auth(let auth) = message else { return refuse(.unexpectedMessage, "expected AUTH") }
            state = .finished
            let message = SiteCredentials.authMessage(
                helloPayload: Message.hello(hello).encodedPayload(),
                challengePayload: Message.challenge(challenge).encodedPayload())
            guard let verifier = context.credentials(hello.site),
                SiteCredentials.verifyClientProof(auth.proof, verifier: verifier, authMessage: message)
            else {
                return .refuse(Self.loginFailed(hello.site), failedLogin: hello.site)
            }
            return .authenticated(
                AuthenticatedPeer(
                    hello: hello, challenge: challenge, verifier: verifier, authMessage: message,
                    helloReceivedAt: receivedAt))
        case .finished:
            return refuse(.unexpectedMessage, "the handshake is over")
        }
    }

    /// The step the passing of time leads to: a refusal once the deadline has passed.
    mutating func tick(now: UInt64) -> Step? {
        guard !isFinished, now >= deadline else { return nil }
        return refuse(.timeout, "the handshake did not complete in time")
    }

    /// The one answer to every failed login.
    static func loginFailed(_ site: SiteID) -> WireError {
        WireError(.authenticationFailed, "authentication failed for site \(site): unknown site or wrong secret")
    }

    private mutating func receiveHello(_ hello: Hello, context: Context) -> Step {
        let site = hello.site
        let version = SessionOptions.protocolVersion
        guard hello.minimumVersion <= version && version <= hello.maximumVersion else {
            return refuse(
                .unsupportedVersion,
                "this hub speaks protocol \(version); site \(site) speaks \(hello.minimumVersion)–\(hello.maximumVersion)"
            )
        }
        guard hello.role == .branch else {
            return refuse(.roleMismatch, "\(site) connected as a hub; only branches connect to a hub")
        }
        guard hello.schemaVersion == SessionOptions.schemaVersion else {
            return refuse(
                .schemaMismatch,
                "record schema \(hello.schemaVersion) at \(site) differs from \(SessionOptions.schemaVersion) at the hub; upgrade the older side"
            )
        }
        if let wait = context.retryAfter(site) {
            return refuse(
                .tryLater, "too many failed logins; retry in \((wait + 999) / 1000) s")
        }
        let challenge = Challenge(
            version: version, site: context.hubSite, software: context.software,
            schemaVersion: SessionOptions.schemaVersion, clockMilliseconds: context.wallClock, nonce: context.nonce)
        state = .awaitingAuth(hello, challenge, receivedAt: context.wallClock)
        return .send(.challenge(challenge))
    }

    private mutating func refuse(_ code: ErrorCode, _ message: String) -> Step {
        state = .finished
        return .refuse(WireError(code, message), failedLogin: nil)
    }
}
