import BranchSyncCore

/// Every message of the BranchSync session protocol (`Protocol.md` §6).
public enum Message: Sendable, Hashable {
    case hello(Hello)
    case challenge(Challenge)
    case auth(Auth)
    case welcome(Welcome)
    case cursor(Cursor)
    case changes(Changes)
    case purge(Purge)
    case ack(Ack)
    case blob(Blob)
    case ping(Ping)
    case pong(Pong)
    case error(ErrorMessage)
    case bye(Bye)

    /// The message's type byte.
    public var type: MessageType {
        switch self {
        case .hello: return .hello
        case .challenge: return .challenge
        case .auth: return .auth
        case .welcome: return .welcome
        case .cursor: return .cursor
        case .changes: return .changes
        case .purge: return .purge
        case .ack: return .ack
        case .blob: return .blob
        case .ping: return .ping
        case .pong: return .pong
        case .error: return .error
        case .bye: return .bye
        }
    }
}

/// The length of handshake nonces and proofs, in bytes.
public let nonceLength = 32

/// Branch → hub, first message: who is connecting and what it speaks (§6.1).
public struct Hello: Sendable, Hashable {
    public var minimumVersion: UInt64
    public var maximumVersion: UInt64
    public var site: SiteID
    public var role: NodeRole
    public var software: String
    public var schemaVersion: UInt64
    /// The sender's wall clock, milliseconds since the Unix epoch.
    public var clockMilliseconds: UInt64
    /// 32 fresh random bytes.
    public var nonce: [UInt8]

    public init(
        minimumVersion: UInt64, maximumVersion: UInt64, site: SiteID, role: NodeRole, software: String,
        schemaVersion: UInt64, clockMilliseconds: UInt64, nonce: [UInt8]
    ) {
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
        self.site = site
        self.role = role
        self.software = software
        self.schemaVersion = schemaVersion
        self.clockMilliseconds = clockMilliseconds
        self.nonce = nonce
    }
}

/// Hub → branch: the chosen version, the hub's identity, and the hub's nonce (§6.2).
public struct Challenge: Sendable, Hashable {
    public var version: UInt64
    public var site: SiteID
    public var software: String
    public var schemaVersion: UInt64
    public var clockMilliseconds: UInt64
    public var nonce: [UInt8]

    public init(
        version: UInt64, site: SiteID, software: String, schemaVersion: UInt64, clockMilliseconds: UInt64,
        nonce: [UInt8]
    ) {
        self.version = version
        self.site = site
        self.software = software
        self.schemaVersion = schemaVersion
        self.clockMilliseconds = clockMilliseconds
        self.nonce = nonce
    }
}

/// Branch → hub: the client proof (§6.3).
public struct Auth: Sendable, Hashable {
    public var proof: [UInt8]

    public init(proof: [UInt8]) {
        self.proof = proof
    }
}

/// Hub → branch: the server signature and where to resume the branch's log (§6.4).
public struct Welcome: Sendable, Hashable {
    public var serverSignature: [UInt8]
    /// The hub has applied the branch's log up to this seq.
    public var cursor: UInt64

    public init(serverSignature: [UInt8], cursor: UInt64) {
        self.serverSignature = serverSignature
        self.cursor = cursor
    }
}

/// Branch → hub: where to resume the hub's log (§6.5).
public struct Cursor: Sendable, Hashable {
    /// The branch has applied the hub's log up to this seq.
    public var cursor: UInt64

    public init(cursor: UInt64) {
        self.cursor = cursor
    }
}

/// A batch of record states from the sender's log (§6.6).
///
/// States travel in their canonical encoding (`Protocol.md` §4). A sender may pass the bytes it stored without
/// decoding them; a decoded message carries both the bytes and the states.
public struct Changes: Sendable, Hashable {
    /// After applying, the receiver has applied the sender's log up to this seq.
    public var upTo: UInt64
    /// The sender's estimate of log entries still to come after this batch (0: caught up).
    public var remaining: UInt64
    /// The canonical encodings of the states, in order.
    public var encodedStates: [[UInt8]]
    /// The decoded states; empty when the message was built from ``encodedStates`` for sending.
    public var states: [RecordState]

    /// A batch from states (encodes them).
    public init(upTo: UInt64, remaining: UInt64, states: [RecordState]) {
        self.upTo = upTo
        self.remaining = remaining
        self.states = states
        self.encodedStates = states.map { $0.encoded() }
    }

    /// A batch from canonical encodings, as stored (for sending).
    public init(upTo: UInt64, remaining: UInt64, encodedStates: [[UInt8]]) {
        self.upTo = upTo
        self.remaining = remaining
        self.encodedStates = encodedStates
        self.states = []
    }

    init(upTo: UInt64, remaining: UInt64, states: [RecordState], encodedStates: [[UInt8]]) {
        self.upTo = upTo
        self.remaining = remaining
        self.states = states
        self.encodedStates = encodedStates
    }

    /// Equal when they carry the same bytes.
    public static func == (lhs: Changes, rhs: Changes) -> Bool {
        lhs.upTo == rhs.upTo && lhs.remaining == rhs.remaining && lhs.encodedStates == rhs.encodedStates
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(upTo)
        hasher.combine(remaining)
        hasher.combine(encodedStates)
    }
}

/// Records the receiver must no longer hold (§6.7).
public struct Purge: Sendable, Hashable {
    public var ids: [RecordID]

    public init(ids: [RecordID]) {
        self.ids = ids
    }
}

/// The receiver applied the sender's log up to `upTo` (§6.8).
public struct Ack: Sendable, Hashable {
    public var upTo: UInt64

    public init(upTo: UInt64) {
        self.upTo = upTo
    }
}

/// An attachment's bytes, sent before the `CHANGES` whose document refers to it (§6.6).
public struct Blob: Sendable, Hashable {
    /// The SHA-256 of `data`; the receiver checks it.
    public var sha256: [UInt8]
    public var data: [UInt8]

    public init(sha256: [UInt8], data: [UInt8]) {
        self.sha256 = sha256
        self.data = data
    }
}

/// Heartbeat with the sender's clock and backlog (§6.9).
public struct Ping: Sendable, Hashable {
    public var clockMilliseconds: UInt64
    /// Log entries the sender holds that the receiver has not acknowledged yet.
    public var pending: UInt64

    public init(clockMilliseconds: UInt64, pending: UInt64) {
        self.clockMilliseconds = clockMilliseconds
        self.pending = pending
    }
}

/// Heartbeat answer, echoing the ping's clock (§6.9).
public struct Pong: Sendable, Hashable {
    public var echoedClockMilliseconds: UInt64

    public init(echoedClockMilliseconds: UInt64) {
        self.echoedClockMilliseconds = echoedClockMilliseconds
    }
}

/// An error; the sender closes the connection after it (§6.10).
public struct ErrorMessage: Sendable, Hashable {
    public var code: ErrorCode
    public var message: String

    public init(code: ErrorCode, message: String) {
        self.code = code
        self.message = message
    }
}

/// Orderly end of a session (§6.11).
public struct Bye: Sendable, Hashable {
    public var reason: String

    public init(reason: String) {
        self.reason = reason
    }
}
