/// The hub's connection limits (`branchsync run --max-connections …`). Each hit is logged and counted in `status`.
public struct HubLimits: Sendable {
    /// Connections at most, overall; `nil` for as many as the file descriptor limit leaves room for.
    public var maximumConnections: Int?
    /// Connections at most from one source address (branches behind one NAT share an address).
    public var maximumConnectionsPerAddress = 64
    /// Open quarantine rows one branch may have at most; past it the hub applies nothing more of that branch (its
    /// session ends with `TRY_LATER`) until an operator reviews and drops them. Bounds what a faulty or hostile
    /// branch can make the hub store.
    public var maximumQuarantinePerSite = 10_000

    public init() {}

    /// The overall limit in force: the configured one, never above what the descriptors allow.
    public var effectiveMaximumConnections: Int {
        min(maximumConnections ?? Int.max, DescriptorLimit.sessionCapacity)
    }
}
