/// The result of merging a remote record state into the local one.
public struct MergeOutcome: Sendable, Hashable {
    /// The state to store.
    public var state: RecordState
    /// How the remote version vector related to the local one (`nil` when there was no local state).
    public var remoteRelation: CausalOrder?
    /// True conflicts found; empty unless the states were concurrent.
    public var conflicts: [MergeConflict]

    /// Whether the local state must be replaced.
    public var changesLocal: Bool
    /// Whether the result is exactly the remote state (then it need not be sent back to where it came from).
    public var equalsRemote: Bool
}
