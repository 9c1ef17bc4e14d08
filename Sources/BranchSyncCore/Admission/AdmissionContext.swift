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
    /// Whether the hub was restored from an older copy and is regaining what it lost from its branches' resends
    /// (DESIGN.md §12). Then a claim about another site's writes that the hub does not hold may be true: the state
    /// waits (``AdmissionVerdict/hold(_:awaiting:)``) instead of being judged forged.
    public var recovering: Bool
    /// The hub's own write counter: while recovering, a state may carry hub writes the hub lost, up to this.
    public var hubCounter: UInt64
    /// How far ahead of the hub's clock the sender's own new writes may be stamped before the hub re-stamps them.
    public var futureTolerance: UInt64

    public init(
        sender: SiteID, hub: SiteID, clearance: Classification, wallMilliseconds: UInt64, recovering: Bool = false,
        hubCounter: UInt64 = 0, futureTolerance: UInt64 = Admission.futureStampTolerance
    ) {
        self.sender = sender
        self.hub = hub
        self.clearance = clearance
        self.wallMilliseconds = wallMilliseconds
        self.recovering = recovering
        self.hubCounter = hubCounter
        self.futureTolerance = futureTolerance
    }
}
