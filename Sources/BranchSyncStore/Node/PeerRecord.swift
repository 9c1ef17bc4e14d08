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
    /// The highest counter of the peer's own writes held here (the peer's counter floor after a restore).
    public var peerCounter: Int64
    /// The peer's incarnation as last seen (`nil` before the first handshake).
    public var peerIncarnation: [UInt8]?
    /// Entries of this node's log up to here are sent to the peer even if they came from it (it may have lost them).
    public var echoFloor: Int64
    /// Hub: a full resync with this site is due because the hub was restored.
    public var resyncPending: Bool
    /// The last restore detected at a handshake with this peer, and what gave it away.
    public var lastRegression: String?
    /// How long the oldest change the peer has for this node has waited (milliseconds), as it last said.
    public var peerPendingAgeMilliseconds: Int64?
    /// The last verify that found this node and the peer identical.
    public var verifiedAt: String?
    /// This node's log head and the peer's log position (this node's applied cursor) at that verify.
    public var verifiedSeq: Int64?
    public var verifiedPeerSeq: Int64?
    /// The records compared then.
    public var verifiedRecords: Int64?
    /// The last verify, whatever it found, and its result in one line.
    public var lastVerifyAt: String?
    public var lastVerifyResult: String?
    /// When that verify started: it answers a `branchsync verify` asked for before then.
    public var lastVerifyStartedAt: String?
    /// When the site was retired (`site retire`), and the site its records were handed to.
    public var retiredAt: String?
    public var successor: SiteID?
    /// When an operator disabled the site (`site disable`; `site enable` clears it), and revoked it for good.
    public var disabledAt: String?
    public var revokedAt: String?
    /// Grows with every change of the site's access (disable, revoke, retire, a new secret): a connected session of
    /// the site ends when it changes.
    public var accessEpoch: Int64 = 0
    /// Hub: the position of this node's log the site had applied the last time both sides were caught up; tombstones
    /// up to the lowest such position of the counted sites are collected (``NodeStore/collectTombstones(horizonMilliseconds:minimumAgeMilliseconds:)``).
    public var settledCursor: Int64 = 0
    /// Hub: when the site was found silent past the GC horizon; it owes a full resync and holds no collection back.
    public var staleSince: String?

    /// Why the site may not log in now, or `nil` when it may.
    public var accessDenied: String? {
        if let retiredAt { return "retired at \(retiredAt) (its records are with \(successor?.rawValue ?? "?"))" }
        if let revokedAt { return "revoked at \(revokedAt)" }
        if let disabledAt { return "disabled at \(disabledAt) (`branchsync site enable` lets it back)" }
        return nil
    }
}

/// A change refused by this node (or, at a branch, by its hub) and kept aside for an operator.
public struct QuarantinedChange: Sendable, Hashable {
    public var id: Int64
    /// The site the change came from (at a branch, for `refused-by-hub`: the hub that refused it).
    public var peer: String
    public var recordID: String
    public var collection: String
    /// `refused` (policy, answered with a compensating write), `invalid` (causally invalid: the site is flagged),
    /// `held` (waits for a record), `refused-by-hub` (at a branch: the hub refused this node's change).
    public var kind: String
    public var reason: String
    public var receivedAt: String
    /// `open`, `held`, `readmitted`, `dropped`.
    public var status: String
}

/// What applying one incoming batch did.
public struct BatchResult: Sendable, Hashable {
    /// States that changed a record here (merged, or re-stamped by the hub).
    public var applied = 0
    /// States that brought nothing new.
    public var unchanged = 0
    /// States kept aside for an operator: refused by policy, or causally invalid.
    public var quarantined = 0
    /// Of those, policy refusals answered with a compensating write (the sender gets `REFUSED`).
    public var refused = 0
    /// States that wait for a record the hub does not hold yet.
    public var held = 0
    /// States the hub admitted but re-stamped because the sender's clock is ahead.
    public var restamped = 0
    public var conflicts = 0
    /// Why states were causally invalid (the hub ends the session after acknowledging the batch).
    public var invalid: [String] = []
    /// Records the sender still holds but may not: it is told to purge them.
    public var purges: [RecordID] = []
    /// Old copies of records the hub collected (Protocol.md §9.7): not taken in; the sender is told to forget them.
    public var forgotten: [(id: RecordID, vector: VersionVector)] = []

    public init() {}

    public static func == (lhs: BatchResult, rhs: BatchResult) -> Bool {
        lhs.applied == rhs.applied && lhs.unchanged == rhs.unchanged && lhs.quarantined == rhs.quarantined
            && lhs.refused == rhs.refused && lhs.held == rhs.held && lhs.restamped == rhs.restamped
            && lhs.conflicts == rhs.conflicts && lhs.invalid == rhs.invalid && lhs.purges == rhs.purges
            && lhs.forgotten.map(\.id) == rhs.forgotten.map(\.id)
            && lhs.forgotten.map(\.vector) == rhs.forgotten.map(\.vector)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(applied)
        hasher.combine(purges)
        hasher.combine(forgotten.map(\.id))
    }
}

/// A policy refusal the sender is told about with `REFUSED` (Protocol.md §6), until it has received it.
public struct RefusalNotice: Sendable, Hashable {
    /// The quarantine row.
    public var id: Int64
    public var recordID: RecordID
    /// The sender's newest write in the refused state.
    public var dot: Dot
    public var reason: String
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
    /// How many of the states are audit blocks (the trail's, not the operator's changes).
    public var auditBlocks = 0
}
