import BranchSyncCore

/// Who this node is: fixed at `init`.
public struct NodeIdentity: Sendable, Hashable {
    /// This node's site id.
    public var site: SiteID
    /// Hub or branch.
    public var role: NodeRole
    /// For a branch, the hub's `HOST:PORT`.
    public var hubAddress: String?

    public init(site: SiteID, role: NodeRole, hubAddress: String? = nil) {
        self.site = site
        self.role = role
        self.hubAddress = hubAddress
    }
}

/// Who is acting and from where, for the audit trail ("who did what, when, from where").
public struct AuditActor: Sendable, Hashable {
    /// The user (operating-system login, or a name given with `--actor`).
    public var user: String
    /// Where the action came from, e.g. `cli@host-name` or `sync:bj01`.
    public var origin: String

    public init(user: String, origin: String) {
        self.user = user
        self.origin = origin
    }
}

/// A file attached to a document.
public struct Attachment: Sendable, Hashable {
    /// The file's name (without directories).
    public var name: String
    /// The file's bytes.
    public var bytes: [UInt8]

    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}
