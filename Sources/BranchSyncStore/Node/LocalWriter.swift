import BranchSyncCore
import BranchSyncCrypto

/// Writes records inside one transaction opened by ``NodeStore/batch(_:)``: the operator's writes, and the hub's
/// own compensating writes. Every version goes through the transaction's ``Journal``.
public final class LocalWriter {
    let journal: Journal
    var store: NodeStore { journal.store }
    private var db: DatabaseConnection { store.db }
    private var site: SiteID { store.identity.site }

    init(journal: Journal) {
        self.journal = journal
    }

    // MARK: Reads inside the transaction

    /// The record with `id`, as this transaction sees it.
    public func record(_ id: RecordID) throws -> RecordState? {
        try store.record(id)
    }

    /// The id of a live customer with `code`, as this transaction sees it.
    public func liveCustomerID(code: String) throws -> RecordID? {
        try store.liveCustomerID(code: code)
    }

    // MARK: Local writes

    /// Creates a record after validating `values` against the collection's schema.
    /// - Parameters:
    ///   - collection: customers or documents.
    ///   - values: field name → value (DESIGN.md names); defaults are filled in.
    ///   - attachment: for documents, a file to store with its SHA-256.
    /// - Returns: the new record.
    /// - Throws: ``ValidationError`` for bad values or a duplicate customer code; ``StorageError`` on I/O failure.
    @discardableResult
    public func create(
        _ collection: RecordCollection, values: [String: String], attachment: Attachment? = nil
    ) throws -> RecordState {
        guard collection == .customers || collection == .documents else {
            throw StorageError(
                code: .invalidOperation, message: "\(collection.rawValue) are written by BranchSync itself, not created"
            )
        }
        try rejectSystemFields(values, collection: collection)
        var values = try RecordSchema.of(collection).validateNew(values)
        try checkReferences(collection: collection, values: values, excluding: nil)
        if let attachment { values.merge(try storeAttachment(attachment)) { $1 } }
        let id = RecordID.version7(unixMilliseconds: journal.now, random: try SecureRandom.bytes(10))
        var state = RecordState(id: id, collection: collection, owner: site)
        state.applyLocalWrite(values, stamp: try journal.nextStamp(for: nil))
        try journal.save(state, origin: site.rawValue, isNew: true)
        try journal.audit(
            action: "create", state: state, detail: "fields: " + values.keys.sorted().joined(separator: ", "))
        return state
    }

    /// Changes fields of a live record; an empty value clears an optional field.
    /// - Returns: the record after the change, and the names of the fields whose value changed (empty: nothing
    ///   changed and nothing was written).
    /// - Throws: ``ValidationError``; ``StorageError`` `.notFound` or `.invalidOperation` (deleted record).
    @discardableResult
    public func update(
        _ id: RecordID, changes: [String: String], attachment: Attachment? = nil
    ) throws -> (state: RecordState, changed: [String]) {
        var state = try liveRecord(id)
        try requireOperatorWritable(state)
        try rejectSystemFields(changes, collection: state.collection)
        try RecordSchema.of(state.collection).validateChanges(changes)
        var merged = state.plainValues.merging(changes) { $1 }
        merged = merged.filter { !$0.value.isEmpty }
        try checkReferences(collection: state.collection, values: merged, excluding: id)
        var changes = changes
        if let attachment { changes.merge(try storeAttachment(attachment)) { $1 } }
        let effective = changes.filter { !FieldValue.sameBytes(state.fields[$0.key]?.value ?? "", $0.value) }
        guard !effective.isEmpty else { return (state, []) }
        let changed = state.applyLocalWrite(effective, stamp: try journal.nextStamp(for: state))
        try journal.save(state, origin: site.rawValue)
        try journal.audit(action: "update", state: state, detail: "changed: " + changed.joined(separator: ", "))
        return (state, changed)
    }

    /// Deletes a live record (a tombstone: the record's history is kept and still replicates).
    /// - Throws: ``StorageError`` `.notFound` or `.invalidOperation` (already deleted).
    @discardableResult
    public func delete(_ id: RecordID) throws -> RecordState {
        var state = try liveRecord(id)
        try requireOperatorWritable(state)
        state.applyLocalDelete(stamp: try journal.nextStamp(for: state))
        try journal.save(state, origin: site.rawValue)
        try journal.audit(action: "delete", state: state, detail: "deleted")
        return state
    }

    /// Writes a field's current value again with a new stamp, so this site's write dominates every concurrent
    /// version of it (confirms a conflict resolution whose chosen value is already current).
    @discardableResult
    func rewrite(_ id: RecordID, field: String) throws -> RecordState {
        var state = try liveRecord(id)
        guard let current = state.fields[field] else {
            throw StorageError(code: .notFound, message: "record \(id) has no field \(field)")
        }
        let stamp = try journal.nextStamp(for: state)
        state.fields[field] = FieldValue(value: current.value, stamp: stamp)
        state.applyLocalWrite([:], stamp: stamp)  // includes the write in the record's history
        try journal.save(state, origin: site.rawValue)
        try journal.audit(action: "update", state: state, detail: "confirmed: \(field)")
        return state
    }

    /// Decisions, audit blocks and the destruction register are written by their own commands only, and the last
    /// two never change.
    private func requireOperatorWritable(_ state: RecordState) throws {
        guard state.collection == .customers || state.collection == .documents else {
            throw StorageError(
                code: .invalidOperation,
                message: "\(state.collection.singular) \(state.id) is not changed or deleted by hand")
        }
    }

    func liveRecord(_ id: RecordID) throws -> RecordState {
        guard let state = try record(id) else {
            throw StorageError(code: .notFound, message: "no record with id \(id) on this node")
        }
        if state.isDestroyed {
            throw StorageError(
                code: .invalidOperation,
                message:
                    "\(state.collection.singular) \(id) was destroyed; its entry is in `branchsync destruction list`")
        }
        guard !state.isDeleted else {
            throw StorageError(code: .invalidOperation, message: "\(state.collection.singular) \(id) is deleted")
        }
        return state
    }

    private func rejectSystemFields(_ values: [String: String], collection: RecordCollection) throws {
        let schema = RecordSchema.of(collection)
        for name in values.keys.sorted() where schema.field(named: name)?.isSystem == true {
            let how = collection == .documents ? "from the attached file (use --file)" : "by BranchSync itself"
            throw ValidationError(field: name, message: "\(name) is set \(how)")
        }
    }

    /// Group-wide rules the schema cannot check alone: a customer code is used once; a document's customer exists.
    private func checkReferences(collection: RecordCollection, values: [String: String], excluding id: RecordID?) throws
    {
        switch collection {
        case .customers:
            if let code = values["code"], let holderID = try liveCustomerID(code: code), holderID != id,
                let holder = try record(holderID)
            {
                throw ValidationError(
                    field: "code",
                    message:
                        "customer code \(code) is already used by customer \(holder.id) (\(holder["name"] ?? "no name"))"
                )
            }
        case .documents:
            if let customer = values["customerId"] {
                let customerID = try RecordID(customer)
                guard let linked = try record(customerID), linked.collection == .customers, !linked.isDeleted else {
                    throw ValidationError(
                        field: "customerId", message: "customer-id \(customer) is not a customer on this node")
                }
            }
        case .decisions, .auditBlocks, .destructions:
            break
        }
    }

    /// The largest attachment accepted: it must fit in one frame when it is synced (`Protocol.md` §5).
    public static let maximumAttachmentBytes = 8 << 20

    private func storeAttachment(_ attachment: Attachment) throws -> [String: String] {
        guard attachment.bytes.count <= Self.maximumAttachmentBytes else {
            throw ValidationError(
                field: "attachment",
                message: "\(attachment.name) is \(attachment.bytes.count) bytes; attachments may be at most 8 MiB")
        }
        let sha = SHA256.hexDigest(attachment.bytes)
        try db.statement("INSERT OR IGNORE INTO blobs(sha256, size, data) VALUES (?1, ?2, ?3)")
            .run([.text(sha), .integer(Int64(attachment.bytes.count)), .blob(attachment.bytes)])
        let name = attachment.name.split(separator: "/").last.map(String.init) ?? attachment.name
        try RecordSchema.documents.validateChanges(["attachmentName": name])
        return [
            "attachmentName": name, RecordSchema.attachmentHashField: sha,
            "attachmentSize": String(attachment.bytes.count),
        ]
    }
}
