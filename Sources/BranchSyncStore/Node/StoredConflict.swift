import BranchSyncCore

/// A conflict as recorded for an operator: which record and field, which value was kept and which lost.
public struct StoredConflict: Sendable, Hashable {
    /// The conflict's number on this node.
    public var id: Int64
    public var recordID: RecordID
    public var collection: RecordCollection
    /// `field` or `delete-update`.
    public var kind: MergeConflict.Kind
    public var field: String
    public var keptValue: String
    /// `site:counter@wall.logical` of the kept write.
    public var keptStamp: String
    public var lostValue: String
    /// `site:counter@wall.logical` of the losing write.
    public var lostStamp: String
    /// When this node detected it (ISO 8601 UTC).
    public var detectedAt: String
    /// The site whose change revealed it (this site for local merges).
    public var peer: String
    /// `open` or `resolved`.
    public var status: String
    public var resolvedAt: String?
    public var resolvedBy: String?
    public var resolution: String?
}
