import BranchSyncCore

/// The only writer of `digest_buckets`, the per-bucket summaries verify compares (DESIGN.md §13): for each bucket,
/// owner, class and share list, the number of records and the XOR of their digests.
///
/// A write transaction collects what its saves and removals change (``add(_:digest:)``, ``remove(_:digest:)``) and
/// stores the sum once, before it commits (``flush(_:)``): a transaction of a thousand records touches each summary
/// row once instead of once per record. (Triggers did this before migration 014; each record's write then carried a
/// statement journal, which cost about a third of a bulk write.)
struct DigestSummaries {
    /// The columns a summary row is keyed by.
    struct Key: Hashable {
        var bucket: Int64
        var owner: String
        var classification: String
        var sharedWith: String
    }

    /// A change to one summary row: records added (or removed, negative) and the XOR of their digests.
    private struct Change {
        var records: Int64 = 0
        var digest: Int64 = 0
    }

    private var changes: [Key: Change] = [:]

    /// A record with `digest` now counts under `key`.
    mutating func add(_ key: Key, digest: Int64) {
        changes[key, default: Change()].records += 1
        changes[key, default: Change()].digest ^= digest
    }

    /// A record with `digest` no longer counts under `key`.
    mutating func remove(_ key: Key, digest: Int64) {
        changes[key, default: Change()].records -= 1
        changes[key, default: Change()].digest ^= digest
    }

    /// The summary key of a row whose first four columns are bucket, owner, class and share list.
    private static func key(_ row: borrowing Row) -> Key {
        Key(bucket: row.int(0), owner: row.text(1), classification: row.text(2), sharedWith: row.text(3))
    }

    /// The summary key and digest of the stored row of `id`, if there is one.
    static func stored(_ id: String, in db: DatabaseConnection) throws -> (key: Key, digest: Int64)? {
        try db.statement("SELECT bucket, owner, class, shared_with, digest FROM records WHERE id = ?1").firstRow(
            [.text(id)]
        ) { row in (key(row), row.int(4)) }
    }

    /// The summaries as the records make them, recounted from every row (`check`, a rebuild).
    static func recount(_ db: DatabaseConnection) throws -> [Key: (records: Int64, digest: Int64)] {
        try summed(db).changes.mapValues { ($0.records, $0.digest) }
    }

    /// Every row of `records` added up, as changes from empty summaries.
    private static func summed(_ db: DatabaseConnection) throws -> DigestSummaries {
        var summaries = DigestSummaries()
        try db.statement("SELECT bucket, owner, class, shared_with, digest FROM records").forEachRow { row in
            summaries.add(key(row), digest: row.int(4))
        }
        return summaries
    }

    /// The summaries as `digest_buckets` holds them (rows of no record omitted).
    static func storedSummaries(_ db: DatabaseConnection) throws -> [Key: (records: Int64, digest: Int64)] {
        var stored: [Key: (records: Int64, digest: Int64)] = [:]
        try db.statement(
            "SELECT bucket, owner, class, shared_with, records, digest FROM digest_buckets WHERE records != 0"
        ).forEachRow { row in stored[key(row)] = (row.int(4), row.int(5)) }
        return stored
    }

    /// Stores the collected changes in the caller's transaction and forgets them.
    mutating func flush(_ db: DatabaseConnection) throws {
        guard !changes.isEmpty else { return }
        let upsert = try db.statement(
            """
            INSERT INTO digest_buckets(bucket, owner, class, shared_with, records, digest)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            ON CONFLICT(bucket, owner, class, shared_with) DO UPDATE
            SET records = records + excluded.records,
                digest = (digest | excluded.digest) & ~(digest & excluded.digest)
            """)
        for (key, change) in changes where change.records != 0 || change.digest != 0 {
            try upsert.run([
                .integer(key.bucket), .text(key.owner), .text(key.classification), .text(key.sharedWith),
                .integer(change.records), .integer(change.digest),
            ])
        }
        changes = [:]
    }

    /// Removes the row of `id` from `records`, and its part of the summaries, in the caller's transaction.
    static func deleteRecord(_ id: String, in db: DatabaseConnection) throws {
        guard let stored = try stored(id, in: db) else { return }
        try db.statement("DELETE FROM records WHERE id = ?1").run([.text(id)])
        var summaries = DigestSummaries()
        summaries.remove(stored.key, digest: stored.digest)
        try summaries.flush(db)
    }

    /// Recomputes every summary from the records (after a restore replaced rows wholesale).
    static func rebuild(_ db: DatabaseConnection) throws {
        var summaries = try summed(db)
        try db.execute("DELETE FROM digest_buckets")
        try summaries.flush(db)
    }
}
