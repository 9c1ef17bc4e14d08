/// What the hub knows when it judges a state a branch sent (``Admission/admit(_:encoded:local:context:lookup:)``).
public struct AdmissionContext: Sendable, Hashable {
    /// The branch that sent the state.
    public var sender: SiteID
    /// The hub judging it.
    public var hub: SiteID
    /// The sender's clearance: the highest class of other sites' records it may hold.
    public var clearance: Classification
    /// The hub's wall clock, milliseconds since the Unix epoch.
    public var wallMilliseconds: UInt64
    /// What the hub knows about its own restore (DESIGN.md §12), which decides how it judges a claim about another
    /// site's writes that it does not hold.
    public var restore: RestoreKnowledge
    /// How far ahead of the hub's clock the sender's own new writes may be stamped before the hub re-stamps them.
    public var futureTolerance: UInt64

    public init(
        sender: SiteID, hub: SiteID, clearance: Classification, wallMilliseconds: UInt64,
        restore: RestoreKnowledge = .none, futureTolerance: UInt64 = Admission.futureStampTolerance
    ) {
        self.sender = sender
        self.hub = hub
        self.clearance = clearance
        self.wallMilliseconds = wallMilliseconds
        self.restore = restore
        self.futureTolerance = futureTolerance
    }
}

/// What a hub knows about having been restored from an older copy of its database.
public enum RestoreKnowledge: Sendable, Hashable {
    /// Nothing shows it: a claim about another site's writes the hub does not hold is forged.
    case none
    /// Proven (a branch presented the hub's own proof of a position its history no longer reaches, Protocol.md
    /// §8.2): the hub regains what it lost from every branch's full resend, and takes the claims in those states as
    /// true. Shown in `status` and the audit trail until every branch resynced.
    case recovering
}
