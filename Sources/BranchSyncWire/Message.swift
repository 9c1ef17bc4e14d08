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
    case refused(Refused)
    case forget(Forget)
    case ping(Ping)
    case pong(Pong)
    case error(ErrorMessage)
    case bye(Bye)
    case verify(Verify)
    case verifySummary(VerifySummary)
    case verifyList(VerifyList)
    case verifyEntries(VerifyEntries)
    case repair(Repair)
    case fetch(Fetch)

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
        case .refused: return .refused
        case .forget: return .forget
        case .ping: return .ping
        case .pong: return .pong
        case .error: return .error
        case .bye: return .bye
        case .verify: return .verify
        case .verifySummary: return .verifySummary
        case .verifyList: return .verifyList
        case .verifyEntries: return .verifyEntries
        case .repair: return .repair
        case .fetch: return .fetch
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
    /// The hub's proof of the last position of its log this branch received (§8.2), kept until the next one
    /// replaces it; `nil` before the first.
    public var proof: PositionProof?

    public init(
        minimumVersion: UInt64, maximumVersion: UInt64, site: SiteID, role: NodeRole, software: String,
        schemaVersion: UInt64, clockMilliseconds: UInt64, nonce: [UInt8], proof: PositionProof? = nil
    ) {
        self.proof = proof
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

/// The length of a node's incarnation id in bytes (Protocol.md §8.2).
public let incarnationLength = 16

/// What one side of a session knows about the other's log and its own, stated after authentication so that each
/// side can tell whether the other (or itself) was restored from an older copy (Protocol.md §8.2).
public struct ResumeState: Sendable, Hashable {
    /// This side has applied the peer's log up to this seq.
    public var cursor: UInt64
    /// This side's record of how far the peer has applied this side's log (its latest acknowledgement).
    public var acked: UInt64
    /// This side's log head: the highest seq it has used.
    public var logHead: UInt64
    /// The highest counter of the peer's own writes that this side holds.
    public var yourCounter: UInt64
    /// This side's incarnation: random, new at `init` and at `restore`.
    public var incarnation: [UInt8]
    /// The peer's incarnation as this side last saw it (zeros if never).
    public var yourIncarnation: [UInt8]

    public init(
        cursor: UInt64, acked: UInt64, logHead: UInt64, yourCounter: UInt64, incarnation: [UInt8],
        yourIncarnation: [UInt8]
    ) {
        self.cursor = cursor
        self.acked = acked
        self.logHead = logHead
        self.yourCounter = yourCounter
        self.incarnation = incarnation
        self.yourIncarnation = yourIncarnation
    }
}

/// Hub → branch: the server signature and the hub's resume state (§6.4).
public struct Welcome: Sendable, Hashable {
    public var serverSignature: [UInt8]
    /// The hub's side: `cursor` is how far the hub applied the branch's log.
    public var resume: ResumeState
    /// Bit 0: the hub was restored and asks for a full resync in both directions.
    public var flags: UInt8

    /// The flag asking for a full resync.
    public static let fullResync: UInt8 = 1
    /// With ``fullResync``: the reason is that the site was silent past the hub's GC horizon (Protocol.md §9.7), not
    /// a restore of the hub.
    public static let staleSite: UInt8 = 2
    /// The flags a hub may set.
    public static let knownFlags: UInt8 = fullResync | staleSite

    public init(serverSignature: [UInt8], resume: ResumeState, flags: UInt8 = 0) {
        self.serverSignature = serverSignature
        self.resume = resume
        self.flags = flags
    }
}

/// Branch → hub: the branch's resume state (§6.5).
public struct Cursor: Sendable, Hashable {
    /// The branch's side: `cursor` is how far the branch applied the hub's log.
    public var resume: ResumeState

    public init(resume: ResumeState) {
        self.resume = resume
    }
}

/// A batch of record states from the sender's log (§6.6).
///
/// States travel in their canonical encoding (`Protocol.md` §4) and are decoded by the receiver one by one, so one
/// state that does not decode is quarantined on its own instead of failing the whole frame.
public struct Changes: Sendable, Hashable {
    /// After applying, the receiver has applied the sender's log up to this seq.
    public var upTo: UInt64
    /// The sender's estimate of log entries still to come after this batch (0: caught up).
    public var remaining: UInt64
    /// The canonical encodings of the states, in order.
    public var encodedStates: [[UInt8]]
    /// Hub: its proof of `upTo` (§8.2), which the branch stores with its cursor. Branches send none.
    public var proof: PositionProof?

    /// A batch from canonical encodings, as stored.
    public init(upTo: UInt64, remaining: UInt64, encodedStates: [[UInt8]], proof: PositionProof? = nil) {
        self.upTo = upTo
        self.remaining = remaining
        self.encodedStates = encodedStates
        self.proof = proof
    }

    /// A batch from states (encodes them).
    public init(upTo: UInt64, remaining: UInt64, states: [RecordState], proof: PositionProof? = nil) {
        self.init(upTo: upTo, remaining: remaining, encodedStates: states.map { $0.encoded() }, proof: proof)
    }
}

/// Records the receiver must no longer hold (§6.7).
public struct Purge: Sendable, Hashable {
    public var ids: [RecordID]

    public init(ids: [RecordID]) {
        self.ids = ids
    }
}

/// Hub → branch: records the hub collected (their tombstones, once every site had them, §9.7). The branch drops
/// its copy of each unless it changed it after the state the hub names: a copy within `vector` is an older state of
/// a record deleted everywhere, and would otherwise come back.
public struct Forget: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var id: RecordID
        /// The branch drops its copy only if the copy's version vector is within this one.
        public var vector: VersionVector

        public init(id: RecordID, vector: VersionVector) {
            self.id = id
            self.vector = vector
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
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

/// Hub → branch: the hub refused the branch's change to a record (§6.6a). The hub's compensating write follows in
/// the log; the branch lists the refusal in its quarantine with the values it holds.
public struct Refused: Sendable, Hashable {
    public var recordID: RecordID
    /// The branch's newest write in the refused state.
    public var dot: Dot
    /// Why, in one line.
    public var reason: String

    public init(recordID: RecordID, dot: Dot, reason: String) {
        self.recordID = recordID
        self.dot = dot
        self.reason = reason
    }
}

/// Heartbeat with the sender's clock and backlog (§6.9).
public struct Ping: Sendable, Hashable {
    public var clockMilliseconds: UInt64
    /// Log entries the sender holds that the receiver has not acknowledged yet.
    public var pending: UInt64
    /// How long (milliseconds) the oldest of them has waited; 0 when none.
    public var pendingAge: UInt64

    public init(clockMilliseconds: UInt64, pending: UInt64, pendingAge: UInt64 = 0) {
        self.clockMilliseconds = clockMilliseconds
        self.pending = pending
        self.pendingAge = pendingAge
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

/// A node of the verify tree (§9.5): the root (empty), a bucket (one byte: the last byte of record ids), or a
/// sub-bucket (two bytes: the last byte, then the one before it).
public typealias VerifyPath = [UInt8]

/// One node's summary: how many records it holds and the XOR of their digests.
public struct VerifyNodeSummary: Sendable, Hashable {
    public var path: VerifyPath
    public var records: UInt64
    /// XOR of the first 8 bytes of the SHA-256 of each record's canonical state.
    public var digest: UInt64

    public init(path: VerifyPath, records: UInt64, digest: UInt64) {
        self.path = path
        self.records = records
        self.digest = digest
    }
}

/// One record in a verify listing: its id and digest.
public struct VerifyEntry: Sendable, Hashable {
    public var id: RecordID
    public var digest: UInt64

    public init(id: RecordID, digest: UInt64) {
        self.id = id
        self.digest = digest
    }
}

/// Verify initiator → responder: "your summaries of these nodes" (§9.5).
public struct Verify: Sendable, Hashable {
    public var round: UInt64
    public var paths: [VerifyPath]

    public init(round: UInt64, paths: [VerifyPath]) {
        self.round = round
        self.paths = paths
    }
}

/// Responder → initiator: the summaries asked for, in the order asked.
public struct VerifySummary: Sendable, Hashable {
    public var round: UInt64
    public var nodes: [VerifyNodeSummary]

    public init(round: UInt64, nodes: [VerifyNodeSummary]) {
        self.round = round
        self.nodes = nodes
    }
}

/// Initiator → responder: "list the records in these nodes".
public struct VerifyList: Sendable, Hashable {
    public var round: UInt64
    public var paths: [VerifyPath]

    public init(round: UInt64, paths: [VerifyPath]) {
        self.round = round
        self.paths = paths
    }
}

/// Responder → initiator: every record in the nodes asked for.
public struct VerifyEntries: Sendable, Hashable {
    public var round: UInt64
    public var entries: [VerifyEntry]

    public init(round: UInt64, entries: [VerifyEntry]) {
        self.round = round
        self.entries = entries
    }
}

/// Either way: record states that differ, applied like the states of `CHANGES` without moving a cursor.
public struct Repair: Sendable, Hashable {
    /// Why the states are sent.
    public enum Kind: UInt8, Sendable, Hashable {
        /// The verify initiator pushes states the responder lacks or holds differently.
        case push = 0
        /// Part of the answer to a `FETCH`; more parts follow.
        case reply = 1
        /// The last part of the answer to a `FETCH`.
        case finalReply = 2
    }

    public var round: UInt64
    public var kind: Kind
    public var encodedStates: [[UInt8]]

    public init(round: UInt64, kind: Kind, encodedStates: [[UInt8]]) {
        self.round = round
        self.kind = kind
        self.encodedStates = encodedStates
    }
}

/// Initiator → responder: "send me your states of these records", answered by `REPAIR` parts, the last one final.
public struct Fetch: Sendable, Hashable {
    public var round: UInt64
    public var ids: [RecordID]

    public init(round: UInt64, ids: [RecordID]) {
        self.round = round
        self.ids = ids
    }
}
