import BranchSyncCore

/// How often a hub limit was hit, for `status`.
public struct LimitHitRecord: Sendable, Hashable {
    public var name: String
    public var count: Int64
    /// ISO 8601.
    public var lastAt: String
    public var lastDetail: String
}

extension NodeStore {
    /// Adds hits of hub limits (the hub's housekeeping, its only writer).
    /// - Parameter hits: name, hits since the last call, when (milliseconds since 1970), and the last detail.
    public func recordLimitHits(_ hits: [(name: String, count: Int, atMilliseconds: UInt64, detail: String)]) throws {
        guard !hits.isEmpty else { return }
        try db.write {
            let statement = try db.statement(
                """
                INSERT INTO limit_hits(name, count, last_at, last_detail) VALUES (?1, ?2, ?3, ?4)
                ON CONFLICT(name) DO UPDATE SET count = count + excluded.count, last_at = excluded.last_at,
                last_detail = excluded.last_detail
                """)
            for hit in hits {
                try statement.run([
                    .text(hit.name), .integer(Int64(hit.count)),
                    .text(Timestamp.iso8601(milliseconds: hit.atMilliseconds)),
                    .text(hit.detail.escapedForDisplay(limit: 200)),
                ])
            }
        }
    }

    /// Every limit hit so far, by name.
    public func limitHits() throws -> [LimitHitRecord] {
        try db.statement("SELECT name, count, last_at, last_detail FROM limit_hits ORDER BY name").rows {
            LimitHitRecord(name: $0.text(0), count: $0.int(1), lastAt: $0.text(2), lastDetail: $0.text(3))
        }
    }

    /// A number that changes whenever another connection commits to the database (`PRAGMA data_version`): a cheap
    /// way to tell whether cached data may be stale.
    public func dataVersion() throws -> Int64 {
        try db.statement("PRAGMA data_version").firstRow { $0.int(0) } ?? 0
    }
}
