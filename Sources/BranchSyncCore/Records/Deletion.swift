/// A tombstone: the causal context of the deletes a record has seen.
///
/// A record is deleted when every field write it holds is covered by `context`. A field write the deleting site had
/// not seen (a concurrent update) is not covered, so the record stays alive: update wins over concurrent delete.
/// Merging two tombstones takes the union of their contexts and the later stamp, so it is commutative,
/// associative and idempotent.
public struct Deletion: Sendable, Hashable {
    /// Every write that the deletes had seen.
    public var context: VersionVector
    /// The latest delete (for display: who deleted, when).
    public var stamp: Stamp

    public init(context: VersionVector, stamp: Stamp) {
        self.context = context
        self.stamp = stamp
    }

    /// The union of two tombstones.
    public func merged(with other: Deletion) -> Deletion {
        Deletion(context: context.merged(with: other.context), stamp: max(stamp, other.stamp))
    }
}
