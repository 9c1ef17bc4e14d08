import BranchSyncCore

/// What a node knows about one peer: on the hub each enrolled branch, on a branch its hub.
public struct PeerRecord: Sendable, Hashable {
    public var site: SiteID
    /// The peer's role.
    public var role: NodeRole
    /// The highest class of others' records the peer may hold (hub side).
    public var clearance: Classification
    /// The SCRAM verifier (hub side): `(storedKey, serverKey)`.
    public var storedKey: [UInt8]?
    public var serverKey: [UInt8]?
    public var enrolledAt: String
    /// This node applied the peer's log up to this seq.
    public var appliedCursor: Int64
    /// The peer applied this node's log up to this seq.
    public var ackedCursor: Int64
    /// Whether a session is open (as last recorded; see ``lastSeenAt`` for staleness).
    public var online: Bool
    /// When the peer last went online or offline.
    public var stateSince: String?
    public var lastSeenAt: String?
    /// When a batch last went through, either way.
    public var lastSyncAt: String?
    public var peerSoftware: String?
    /// Peer clock minus this node's clock at the handshake, in milliseconds.
    public var clockSkewMilliseconds: Int64?
    /// Changes the peer said it holds for this node and this node has not acknowledged.
    public var peerPending: Int64
    /// Changes still to come in the current incoming stream (bootstrap progress).
    public var incomingRemaining: Int64
    /// Changes received from the peer in total.
    public var incomingDone: Int64
    public var lastError: String?
    /// Bumped by every change of clearance.
    public var clearanceEpoch: Int64
    /// The clearance epoch whose full resend the peer has acknowledged; behind ``clearanceEpoch`` means the next
    /// session resends the whole log (backfill and purge).
    public var syncedEpoch: Int64
}

/// A change refused by this node and kept aside for an operator.
public struct QuarantinedChange: Sendable, Hashable {
    public var id: Int64
    public var peer: String
    public var recordID: String
    public var collection: String
    public var reason: String
    public var receivedAt: String
    public var status: String
}

/// What applying one incoming batch did.
public struct BatchResult: Sendable, Hashable {
    public var applied = 0
    public var unchanged = 0
    public var quarantined = 0
    public var conflicts = 0

    public init() {}
}

/// One outgoing batch read from this node's log for a peer.
public struct OutboundBatch: Sendable {
    /// The receiver will have applied this node's log up to here after this batch.
    public var upTo: Int64
    /// The canonical encodings of the states to send, as stored (never decoded on the way out).
    public var encodedStates: [[UInt8]]
    /// Ids the receiver must purge (records it may not hold).
    public var purges: [RecordID]
    /// SHA-256 (hex) of the attachments the states refer to that this node holds.
    public var attachments: [String]
    /// Whether the log has nothing after `upTo`.
    public var reachedEnd: Bool
}
