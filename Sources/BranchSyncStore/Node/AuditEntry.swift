import BranchSyncCore

/// One line of the audit trail.
public struct AuditEntry: Sendable, Hashable {
    public var id: Int64
    /// When (ISO 8601 UTC, milliseconds).
    public var at: String
    /// Who.
    public var actor: String
    /// From where.
    public var origin: String
    /// What: `create`, `update`, `delete`, `apply`, `init`, `read`, `clear-lead`, `merge`, …
    public var action: String
    public var collection: String?
    public var recordID: String?
    /// Which fields, or how a remote change was applied.
    public var detail: String
    /// The site whose trail holds the entry (the hub holds every site's).
    public var site: String = ""
    /// The entry's number in its site's trail.
    public var seq: Int64 = 0
}

/// Which audit entries to list; `nil` matches everything.
public struct AuditFilter: Sendable, Hashable {
    public var recordID: RecordID?
    public var site: String?
    public var user: String?
    public var action: String?
    /// Entries at or after this time (ISO 8601 UTC, or a prefix such as a date).
    public var from: String?
    /// Entries before this time.
    public var to: String?

    public init(
        recordID: RecordID? = nil, site: String? = nil, user: String? = nil, action: String? = nil,
        from: String? = nil, to: String? = nil
    ) {
        self.recordID = recordID
        self.site = site
        self.user = user
        self.action = action
        self.from = from
        self.to = to
    }
}
