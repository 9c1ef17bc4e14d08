import BranchSyncCore

/// A suspicious-customer lead as listed: two live customers sharing a phone, bank account, credit code or customer
/// code, and whether the hub has cleared it.
public struct SuspiciousLead: Sendable, Hashable {
    /// One customer of the lead, as this node holds it.
    public struct Customer: Sendable, Hashable {
        public var id: RecordID
        /// The site that owns the customer.
        public var owner: String
        public var name: String
        public var code: String
    }

    /// Derived from kind, value and both ids: the same at every site.
    public var id: RecordID
    public var kind: SuspicionKind
    public var value: String
    public var first: Customer?
    public var second: Customer?
    /// When this node found it (ISO 8601 UTC); `nil` for a cleared lead that no longer holds here.
    public var detectedAt: String?
    /// The hub's decision, when cleared: reason, who, when (ISO 8601 UTC).
    public var clearance: (reason: String, by: String, at: String)? {
        get { clearedReason.map { ($0, clearedBy ?? "", clearedAt ?? "") } }
        set {
            clearedReason = newValue?.reason
            clearedBy = newValue?.by
            clearedAt = newValue?.at
        }
    }
    var clearedReason: String?
    var clearedBy: String?
    var clearedAt: String?

    /// Whether the lead still waits for an investigation.
    public var isOpen: Bool { clearedReason == nil }
    /// Whether both customers still share the value on this node.
    public var stillHolds: Bool { detectedAt != nil }
}
