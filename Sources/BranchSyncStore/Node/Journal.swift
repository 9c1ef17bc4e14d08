import BranchSyncCore
import Foundation

/// The node's write clock and change-log position inside one write transaction, and the only code that stores a
/// version of a record (DESIGN.md §3): the row with its log position, digest and bucket, in the caller's transaction.
///
/// The counter, clock and log head are saved to `meta` when the transaction commits (``commit()``), so a rolled-back
/// write leaves no trace, not even a used counter value. Log positions, like counters, are at least the wall clock in
/// milliseconds: a node restored from an older copy and written to before any handshake still appends after every
/// position its peers have seen (DESIGN.md §12).
final class Journal {
    let store: NodeStore
    private var db: DatabaseConnection { store.db }
    private(set) var clock: WriteClock
    private(set) var lastSeq: Int64
    /// Whether the node has open conflicts: only then does a save look for conflicts it closes.
    private var hasOpenConflicts: Bool
    /// Hub: the history epoch this transaction started (the store's first log position), set on the store once the
    /// transaction commits.
    private(set) var startedEpoch: [UInt8]?
    /// What this transaction's saves change in the verify summaries, stored by ``commit()``.
    private var summaries = DigestSummaries()
    /// The log head when the transaction started.
    let startHead: Int64
    /// The log entries this transaction wrote, in order, when the store keeps them for a ``RecentLog``.
    private(set) var written: [LogEntry]?

    init(store: NodeStore) throws {
        self.store = store
        let meta = try NodeStore.readMeta(store.db)
        let clockParts = (meta["hlc"] ?? "0.0").split(separator: ".")
        let hlc = HybridLogicalClock(
            last: HLCTimestamp(
                wallMilliseconds: UInt64(clockParts.first ?? "0") ?? 0, logical: UInt32(clockParts.last ?? "0") ?? 0))
        clock = WriteClock(
            site: store.identity.site, counter: UInt64(meta["counter"] ?? "0") ?? 0,
            counterFloor: UInt64(meta["counter_floor"] ?? "0") ?? 0, clock: hlc)
        lastSeq = Int64(meta["last_seq"] ?? "0") ?? 0
        startHead = lastSeq
        written = store.logFeed == nil ? nil : []
        hasOpenConflicts =
            try store.db.statement("SELECT EXISTS (SELECT 1 FROM conflicts WHERE status = 'open')").firstRow {
                $0.int(0) != 0
            } ?? false
    }

    /// The current wall-clock time of the node (injectable for tests).
    var now: UInt64 { store.wallClock() }

    /// The stamp of a local write to `record` (`nil` for a new one): see ``WriteClock``.
    func nextStamp(for record: RecordState?) throws -> Stamp {
        try clock.stamp(for: record, wallMilliseconds: now)
    }

    /// Lets later local writes order after the newest stamp of a state received from a peer.
    func observe(_ state: RecordState) {
        if let newest = state.newestStamp { clock.observe(newest.time, wallMilliseconds: now) }
    }

    /// Saves the counter, clock, log head and verify summaries with the transaction.
    func commit() throws {
        try summaries.flush(db)
        try store.injectFault(.beforeMetaSave)
        let update = try db.statement(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        try update.run([.text("counter"), .text(String(clock.counter))])
        try update.run([.text("hlc"), .text("\(clock.clock.last.wallMilliseconds).\(clock.clock.last.logical)")])
        try update.run([.text("last_seq"), .text(String(lastSeq))])
    }

    /// Stores `state` as the record's newest version at the next change-log position.
    /// - Parameters:
    ///   - origin: the site the version came from (this site for local writes and merges that changed it): the log
    ///     does not send a version back to where it came from.
    ///   - encoded: the state's canonical encoding if the caller already has it.
    ///   - isNew: the caller found no row of this id in this transaction (a created record, or one received for the
    ///     first time): nothing to look up first, and a plain `INSERT`, which fails rather than replace a row.
    /// - Returns: the version's log position.
    @discardableResult
    func save(_ state: RecordState, origin: String, encoded: [UInt8]? = nil, isNew: Bool = false) throws -> Int64 {
        if let epoch = try startEpochIfNeeded(after: lastSeq) { startedEpoch = epoch }
        lastSeq = max(lastSeq + 1, Int64(clamping: now))
        let bytes = encoded ?? state.encoded()
        let isCustomer = state.collection == .customers
        // Only the save that destroys wipes; later saves of the tombstone (an absorbed update) find nothing left.
        let wipe = state.isDestroyed ? try wipeNeeded(for: state.id) : nil
        let idText = state.id.description
        let digest = RecordDigest.digest(of: bytes)
        let sharedWith = Scope.sharedWithColumn(state[RecordState.sharedWithField])
        let summaryKey = DigestSummaries.Key(
            bucket: RecordDigest.bucket(of: state.id), owner: state.custodian.rawValue,
            classification: state.classification.rawValue, sharedWith: sharedWith)
        let replaced = isNew ? nil : try replacedRow(idText)
        let attachment = state.collection == .documents ? state[RecordSchema.attachmentHashField] : nil
        let changedAt = Int64(clamping: now)
        // The lead columns (nil for other collections), and what decides whether the leads change.
        let leadFacts = LeadIndex.Facts(of: state)
        try db.statement(isNew ? Self.insertRecord : Self.upsertRecord).run([
            .text(idText), .text(state.collection.rawValue), .text(summaryKey.owner),
            .text(summaryKey.classification), .integer(NodeStore.deletedColumn(state)),
            .optionalText(leadFacts.code), .optionalText(leadFacts.phone), .optionalText(leadFacts.bankAccount),
            .integer(lastSeq), .text(origin), .blob(bytes), .optionalText(attachment),
            .integer(digest), .integer(summaryKey.bucket),
            .integer(changedAt), .optionalText(leadFacts.creditCode),
            .text(sharedWith),
            .optionalText(state[RecordSchema.retainUntilField]),
        ])
        written?.append(
            LogEntry(
                seq: lastSeq, origin: origin, owner: summaryKey.owner, classification: state.classification,
                sharedWith: sharedWith, isAuditBlock: state.collection == .auditBlocks, id: idText, state: bytes,
                attachment: attachment, changedAt: changedAt))
        if let replaced { summaries.remove(replaced.key, digest: replaced.digest) }
        summaries.add(summaryKey, digest: digest)
        try store.injectFault(.afterRecordRow)
        // A customer's leads depend only on its liveness and four values (and the other customers'): a save that
        // changes none of them (a new note, an absorbed state) leaves every lead as it is.
        if isCustomer, replaced.map({ $0.leadFacts != leadFacts }) ?? true {
            try LeadIndex.refresh(db, for: state, wasHeld: replaced != nil, at: Timestamp.iso8601(milliseconds: now))
        }
        if state.collection == .auditBlocks
            && (state.owner != store.identity.site || origin != store.identity.site.rawValue)
        {
            try AuditTrail.receive(db, block: state)
        }
        if hasOpenConflicts { try closeSupersededConflicts(of: state) }
        if let wipe { try wipeRemnants(of: state.id, attachment: wipe.attachment) }
        return lastSeq
    }

    /// What a save replaces of the stored row of `id`, if there is one: its summary key and digest, and the facts its
    /// leads depend on. One lookup of the row for both.
    private func replacedRow(_ id: String) throws -> (
        key: DigestSummaries.Key, digest: Int64, leadFacts: LeadIndex.Facts
    )? {
        try db.statement(
            """
            SELECT bucket, owner, class, shared_with, digest, deleted, code, phone, bank_account, credit_code
            FROM records WHERE id = ?1
            """
        ).firstRow([.text(id)]) { row in
            (
                DigestSummaries.Key(
                    bucket: row.int(0), owner: row.text(1), classification: row.text(2), sharedWith: row.text(3)),
                row.int(4),
                LeadIndex.Facts(
                    live: row.int(5) == 0, code: row.optionalText(6), phone: row.optionalText(7),
                    bankAccount: row.optionalText(8), creditCode: row.optionalText(9))
            )
        }
    }

    private static let insertRecord = """
        INSERT INTO records(id, collection, owner, class, deleted, code, phone, bank_account, seq, origin, state,
            attachment, digest, bucket, changed_at, credit_code, shared_with, retain_until)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
        """
    private static let upsertRecord =
        insertRecord + """

            ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, class = excluded.class, deleted = excluded.deleted,
                code = excluded.code, phone = excluded.phone, bank_account = excluded.bank_account, seq = excluded.seq,
                origin = excluded.origin, state = excluded.state, attachment = excluded.attachment,
                digest = excluded.digest, changed_at = excluded.changed_at, credit_code = excluded.credit_code,
                shared_with = excluded.shared_with, retain_until = excluded.retain_until
            """

    /// Whether storing a destroyed state of `id` destroys it here (it was not destroyed before), with the attachment
    /// it had.
    private func wipeNeeded(for id: RecordID) throws -> Wipe? {
        let previous = try db.statement("SELECT attachment, state FROM records WHERE id = ?1").firstRow(
            [.text(id.description)]
        ) { ($0.optionalText(0), $0.blob(1)) }
        guard let previous else { return Wipe(attachment: nil) }
        if let state = try? RecordState(decoding: previous.1), state.isDestroyed { return nil }
        return Wipe(attachment: previous.0)
    }

    /// What a destruction removes besides the record's values: the attachment the record had.
    private struct Wipe {
        var attachment: String?
    }

    /// A destroyed record leaves no value anywhere in the database: its attachment's bytes (unless another record
    /// has the same file), conflict rows (which keep both sides' values) and quarantined states. With `secure_delete`
    /// the freed space is zeroed; the write-ahead log is truncated once the transaction commits
    /// (``NodeStore/checkpointAfterWipe()``).
    private func wipeRemnants(of id: RecordID, attachment: String?) throws {
        try store.removeRemnants(of: id, attachment: attachment)
        store.wipedSinceCheckpoint = true
    }

    /// Records conflicts a merge found, kept value first. A conflict stays open while its kept value still stands
    /// and closes by itself once a later write replaces it (a resolution, here or anywhere it replicates from).
    func recordConflicts(_ conflicts: [MergeConflict], of state: RecordState, local: RecordState?, peer: SiteID) throws
    {
        guard !conflicts.isEmpty else { return }
        let detectedAt = Timestamp.iso8601(milliseconds: now)
        for conflict in conflicts {
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
                .text(state.id.description), .text(state.collection.rawValue), .text(conflict.kind.rawValue),
                .text(conflict.field), .text(conflict.kept.value), .text(conflict.kept.stamp.description),
                .text(conflict.lost.value), .text(conflict.lost.stamp.description), .text(detectedAt),
                .text(peer.rawValue), .text(keptWasLocal ? "kept" : "lost"),
            ])
        }
        hasOpenConflicts = true
    }

    /// Closes the open conflicts of `state`'s record whose kept value no longer stands in it.
    private func closeSupersededConflicts(of state: RecordState) throws {
        let open = try db.statement(
            "SELECT id, kind, field, kept_stamp FROM conflicts WHERE record_id = ?1 AND status = 'open'"
        ).rows([.text(state.id.description)]) { ($0.int(0), $0.text(1), $0.text(2), $0.text(3)) }
        for (id, kind, field, kept) in open {
            let stands: Bool
            if kind == MergeConflict.Kind.deleteVersusUpdate.rawValue {
                stands = !state.isDeleted && state.fields.values.contains { $0.stamp.description == kept }
            } else {
                stands = state.fields[field]?.stamp.description == kept
            }
            guard !stands else { continue }
            try db.statement(
                "UPDATE conflicts SET status = 'closed', resolved_at = ?2, resolution = ?3 WHERE id = ?1"
            ).run([
                .integer(id), .text(Timestamp.iso8601(milliseconds: now)),
                .text("closed: a later write replaced the kept value"),
            ])
        }
    }

    /// Appends an audit row about a record.
    func audit(action: String, state: RecordState, detail: String, actor: AuditActor? = nil) throws {
        try audit(action: action, collection: state.collection, recordID: state.id, detail: detail, actor: actor)
    }

    /// An audit entry about several records, or about one.
    func audit(
        action: String, collection: RecordCollection?, recordID: RecordID?, detail: String, actor: AuditActor? = nil
    ) throws {
        try NodeStore.insertAudit(
            db, site: store.identity.site, at: Timestamp.iso8601(milliseconds: now), actor: actor ?? store.actor,
            action: action,
            collection: collection, recordID: recordID, detail: detail)
    }
}
