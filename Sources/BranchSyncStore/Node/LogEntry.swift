import BranchSyncCore

/// One entry of this node's change log as it goes out to peers: the record's newest state at that position, with
/// the columns that decide who may receive it. Read once, sent to many (``RecentLog``).
public struct LogEntry: Sendable {
    public var seq: Int64
    /// The site whose change put the record here (the echo rule).
    public var origin: String
    public var owner: String
    public var classification: Classification
    /// The sites a confidential record is shared with, as the `shared_with` column holds them (`,a,b,`).
    public var sharedWith = ""
    /// Whether the entry is an audit block (only its site and the hub ever hold one).
    public var isAuditBlock = false
    public var id: String
    /// The canonical encoding, as stored.
    public var state: [UInt8]
    /// SHA-256 (hex) of the record's attachment, if it has one.
    public var attachment: String?
    /// When the entry was stored here (milliseconds since the epoch).
    public var changedAt: Int64

    /// What a peer gets of this entry (DESIGN.md §3, §8): the state, a purge (the peer may not hold the record; it
    /// never sees the content), or nothing (the peer's own change coming back, above its echo floor).
    public enum Delivery: Equatable {
        case state
        case purge
        case skip
    }

    /// What `peer` gets of this entry; `clearance` is `nil` when this node is a branch sending to its hub.
    public func delivery(to peer: SiteID, clearance: Classification?, echoFloor: Int64) -> Delivery {
        if let clearance,
            !Scope.mayHold(
                owner: owner, classification: classification, sharedWith: sharedWith, site: peer,
                clearance: clearance)
        {
            // Another site's audit block was never in the peer's scope (always secret, never changed): nothing to
            // purge.
            return isAuditBlock ? .skip : .purge
        }
        if origin == peer.rawValue && seq > echoFloor { return .skip }
        return .state
    }
}

/// An outbound batch being filled from log entries, by the same rules whether they come from SQLite or memory.
struct OutboundBatchBuilder {
    private(set) var batch: OutboundBatch
    private var bytes = 0
    let maximumBytes: Int

    init(after cursor: Int64, maximumBytes: Int) {
        batch = OutboundBatch(upTo: cursor, encodedStates: [], purges: [], attachments: [], reachedEnd: true)
        self.maximumBytes = maximumBytes
    }

    /// Whether the batch has room for more.
    var isFull: Bool { bytes >= maximumBytes }

    /// Adds an entry (the caller stops once ``isFull``).
    mutating func add(_ entry: LogEntry, for peer: SiteID, clearance: Classification?, echoFloor: Int64) {
        batch.upTo = entry.seq
        switch entry.delivery(to: peer, clearance: clearance, echoFloor: echoFloor) {
        case .purge:
            if let id = try? RecordID(entry.id) { batch.purges.append(id) }
        case .skip:
            break
        case .state:
            bytes += entry.state.count
            batch.encodedStates.append(entry.state)
            if entry.isAuditBlock { batch.auditBlocks += 1 }
            if let sha = entry.attachment { batch.attachments.append(sha) }
        }
    }
}
