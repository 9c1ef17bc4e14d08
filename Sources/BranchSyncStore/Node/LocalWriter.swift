import BranchSyncCore
import BranchSyncCrypto

/// Writes records inside one transaction opened by ``NodeStore/batch(_:)``.
///
/// It owns the node's counter, hybrid logical clock and change-log position for the transaction and saves them
/// when the transaction commits, so a rolled-back write leaves no trace, not even a used counter value.
public final class LocalWriter {
    private let store: NodeStore
    private var db: DatabaseConnection { store.db }
    private var counter: UInt64
    private var clock: HybridLogicalClock
    private var lastSeq: Int64
    private let site: SiteID

    init(store: NodeStore) throws {
        self.store = store
        let meta = try NodeStore.readMeta(store.db)
        counter = UInt64(meta["counter"] ?? "0") ?? 0
        lastSeq = Int64(meta["last_seq"] ?? "0") ?? 0
        let clockParts = (meta["hlc"] ?? "0.0").split(separator: ".")
        clock = HybridLogicalClock(
            last: HLCTimestamp(
                wallMilliseconds: UInt64(clockParts.first ?? "0") ?? 0, logical: UInt32(clockParts.last ?? "0") ?? 0))
        site = store.identity.site
    }

    func saveClock() throws {
        try store.injectFault(.beforeMetaSave)
        let update = try db.statement("UPDATE meta SET value = ?2 WHERE key = ?1")
        try update.run([.text("counter"), .text(String(counter))])
        try update.run([.text("hlc"), .text("\(clock.last.wallMilliseconds).\(clock.last.logical)")])
        try update.run([.text("last_seq"), .text(String(lastSeq))])
    }

    private func nextStamp() -> Stamp {
        counter += 1
        return Stamp(
            dot: Dot(site: site, counter: counter), time: clock.now(wallMilliseconds: Timestamp.nowMilliseconds()))
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
        try rejectSystemFields(values, collection: collection)
        var values = try RecordSchema.of(collection).validateNew(values)
        try checkReferences(collection: collection, values: values, excluding: nil)
        if let attachment { values.merge(try storeAttachment(attachment)) { $1 } }
        let id = RecordID.version7(unixMilliseconds: Timestamp.nowMilliseconds(), random: SecureRandom.bytes(10))
        var state = RecordState(id: id, collection: collection, owner: site)
        state.applyLocalWrite(values, stamp: nextStamp())
        try save(state, origin: site.rawValue)
        try audit(action: "create", state: state, detail: "fields: " + values.keys.sorted().joined(separator: ", "))
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
        try rejectSystemFields(changes, collection: state.collection)
        try RecordSchema.of(state.collection).validateChanges(changes)
        var merged = state.plainValues.merging(changes) { $1 }
        merged = merged.filter { !$0.value.isEmpty }
        try checkReferences(collection: state.collection, values: merged, excluding: id)
        var changes = changes
        if let attachment { changes.merge(try storeAttachment(attachment)) { $1 } }
        let effective = changes.filter { (state.fields[$0.key]?.value ?? "") != $0.value }
        guard !effective.isEmpty else { return (state, []) }
        let changed = state.applyLocalWrite(effective, stamp: nextStamp())
        try save(state, origin: site.rawValue)
        try audit(action: "update", state: state, detail: "changed: " + changed.joined(separator: ", "))
        return (state, changed)
    }

    /// Deletes a live record (a tombstone: the record's history is kept and still replicates).
    /// - Throws: ``StorageError`` `.notFound` or `.invalidOperation` (already deleted).
    @discardableResult
    public func delete(_ id: RecordID) throws -> RecordState {
        var state = try liveRecord(id)
        state.applyLocalDelete(stamp: nextStamp())
        try save(state, origin: site.rawValue)
        try audit(action: "delete", state: state, detail: "deleted")
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
        let stamp = nextStamp()
        state.fields[field] = FieldValue(value: current.value, stamp: stamp)
        state.versionVector[site] = stamp.dot.counter
        try save(state, origin: site.rawValue)
        try audit(action: "update", state: state, detail: "confirmed: \(field)")
        return state
    }

    private func liveRecord(_ id: RecordID) throws -> RecordState {
        guard let state = try record(id) else {
            throw StorageError(code: .notFound, message: "no record with id \(id) on this node")
        }
        guard !state.isDeleted else {
            throw StorageError(code: .invalidOperation, message: "\(state.collection.singular) \(id) is deleted")
        }
        return state
    }

    private func rejectSystemFields(_ values: [String: String], collection: RecordCollection) throws {
        let schema = RecordSchema.of(collection)
        for name in values.keys.sorted() where schema.field(named: name)?.isSystem == true {
            throw ValidationError(field: name, message: "\(name) is set from the attached file (use --file)")
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
        return ["attachmentName": name, "attachmentSha256": sha, "attachmentSize": String(attachment.bytes.count)]
    }

    // MARK: Rows

    /// Stores `state` as the record's newest version at the next change-log position.
    /// - Parameter encoded: the state's canonical encoding if the caller already has it.
    func save(_ state: RecordState, origin: String, encoded: [UInt8]? = nil) throws {
        lastSeq += 1
        let isCustomer = state.collection == .customers
        try db.statement(
            """
            INSERT INTO records(id, collection, owner, class, deleted, code, phone, bank_account, seq, origin, state,
                attachment)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
            ON CONFLICT(id) DO UPDATE SET class = excluded.class, deleted = excluded.deleted, code = excluded.code,
                phone = excluded.phone, bank_account = excluded.bank_account, seq = excluded.seq,
                origin = excluded.origin, state = excluded.state, attachment = excluded.attachment
            """
        ).run([
            .text(state.id.description), .text(state.collection.rawValue), .text(state.owner.rawValue),
            .text(state.classification.rawValue), .integer(state.isDeleted ? 1 : 0),
            .optionalText(isCustomer ? state["code"] : nil), .optionalText(isCustomer ? state["phone"] : nil),
            .optionalText(isCustomer ? state["bankAccount"].map { $0.filter { $0 != " " } } : nil),
            .integer(lastSeq), .text(origin), .blob(encoded ?? state.encoded()),
            .optionalText(state.collection == .documents ? state["attachmentSha256"] : nil),
        ])
        try store.injectFault(.afterRecordRow)
    }

    func audit(action: String, state: RecordState, detail: String, actor: AuditActor? = nil) throws {
        let actor = actor ?? store.actor
        try db.statement(
            "INSERT INTO audit(at, actor, origin, action, collection, record_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ).run([
            .text(Timestamp.nowISO8601()), .text(actor.user), .text(actor.origin), .text(action),
            .text(state.collection.rawValue), .text(state.id.description), .text(detail),
        ])
    }

    // MARK: Remote states

    /// Merges a state received from `peer` (DESIGN.md §5) and stores the result, its log position and any
    /// conflicts. The node's clock observes the remote stamps so later local writes order after them (unless a stamp
    /// is more than an hour ahead of this node's clock: a wrong clock elsewhere must not drag this one along).
    /// - Returns: the merge outcome.
    /// - Throws: ``ValidationError`` if the state cannot be a version of the local record.
    /// - Parameter encoded: the remote state's canonical encoding, reused when the result is the remote state.
    @discardableResult
    public func apply(_ remote: RecordState, from peer: SiteID, encoded: [UInt8]? = nil) throws -> MergeOutcome {
        if let newest = remote.newestStamp {
            clock.observe(newest.time, wallMilliseconds: Timestamp.nowMilliseconds())
        }
        let local = try record(remote.id)
        let outcome = try RecordMerge.merge(local: local, remote: remote)
        guard outcome.changesLocal else { return outcome }
        // A state equal to what the peer sent is not sent back to it; a merged one goes everywhere.
        try save(
            outcome.state, origin: outcome.equalsRemote ? peer.rawValue : site.rawValue,
            encoded: outcome.equalsRemote ? encoded : nil)
        let detectedAt = Timestamp.nowISO8601()
        for conflict in outcome.conflicts {
            let keptWasLocal: Bool
            switch conflict.kind {
            case .field: keptWasLocal = local?.fields[conflict.field]?.stamp == conflict.kept.stamp
            case .deleteVersusUpdate: keptWasLocal = !(local?.isDeleted ?? false)
            }
            try db.statement(
                """
                INSERT OR IGNORE INTO conflicts(record_id, collection, kind, field, kept_value, kept_stamp, lost_value,
                    lost_stamp, detected_at, peer, local_side)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                """
            ).run([
                .text(remote.id.description), .text(remote.collection.rawValue), .text(conflict.kind.rawValue),
                .text(conflict.field), .text(conflict.kept.value), .text(conflict.kept.stamp.description),
                .text(conflict.lost.value), .text(conflict.lost.stamp.description), .text(detectedAt),
                .text(peer.rawValue), .text(keptWasLocal ? "kept" : "lost"),
            ])
        }
        let how: String
        switch outcome.remoteRelation {
        case nil: how = "new"
        case .after?: how = "newer version"
        default: how = "merged concurrent versions"
        }
        try audit(
            action: "apply", state: outcome.state,
            detail: "from \(peer): \(how)"
                + (outcome.conflicts.isEmpty ? "" : ", \(outcome.conflicts.count) conflict(s)"),
            actor: AuditActor(user: "sync", origin: "site \(peer)"))
        return outcome
    }
}
