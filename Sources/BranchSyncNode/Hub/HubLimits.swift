/// The hub's connection limits (`branchsync run --max-connections …`). Each hit is logged and counted in `status`.
public struct HubLimits: Sendable {
    /// Connections at most, overall; `nil` for as many as the file descriptor limit leaves room for.
    public var maximumConnections: Int?
    /// Connections at most from one source address (branches behind one NAT share an address).
    public var maximumConnectionsPerAddress = 64

    public init() {}

    /// The overall limit in force: the configured one, never above what the descriptors allow.
    public var effectiveMaximumConnections: Int {
        min(maximumConnections ?? Int.max, DescriptorLimit.sessionCapacity)
    }
}
