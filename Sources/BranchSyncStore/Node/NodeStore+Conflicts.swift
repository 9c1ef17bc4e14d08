import BranchSyncCore

extension NodeStore {
    /// How resolving a conflict chooses the value.
    public enum Resolution: Sendable {
        /// Keep the value that was local when the conflict was detected.
        case local
        /// Keep the value that arrived from the peer.
        case remote
        /// Keep the value the merge kept (the `kept` column).
        case kept
        /// Take the value the merge set aside (the `lost` column).
        case lost
        /// Set the field to this value.
        case value(String)
    }

    /// Resolves a conflict with a new local write, which dominates both conflicting writes everywhere it goes.
    /// - Returns: the record after the write.
    @discardableResult
    public func resolveConflict(_ conflictID: Int64, with resolution: Resolution) throws -> RecordState {
        try batch { writer in
            guard let conflict = try conflict(id: conflictID) else {
                throw StorageError(code: .notFound, message: "no conflict #\(conflictID) on this node")
            }
            guard conflict.status == "open" else {
                throw StorageError(
                    code: .invalidOperation, message: "conflict #\(conflictID) is already \(conflict.status)")
            }
            let localSide =
                try db.statement("SELECT local_side FROM conflicts WHERE id = ?1")
                .firstRow([.integer(conflictID)]) { $0.text(0) } ?? "kept"
            let chosen: String
            let description: String
            // Which side was chosen, by side (never by value: a surviving field may well read "deleted").
            let tookLost: Bool
            switch resolution {
            case .local:
                tookLost = localSide != "kept"
                chosen = tookLost ? conflict.lostValue : conflict.keptValue
                description = "took the local value"
            case .remote:
                tookLost = localSide == "kept"
                chosen = tookLost ? conflict.lostValue : conflict.keptValue
                description = "took the remote value"
            case .kept:
                tookLost = false
                chosen = conflict.keptValue
                description = "confirmed the kept value"
            case .lost:
                tookLost = true
                chosen = conflict.lostValue
                description = "took the value set aside"
            case .value(let value):
                tookLost = false
                chosen = value
                description = "set a new value"
            }
            var state: RecordState
            if conflict.kind == .deleteVersusUpdate {
                if case .value = resolution {
                    throw StorageError(
                        code: .invalidOperation, message: "a delete conflict is resolved with --take local|remote")
                }
                guard let current = try record(conflict.recordID) else {
                    throw StorageError(code: .notFound, message: "record \(conflict.recordID) is not on this node")
                }
                // The lost side of a delete-versus-update conflict is the delete.
                if tookLost {
                    state = try writer.delete(conflict.recordID)
                } else {
                    // Keeping the record is a write too, so the decision reaches every site and closes the conflict
                    // there: the surviving field is written again.
                    let survivor =
                        current.fields.first { $0.value.stamp.description == conflict.keptStamp }?.key
                        ?? current.fields.keys.min() ?? RecordState.classField
                    state = try writer.rewrite(conflict.recordID, field: survivor)
                }
            } else {
                let result = try writer.update(conflict.recordID, changes: [conflict.field: chosen])
                // A value that is already current is written again, so the decision replicates as a write that
                // dominates both conflicting versions everywhere.
                state =
                    result.changed.isEmpty ? try writer.rewrite(conflict.recordID, field: conflict.field) : result.state
            }
            try db.statement(
                "UPDATE conflicts SET status = 'resolved', resolved_at = ?2, resolved_by = ?3, resolution = ?4 WHERE id = ?1"
            )
            .run([
                .integer(conflictID), .text(Timestamp.nowISO8601()), .text(actor.user),
                .text("\(description): \(chosen)"),
            ])
            return state
        }
    }
}
