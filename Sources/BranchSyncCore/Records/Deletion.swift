/// A tombstone: the causal context of the deletes a record has seen.
///
/// A record is deleted when every field write it holds is covered by `context`. A field write the deleting site had
/// not seen (a concurrent update) is not covered, so the record stays alive: update wins over concurrent delete.
/// Merging two tombstones takes the union of their contexts and the later stamp, so it is commutative,
/// associative and idempotent.
///
/// A *destruction* (records destroyed on record past their retention, Protocol.md §2) is the one exception: it
/// dominates everything, concurrent updates included. Once either side of a merge is destroyed the result is, with no
/// field values but those deciding where it may be held (``RecordState/scopeFields``), and its context is the
/// record's whole version vector.
public struct Deletion: Sendable, Hashable {
    /// Every write that the deletes had seen.
    public var context: VersionVector
    /// The latest delete (for display: who deleted, when).
    public var stamp: Stamp
    /// Whether the record was destroyed: its values are wiped and no write brings it back.
    public var isDestruction: Bool

    public init(context: VersionVector, stamp: Stamp, isDestruction: Bool = false) {
        self.context = context
        self.stamp = stamp
        self.isDestruction = isDestruction
    }

    /// The union of two tombstones (destroyed if either is).
    public func merged(with other: Deletion) -> Deletion {
        Deletion(
            context: context.merged(with: other.context), stamp: max(stamp, other.stamp),
            isDestruction: isDestruction || other.isDestruction)
    }
}
