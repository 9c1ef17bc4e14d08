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

    /// Every record of every collection, tombstones included, in id order: the canonical export order.
    public func allRecords() throws -> [RecordState] {
        try db.read {
            try db.statement("SELECT state FROM records ORDER BY id").rows { try Self.decodeState($0.blob(0)) }
        }
    }

    /// Calls `body` for every record, tombstones included, in id order, from one snapshot, without holding them all
    /// in memory (exports of large nodes).
    public func forEachRecord(_ body: (RecordState) throws -> Void) throws {
        try db.read {
            try db.statement("SELECT state FROM records ORDER BY id").forEachRow {
                try body(try Self.decodeState($0.blob(0)))
            }
        }
    }

    /// Change-log entries after `seq`, oldest first.
    public func changes(after seq: Int64, limit: Int = 1000) throws -> [ChangeEntry] {
        try db.statement("SELECT seq, origin, state FROM records WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .rows([.integer(seq), .integer(Int64(limit))]) {
                ChangeEntry(seq: $0.int(0), origin: $0.text(1), state: try Self.decodeState($0.blob(2)))
            }
    }

    /// The highest change-log position used so far.
    public func lastSeq() throws -> Int64 {
        Int64(try Self.readMeta(db)["last_seq"] ?? "0") ?? 0
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

    /// The audit trail, newest first; only one record's when `recordID` is given.
    public func auditTrail(recordID: RecordID? = nil, limit: Int = 100) throws -> [AuditEntry] {
        let filter = recordID == nil ? "" : " WHERE record_id = ?2"
        let sql =
            "SELECT id, at, actor, origin, action, collection, record_id, detail FROM audit\(filter) ORDER BY id DESC LIMIT ?1"
        var values: [SQLValue] = [.integer(Int64(limit))]
        if let recordID { values.append(.text(recordID.description)) }
        return try db.statement(sql).rows(values) {
            AuditEntry(
                id: $0.int(0), at: $0.text(1), actor: $0.text(2), origin: $0.text(3), action: $0.text(4),
                collection: $0.optionalText(5), recordID: $0.optionalText(6), detail: $0.text(7))
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
                result[collection]?.deleted = Int($0.int(2))
            }
        }
        return result
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
