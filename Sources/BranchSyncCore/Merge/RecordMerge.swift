/// Merges record states exactly as DESIGN.md §5 describes.
///
/// Properties (checked by property tests): for states produced by well-formed histories the merge is commutative,
/// associative and idempotent, so replicas that saw the same changes hold identical records whatever the order.
public enum RecordMerge {
    /// Merges `remote` into `local`.
    /// - Parameters:
    ///   - local: the state held here, or `nil` if the record is new here.
    ///   - remote: the state received.
    /// - Returns: the merged state, the causal relation, and any true conflicts with their losing values.
    /// - Throws: ``ValidationError`` when the two states disagree on id, collection or owner (they cannot be
    ///   versions of the same record).
    public static func merge(local: RecordState?, remote: RecordState) throws(ValidationError) -> MergeOutcome {
        guard let local else {
            return MergeOutcome(
                state: remote, remoteRelation: nil, conflicts: [], changesLocal: true, equalsRemote: true)
        }
        guard local.id == remote.id, local.collection == remote.collection, local.owner == remote.owner else {
            throw ValidationError(
                field: "id",
                message: "record \(remote.id) arrived as a \(remote.collection.singular) owned by \(remote.owner), "
                    + "but here it is a \(local.collection.singular) owned by \(local.owner)")
        }
        if local == remote {
            return MergeOutcome(
                state: local, remoteRelation: .equal, conflicts: [], changesLocal: false, equalsRemote: true)
        }
        let relation = remote.versionVector.compare(to: local.versionVector)
        // Always field by field, even when one vector dominates: a node restored from an older copy writes under
        // counters above the ones it lost, so its vector claims writes it never saw. Taking such a state whole would
        // erase them; per field, the lost write still wins (its stamp is newer than the copy's, and a real overwrite
        // is always stamped above what it overwrote, DESIGN.md §10). For honest histories the result is the same.
        var (state, conflicts) = mergeFields(local, remote, reportConflicts: relation == .concurrent)
        if state.isDestroyed {
            // A destruction dominates every write, concurrent ones too, and keeps no value but the scope fields: not
            // even a conflict row may hold what was wiped.
            state = state.normalizedDestruction()
            conflicts = []
        }
        return MergeOutcome(
            state: state, remoteRelation: relation, conflicts: conflicts, changesLocal: state != local,
            equalsRemote: state == remote)
    }

    private static func mergeFields(
        _ local: RecordState, _ remote: RecordState, reportConflicts: Bool
    ) -> (RecordState, [MergeConflict]) {
        var merged = local
        merged.versionVector = local.versionVector.merged(with: remote.versionVector)
        var conflicts: [MergeConflict] = []

        let names = Set(local.fields.keys).union(remote.fields.keys).sorted()
        for name in names {
            switch (local.fields[name], remote.fields[name]) {
            case (nil, let r?):
                merged.fields[name] = r
            case (let l?, let r?):
                let localSeen = remote.versionVector.covers(l.stamp.dot)
                let remoteSeen = local.versionVector.covers(r.stamp.dot)
                if localSeen && !remoteSeen {
                    merged.fields[name] = r
                } else if remoteSeen && !localSeen {
                    merged.fields[name] = l
                } else {
                    let (winner, loser) = order(l, r)
                    merged.fields[name] = winner
                    if reportConflicts && !localSeen && !remoteSeen && l.value != r.value {
                        conflicts.append(
                            MergeConflict(recordID: local.id, kind: .field, field: name, kept: winner, lost: loser))
                    }
                }
            default:
                break
            }
        }

        switch (local.deletion, remote.deletion) {
        case (let l?, let r?): merged.deletion = l.merged(with: r)
        case (nil, let r?): merged.deletion = r
        default: break
        }

        if reportConflicts, !merged.isDeleted, let mergedDeletion = merged.deletion {
            for (side, other) in [(local, remote), (remote, local)] {
                guard let deletion = side.deletion, side.isDeleted else { continue }
                let otherSawDelete = other.deletion?.context.dominatesOrEquals(deletion.context) ?? false
                guard !otherSawDelete, let survivor = newestUncovered(in: merged, by: mergedDeletion.context) else {
                    continue
                }
                conflicts.append(
                    MergeConflict(
                        recordID: local.id, kind: .deleteVersusUpdate, field: MergeConflict.deletedField,
                        kept: survivor, lost: FieldValue(value: "deleted", stamp: deletion.stamp)))
            }
        }
        return (merged, conflicts)
    }

    /// Orders two versions of a field: greater stamp wins; equal stamps (malformed input) fall back to the value.
    private static func order(_ a: FieldValue, _ b: FieldValue) -> (winner: FieldValue, loser: FieldValue) {
        if a.stamp != b.stamp { return a.stamp > b.stamp ? (a, b) : (b, a) }
        return a.value.utf8.lexicographicallyPrecedes(b.value.utf8) ? (b, a) : (a, b)
    }

    private static func newestUncovered(in state: RecordState, by context: VersionVector) -> FieldValue? {
        state.fields.values.filter { !context.covers($0.stamp.dot) }.max { $0.stamp < $1.stamp }
    }
}
