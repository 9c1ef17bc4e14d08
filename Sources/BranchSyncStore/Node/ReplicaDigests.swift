import BranchSyncCore

/// Summaries of a node's records for verify (DESIGN.md §13): over all of them, or over the part one branch may hold.
///
/// Bucket summaries come from `digest_buckets`, which every write keeps current in its transaction
/// (``DigestSummaries``), so the root and the 256 buckets cost a small table scan whatever the number of records;
/// sub-buckets and listings read one bucket's rows through its index.
public struct ReplicaDigests {
    /// Which records are compared.
    public enum Scope: Sendable, Hashable {
        /// Every record this node holds (a branch).
        case all
        /// The records `site`, with `clearance`, may hold (the hub, for one branch).
        case site(SiteID, clearance: Classification)
    }

    let store: NodeStore
    public let scope: Scope

    public init(store: NodeStore, scope: Scope) {
        self.store = store
        self.scope = scope
    }

    /// One summary: a record count and the XOR of digests.
    public struct Summary: Sendable, Hashable {
        public var records: UInt64
        public var digest: UInt64

        public init(records: UInt64 = 0, digest: UInt64 = 0) {
            self.records = records
            self.digest = digest
        }

        mutating func add(records: Int64, digest: Int64) {
            self.records &+= UInt64(clamping: records)
            self.digest ^= UInt64(bitPattern: digest)
        }
    }

    /// The SQL condition restricting rows to the scope, with the site bound as parameter `?index`.
    private func scopeClause(parameter index: Int) -> (sql: String, values: [SQLValue]) {
        switch scope {
        case .all: return ("", [])
        case .site(let site, let clearance):
            return (
                " AND " + BranchSyncCore.Scope.sqlCondition(clearance: clearance, parameter: index),
                [.text(site.rawValue)]
            )
        }
    }

    /// The summaries of the root (path `[]`), buckets (`[b]`) and sub-buckets (`[b, s]`) asked for, in order.
    public func summaries(of paths: [[UInt8]]) throws -> [[UInt8]: Summary] {
        var buckets = [Summary](repeating: Summary(), count: 256)
        if paths.contains(where: { $0.count < 2 }) {
            let clause = scopeClause(parameter: 1)
            let sql = "SELECT bucket, records, digest FROM digest_buckets WHERE records != 0" + clause.sql
            try store.db.statement(sql).forEachRow(clause.values) { row in
                let bucket = Int(row.int(0) & 0xFF)
                buckets[bucket].add(records: row.int(1), digest: row.int(2))
            }
        }
        var result: [[UInt8]: Summary] = [:]
        var subBuckets: Set<UInt8> = []
        for path in paths {
            switch path.count {
            case 0:
                var root = Summary()
                for bucket in buckets {
                    root.add(records: Int64(bucket.records), digest: Int64(bitPattern: bucket.digest))
                }
                result[path] = root
            case 1: result[path] = buckets[Int(path[0])]
            default: subBuckets.insert(path[0])
            }
        }
        for bucket in subBuckets {
            var subs: [UInt8: Summary] = [:]
            try forEachRecord(inBucket: bucket) { id, digest in
                subs[id.bytes[14], default: Summary()].add(records: 1, digest: digest)
            }
            for path in paths where path.count == 2 && path[0] == bucket { result[path] = subs[path[1]] ?? Summary() }
        }
        return result
    }

    /// Every record (id and digest) in the given nodes.
    public func entries(in paths: [[UInt8]]) throws -> [(RecordID, Int64)] {
        try entries(in: paths, atMost: .max) ?? []
    }

    /// The (id, digest) of every record in the given nodes, or `nil` when there are more than `limit` (a listing
    /// request no initiator following the protocol makes: it is refused rather than answered).
    public func entries(in paths: [[UInt8]], atMost limit: Int) throws -> [(RecordID, Int64)]? {
        var result: [(RecordID, Int64)] = []
        if paths.contains(where: \.isEmpty) {
            for bucket in 0...255 {
                try forEachRecord(inBucket: UInt8(bucket)) { result.append(($0, $1)) }
                if result.count > limit { return nil }
            }
            return result
        }
        var wanted: [UInt8: Set<UInt8>?] = [:]
        for path in paths {
            if path.count == 1 {
                wanted[path[0]] = .some(nil)
            } else if path.count == 2, wanted[path[0]] != .some(nil) {
                var subs = wanted[path[0]].flatMap { $0 } ?? []
                subs.insert(path[1])
                wanted[path[0]] = subs
            }
        }
        for (bucket, subs) in wanted.sorted(by: { $0.key < $1.key }) {
            try forEachRecord(inBucket: bucket) { id, digest in
                if subs.map({ $0.contains(id.bytes[14]) }) ?? true { result.append((id, digest)) }
            }
            if result.count > limit { return nil }
        }
        return result
    }

    private func forEachRecord(inBucket bucket: UInt8, _ body: (RecordID, Int64) -> Void) throws {
        let clause = scopeClause(parameter: 2)
        try store.db.statement("SELECT id, digest FROM records WHERE bucket = ?1" + clause.sql + " ORDER BY id")
            .forEachRow([.integer(Int64(bucket))] + clause.values) { row in
                if let id = try? RecordID(row.text(0)), id.bytes.count == 16 { body(id, row.int(1)) }
            }
    }

    /// The canonical states of the given records that this scope includes, for a repair, each with the SHA-256 (hex)
    /// of its attachment if it has one (sent before the state, as in a batch).
    public func states(_ ids: [RecordID]) throws -> [(state: [UInt8], attachment: String?)] {
        let clause = scopeClause(parameter: 2)
        var result: [(state: [UInt8], attachment: String?)] = []
        let statement = try store.db.statement("SELECT state, attachment FROM records WHERE id = ?1" + clause.sql)
        for id in ids {
            if let row = try statement.firstRow(
                [.text(id.description)] + clause.values, { (state: $0.blob(0), attachment: $0.optionalText(1)) })
            {
                result.append(row)
            }
        }
        return result
    }
}
