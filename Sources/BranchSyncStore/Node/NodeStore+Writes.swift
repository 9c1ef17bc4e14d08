import BranchSyncCore

extension NodeStore {
    /// Creates one record in its own transaction; see ``LocalWriter/create(_:values:attachment:)``.
    @discardableResult
    public func create(
        _ collection: RecordCollection, values: [String: String], attachment: Attachment? = nil
    ) throws -> RecordState {
        try batch { try $0.create(collection, values: values, attachment: attachment) }
    }

    /// Updates one record in its own transaction; see ``LocalWriter/update(_:changes:attachment:)``.
    @discardableResult
    public func update(
        _ id: RecordID, changes: [String: String], attachment: Attachment? = nil
    ) throws -> (state: RecordState, changed: [String]) {
        try batch { try $0.update(id, changes: changes, attachment: attachment) }
    }

    /// Deletes one record in its own transaction; see ``LocalWriter/delete(_:)``.
    @discardableResult
    public func delete(_ id: RecordID) throws -> RecordState {
        try batch { try $0.delete(id) }
    }

    /// Applies states received from `peer` in one transaction as a branch applies its hub's (consistency, merge,
    /// validation), without moving any cursor.
    @discardableResult
    public func apply(_ states: [RecordState], from peer: SiteID) throws -> BatchResult {
        try journaled { journal in
            try RemoteApplier.batch(journal: journal, peer: peer, policy: .branch) { applier in
                for state in states { try applier.apply(ReceivedState(bytes: state.encoded())) }
                return applier.result
            }
        }
    }
}
