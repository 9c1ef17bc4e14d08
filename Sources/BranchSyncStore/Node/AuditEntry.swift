/// One line of the audit trail.
public struct AuditEntry: Sendable, Hashable {
    public var id: Int64
    /// When (ISO 8601 UTC, milliseconds).
    public var at: String
    /// Who.
    public var actor: String
    /// From where.
    public var origin: String
    /// What: `create`, `update`, `delete`, `apply`, `init`.
    public var action: String
    public var collection: String?
    public var recordID: String?
    /// Which fields, or how a remote change was applied.
    public var detail: String
}
