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

    /// Applies states received from `peer` in one transaction; see ``LocalWriter/apply(_:from:)``.
    @discardableResult
    public func apply(_ states: [RecordState], from peer: SiteID) throws -> [MergeOutcome] {
        try batch { writer in try states.map { try writer.apply($0, from: peer) } }
    }
}
