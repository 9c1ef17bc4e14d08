/// Writes the hub makes in answer to a branch's state (DESIGN.md §11): a compensating write after a policy refusal,
/// and a re-stamping write when the branch's clock ran ahead. Both dominate the branch's state in every part the
/// merge looks at — version vector, every field, the tombstone — so the branch (and anyone the state reached)
/// converges to the hub's record through the ordinary merge, even after further local edits.
public enum Compensation {
    /// A hub write that keeps `content`'s values, includes `remote`'s history and tombstone plus its own dot, and
    /// re-stamps `restamp` with that dot.
    ///
    /// A re-stamped field carries a dot `remote` has not seen while the write's history covers `remote`'s, so the
    /// branch takes it whatever the times; a field `remote` set that `content` lacks is written as cleared. The
    /// tombstone is the union with `remote`'s (tombstones merge by union everywhere, so a smaller one could not
    /// replace it); whether the result is deleted is exactly whether `content` is.
    /// - Parameters:
    ///   - stamp: a new stamp of the hub (``WriteClock``).
    ///   - keepingTimes: keep each re-stamped field's own time (a compensating write restores a value, it does not
    ///     write a new one, so it must not win over a concurrent real write); otherwise the fields get `stamp`'s time.
    public static func write(
        content: RecordState, dominating remote: RecordState, restamp: Set<String>, stamp: Stamp,
        keepingTimes: Bool = false
    ) -> RecordState {
        var result = content
        let wasDeleted = content.isDeleted
        let dot = VersionVector([stamp.dot.site: stamp.dot.counter])
        result.versionVector.merge(remote.versionVector)
        result.versionVector.merge(dot)
        for name in restamp {
            let time = keepingTimes ? content.fields[name]?.stamp.time ?? .zero : stamp.time
            result.fields[name] = FieldValue(
                value: content.fields[name]?.value ?? "", stamp: Stamp(dot: stamp.dot, time: time))
        }
        switch (result.deletion, remote.deletion) {
        case (let own?, let theirs?): result.deletion = own.merged(with: theirs)
        case (nil, let theirs?): result.deletion = theirs
        default: break
        }
        if wasDeleted, let deletion = result.deletion {
            result.deletion = Deletion(
                context: deletion.context.merged(with: dot), stamp: deletion.stamp,
                isDestruction: deletion.isDestruction)
        }
        // A destroyed record keeps no values, re-stamped ones included; it dominates the branch's state anyway.
        return result.normalizedDestruction()
    }

    /// The hub's answer to a refused state `remote`: its record `local` kept as it is (a tombstone when the record is
    /// new), with every field `remote` wrote re-stamped, and every field when `remote` deleted the record, so none
    /// is hidden by the refused tombstone.
    /// - Parameters:
    ///   - sender: the branch whose state was refused.
    ///   - stamp: a new stamp of the hub, above every stamp in `local`.
    public static func refusal(of remote: RecordState, local: RecordState?, sender: SiteID, stamp: Stamp)
        -> RecordState
    {
        let known = local?.versionVector ?? VersionVector()
        let written = remote.fields.filter {
            $0.value.stamp.dot.site == sender && $0.value.stamp.dot.counter > known[sender]
        }
        var restamp = Set(written.keys)
        guard let local else {
            // Nothing to keep: a tombstone with the refused record's class (so it reaches only where it may) and
            // every field the state set cleared.
            var tombstone = RecordState(
                id: remote.id, collection: remote.collection, owner: remote.owner, versionVector: remote.versionVector)
            if let classValue = remote.fields[RecordState.classField]?.value,
                Classification(rawValue: classValue) != nil
            {
                tombstone.fields[RecordState.classField] = FieldValue(value: classValue, stamp: stamp)
                restamp.remove(RecordState.classField)
            }
            tombstone.versionVector.merge(VersionVector([stamp.dot.site: stamp.dot.counter]))
            tombstone.deletion = Deletion(context: tombstone.versionVector, stamp: stamp)
            return write(content: tombstone, dominating: remote, restamp: restamp, stamp: stamp, keepingTimes: true)
        }
        let newDeletion =
            remote.deletion.map { deletion in
                !(local.deletion?.context.dominatesOrEquals(deletion.context) ?? false)
            } ?? false
        if newDeletion { restamp.formUnion(local.fields.keys) }
        return write(content: local, dominating: remote, restamp: restamp, stamp: stamp, keepingTimes: true)
    }
}
