import BranchSyncCore

extension NodeStore {
    /// The record with `id`, deleted or not.
    public func record(_ id: RecordID) throws -> RecordState? {
        try db.statement("SELECT state FROM records WHERE id = ?1").firstRow([.text(id.description)]) {
            try Self.decodeState($0.blob(0))
        }
    }

    /// The records of a collection in id (creation-time) order.
    public func records(in collection: RecordCollection, includeDeleted: Bool = false) throws -> [RecordState] {
        let sql =
            "SELECT state FROM records WHERE collection = ?1" + (includeDeleted ? "" : " AND deleted = 0")
            + " ORDER BY id"
        return try db.statement(sql).rows([.text(collection.rawValue)]) { try Self.decodeState($0.blob(0)) }
    }

    /// Every record, tombstones included, in id order: the canonical export order. Audit blocks are left out: they
    /// are the audit trail's (`audit`), held by their site and the hub only, so no two sites' exports would match.
    public func allRecords() throws -> [RecordState] {
        try db.read {
            try db.statement("SELECT state FROM records WHERE collection <> 'auditBlocks' ORDER BY id").rows {
                try Self.decodeState($0.blob(0))
            }
        }
    }

    /// Calls `body` for every record but audit blocks (as ``allRecords()``), tombstones included, in id order, from
    /// one snapshot, without holding them all in memory (exports of large nodes).
    public func forEachRecord(_ body: (RecordState) throws -> Void) throws {
        try db.read {
            try db.statement("SELECT state FROM records WHERE collection <> 'auditBlocks' ORDER BY id").forEachRow {
                try body(try Self.decodeState($0.blob(0)))
            }
        }
    }

    /// Change-log entries after `seq`, oldest first.
    public func changes(after seq: Int64, limit: Int = 1000, newestFirst: Bool = false) throws -> [ChangeEntry] {
        try db.statement(
            "SELECT seq, origin, state, changed_at FROM records WHERE seq > ?1 ORDER BY seq "
                + (newestFirst ? "DESC" : "") + " LIMIT ?2"
        ).rows([.integer(seq), .integer(Int64(limit))]) {
            ChangeEntry(
                seq: $0.int(0), origin: $0.text(1), state: try Self.decodeState($0.blob(2)), changedAt: $0.int(3))
        }
    }

    /// The highest change-log position used so far.
    public func lastSeq() throws -> Int64 {
        Int64(try Self.readMeta(db)["last_seq"] ?? "0") ?? 0
    }

    /// Every live customer with the given code (more than one is a suspicious-customer lead), at most 20.
    public func liveCustomerIDs(code: String) throws -> [RecordID] {
        try db.statement(
            "SELECT id FROM records WHERE code = ?1 AND collection = 'customers' AND deleted = 0 ORDER BY id LIMIT 20"
        ).rows([.text(code)]) { try RecordID($0.text(0)) }
    }

    /// The id of a live customer with the given code, if any (no decoding: the hot path of imports).
    public func liveCustomerID(code: String) throws -> RecordID? {
        try db.statement(
            "SELECT id FROM records WHERE code = ?1 AND collection = 'customers' AND deleted = 0 ORDER BY id LIMIT 1"
        ).firstRow([.text(code)]) { try? RecordID($0.text(0)) } ?? nil
    }

    /// Recorded conflicts, newest first.
    public func conflicts(includeResolved: Bool = false) throws -> [StoredConflict] {
        let sql = Self.conflictSelect + (includeResolved ? "" : " WHERE status = 'open'") + " ORDER BY id DESC"
        return try db.statement(sql).rows { try Self.conflict(from: $0) }
    }

    /// One conflict by number.
    public func conflict(id: Int64) throws -> StoredConflict? {
        try db.statement(Self.conflictSelect + " WHERE id = ?1").firstRow([.integer(id)]) {
            try Self.conflict(from: $0)
        }
    }

    /// The audit trail, newest first (in the order entries were stored here), with every filter given applied.
    public func auditTrail(_ filter: AuditFilter = AuditFilter(), limit: Int = 100) throws -> [AuditEntry] {
        var conditions: [String] = []
        var values: [SQLValue] = [.integer(Int64(limit))]
        func add(_ condition: String, _ value: SQLValue) {
            values.append(value)
            conditions.append(condition.replacingOccurrences(of: "?", with: "?\(values.count)"))
        }
        if let recordID = filter.recordID { add("record_id = ?", .text(recordID.description)) }
        if let site = filter.site { add("site = ?", .text(site)) }
        if let user = filter.user { add("actor = ?", .text(user)) }
        if let action = filter.action { add("action = ?", .text(action)) }
        if let from = filter.from { add("at >= ?", .text(from)) }
        if let to = filter.to { add("at < ?", .text(to)) }
        let sql =
            "SELECT id, at, actor, origin, action, collection, record_id, detail, site, seq FROM audit"
            + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY id DESC LIMIT ?1"
        return try db.statement(sql).rows(values) {
            AuditEntry(
                id: $0.int(0), at: $0.text(1), actor: $0.text(2), origin: $0.text(3), action: $0.text(4),
                collection: $0.optionalText(5), recordID: $0.optionalText(6), detail: $0.text(7), site: $0.text(8),
                seq: $0.int(9))
        }
    }

    /// Packs this branch's audit entries not yet shipped into audit blocks, which the session then sends to the hub
    /// like any other change (``AuditTrail``). Writes nothing when there are none.
    /// - Returns: whether blocks were written.
    @discardableResult
    public func shipAuditTrail() throws -> Bool {
        guard identity.role == .branch, try AuditTrail.hasUnshipped(self) else { return false }
        try journaled { try AuditTrail.ship($0) }
        return true
    }

    /// The first broken link of each site's audit chain held here (only `site`'s when given); an empty result means
    /// every chain checked is whole. Also returns how many entries were checked per site.
    public func verifyAuditTrail(site: String? = nil) throws -> [(
        site: String, entries: Int, firstBreak: AuditChainBreak?
    )] {
        try db.read {
            let sites =
                try site.map { [$0] }
                ?? db.statement("SELECT DISTINCT site FROM audit ORDER BY site").rows { $0.text(0) }
            return try sites.map { site in
                let entries =
                    try db.statement("SELECT count(*) FROM audit WHERE site = ?1").firstRow([.text(site)]) {
                        Int($0.int(0))
                    } ?? 0
                return (site, entries, try AuditTrail.firstBreak(self, site: site))
            }
        }
    }

    /// The bytes of an attachment by SHA-256.
    public func blob(sha256: String) throws -> [UInt8]? {
        try db.statement("SELECT data FROM blobs WHERE sha256 = ?1").firstRow([.text(sha256)]) { $0.blob(0) }
    }

    /// How many records each collection holds (live, deleted).
    public func counts() throws -> [RecordCollection: (live: Int, deleted: Int)] {
        var result: [RecordCollection: (live: Int, deleted: Int)] = [:]
        for collection in RecordCollection.allCases { result[collection] = (0, 0) }
        try db.statement("SELECT collection, deleted, count(*) FROM records GROUP BY collection, deleted").forEachRow {
            guard let collection = RecordCollection(rawValue: $0.text(0)) else { return }
            if $0.int(1) == 0 {
                result[collection]?.live = Int($0.int(2))
            } else {
                result[collection]?.deleted += Int($0.int(2))
            }
        }
        return result
    }

    /// The `records.deleted` column of a state: 0 live, 1 deleted (a tombstone, collected once every site settled
    /// past it), 2 destroyed (kept: Protocol.md §9.7).
    static func deletedColumn(_ state: RecordState) -> Int64 {
        state.isDestroyed ? 2 : state.isDeleted ? 1 : 0
    }

    static func decodeState(_ bytes: [UInt8]) throws -> RecordState {
        do { return try RecordState(decoding: bytes) } catch {
            throw StorageError(code: .corrupt, message: "a stored record does not decode: \(error.message)")
        }
    }

    private static let conflictSelect = """
        SELECT id, record_id, collection, kind, field, kept_value, kept_stamp, lost_value, lost_stamp, detected_at, peer,
        status, resolved_at, resolved_by, resolution FROM conflicts
        """

    private static func conflict(from row: borrowing Row) throws -> StoredConflict {
        guard let recordID = try? RecordID(row.text(1)), let collection = RecordCollection(rawValue: row.text(2)),
            let kind = MergeConflict.Kind(rawValue: row.text(3))
        else { throw StorageError(code: .corrupt, message: "conflict \(row.int(0)) is malformed") }
        return StoredConflict(
            id: row.int(0), recordID: recordID, collection: collection, kind: kind, field: row.text(4),
            keptValue: row.text(5), keptStamp: row.text(6), lostValue: row.text(7), lostStamp: row.text(8),
            detectedAt: row.text(9), peer: row.text(10), status: row.text(11), resolvedAt: row.optionalText(12),
            resolvedBy: row.optionalText(13), resolution: row.optionalText(14))
    }
}
