import BranchSyncCore

/// One entry of the change log: the newest state of a record and its position.
public struct ChangeEntry: Sendable, Hashable {
    /// The position in this node's log.
    public var seq: Int64
    /// The site the state came from (this site for local writes and merges that changed it).
    public var origin: String
    /// The record's full state.
    public var state: RecordState
    /// When this node stored it (milliseconds since the epoch).
    public var changedAt: Int64 = 0
}
