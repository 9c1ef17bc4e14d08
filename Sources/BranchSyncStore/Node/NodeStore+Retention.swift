import BranchSyncCore

/// A live customer or document past its retention date (`branchsync retention due`).
public struct RetentionItem: Sendable, Hashable {
    /// The record.
    public var id: RecordID
    /// Customers or documents.
    public var collection: RecordCollection
    /// Its owner.
    public var owner: SiteID
    /// Its title or name.
    public var title: String
    /// Its class.
    public var classification: Classification
    /// The date it had to be kept until.
    public var retainUntil: String
    /// A document's status (active, archived), empty for a customer.
    public var status: String
}

extension NodeStore {
    /// Destroys a record on record in one transaction; see ``LocalWriter/destroy(_:approval:)``.
    @discardableResult
    public func destroy(_ id: RecordID, approval: DestructionApproval) throws -> RecordState {
        try batch { try $0.destroy(id, approval: approval) }
    }

    /// Archives a document in one transaction; see ``LocalWriter/archive(_:)``.
    @discardableResult
    public func archive(_ id: RecordID) throws -> RecordState {
        try batch { try $0.archive(id) }
    }

    /// The customers and documents held here that are not deleted and whose retention date is before `date`
    /// (`YYYY-MM-DD`), oldest date first.
    public func retentionDue(before date: String) throws -> [RetentionItem] {
        var due: [RetentionItem] = []
        try db.read {
            try db.statement(
                "SELECT state FROM records WHERE retain_until < ?1 AND deleted = 0 AND collection IN ('customers', 'documents')"
            ).forEachRow([.text(date)]) { row in
                let state = try Self.decodeState(row.blob(0))
                guard let until = state[RecordSchema.retainUntilField] else { return }
                due.append(
                    RetentionItem(
                        id: state.id, collection: state.collection, owner: state.owner,
                        title: state[state.collection == .customers ? "name" : "title"] ?? "",
                        classification: state.classification, retainUntil: until, status: state["status"] ?? ""))
            }
        }
        return due.sorted { ($0.retainUntil, $0.id.description) < ($1.retainUntil, $1.id.description) }
    }

    /// How many customers and documents held here are not deleted and were to be kept until before `date`.
    public func retentionDueCount(before date: String) throws -> Int {
        Int(
            try db.statement(
                "SELECT count(*) FROM records WHERE retain_until < ?1 AND deleted = 0 AND collection IN ('customers', 'documents')"
            ).firstRow([.text(date)]) { $0.int(0) } ?? 0)
    }

    /// The destruction-register entries held here, oldest first.
    public func destructionRegister() throws -> [RecordState] {
        try records(in: .destructions).sorted {
            ($0["destroyedAt"] ?? "", $0.id.description) < ($1["destroyedAt"] ?? "", $1.id.description)
        }
    }
}
