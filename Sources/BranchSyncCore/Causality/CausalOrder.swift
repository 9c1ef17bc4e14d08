/// How two version vectors relate in the causal partial order.
public enum CausalOrder: Sendable, Hashable {
    /// Both describe the same history.
    case equal
    /// The left history is a strict prefix of the right one.
    case before
    /// The right history is a strict prefix of the left one.
    case after
    /// Each side has seen a write the other has not.
    case concurrent
}
