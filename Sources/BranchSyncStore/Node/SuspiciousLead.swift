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
    /// The hub's decision, when cleared.
    public var clearance: Clearance?

    /// A decision that cleared a lead.
    public struct Clearance: Sendable, Hashable {
        public var reason: String
        /// Who decided.
        public var by: String
        /// When (ISO 8601 UTC).
        public var at: String

        /// The clearance a decision record holds.
        init(decision: RecordState) {
            reason = decision["reason"] ?? ""
            by = decision["decidedBy"] ?? ""
            at =
                decision.fields["verdict"].map { Timestamp.iso8601(milliseconds: $0.stamp.time.wallMilliseconds) } ?? ""
        }
    }

    /// Whether the lead still waits for an investigation.
    public var isOpen: Bool { clearance == nil }
    /// Whether both customers still share the value on this node.
    public var stillHolds: Bool { detectedAt != nil }
}
