import BranchSyncCore
import BranchSyncCrypto

/// What `branchsync check` found.
public struct IntegrityReport: Sendable {
    /// Records, attachments and audit entries checked.
    public var records = 0
    public var attachments = 0
    public var auditEntries = 0
    /// Every problem, one line each (at most ``maximumProblems``, then a count of the rest).
    public var problems: [String] = []
    /// Problems beyond those listed.
    public var moreProblems = 0
    /// What is worth knowing but not wrong: a fork in an audit chain left by a restore.
    public var notes: [String] = []

    /// The most problems listed one by one.
    public static let maximumProblems = 100

    mutating func add(_ problem: String) {
        if problems.count < Self.maximumProblems { problems.append(problem) } else { moreProblems += 1 }
    }

    /// Whether nothing is wrong.
    public var isSound: Bool { problems.isEmpty }
}

extension NodeStore {
    /// Checks the database: SQLite's own integrity check, then the store's invariants, from one snapshot:
    /// - every record state decodes, is consistent (Admission's C1–C5, canonical bytes) and has the id, collection,
    ///   custodian, class, deleted flag, digest, bucket, share list, retention date and attachment its row says;
    /// - log positions are unique and the stored log head and write counter are not behind the records;
    /// - the verify summaries equal a recount of the records;
    /// - every attachment has the SHA-256 and size it is stored under, and every live record's attachment is here;
    /// - every audit chain is whole.
    /// - Parameter progress: called with the records checked so far, every 10,000.
    public func check(progress: (Int) -> Void = { _ in }) throws -> IntegrityReport {
        var report = IntegrityReport()
        try db.read {
            let integrity = try db.statement("PRAGMA integrity_check").rows { $0.text(0) }
            if integrity != ["ok"] {
                for line in integrity.prefix(20) { report.add("SQLite integrity check: \(line)") }
            }
            try checkRecords(&report, progress: progress)
            try checkLog(&report)
            try checkSummaries(&report)
            try checkAttachments(&report)
            for chain in try verifyAuditTrail() {
                report.auditEntries += chain.entries
                guard let broken = chain.firstBreak else { continue }
                let line = "audit trail of \(broken.site), entry \(broken.seq): \(broken.problem)"
                // A site restored from a backup numbers new entries where its lost ones were: the fork is the trace
                // of that restore (shown by `audit verify`), not damage to this database.
                if broken.isFork { report.notes.append(line) } else { report.add(line) }
            }
        }
        return report
    }

    private func checkRecords(_ report: inout IntegrityReport, progress: (Int) -> Void) throws {
        try db.statement(
            """
            SELECT id, collection, owner, class, deleted, state, attachment, digest, bucket, shared_with, retain_until
            FROM records
            """
        ).forEachRow { row in
            report.records += 1
            if report.records % 10_000 == 0 { progress(report.records) }
            let id = row.text(0)
            let bytes = row.blob(5)
            let state: RecordState
            do throws(MalformedDataError) { state = try RecordState(decoding: bytes) } catch {
                report.add("record \(id): its state does not decode: \(error.message)")
                return
            }
            if let problem = Admission.inconsistency(of: state, encoded: bytes) {
                report.add("record \(id): \(problem)")
            }
            let attachment = state.collection == .documents ? state[RecordSchema.attachmentHashField] : nil
            let expected: [(String, String, String)] = [
                ("id", id, state.id.description),
                ("collection", row.text(1), state.collection.rawValue),
                ("owner", row.text(2), state.custodian.rawValue),
                ("class", row.text(3), state.classification.rawValue),
                ("deleted", String(row.int(4)), String(NodeStore.deletedColumn(state))),
                ("attachment", row.optionalText(6) ?? "", attachment ?? ""),
                ("digest", String(row.int(7)), String(RecordDigest.digest(of: bytes))),
                ("bucket", String(row.int(8)), String(RecordDigest.bucket(of: state.id))),
                ("shared_with", row.text(9), Scope.sharedWithColumn(state[RecordState.sharedWithField])),
                ("retain_until", row.optionalText(10) ?? "", state[RecordSchema.retainUntilField] ?? ""),
            ]
            for (column, stored, derived) in expected where stored != derived {
                report.add("record \(id): column \(column) is '\(stored)', its state says '\(derived)'")
            }
        }
    }

    private func checkLog(_ report: inout IntegrityReport) throws {
        try db.statement("SELECT seq, count(*) FROM records GROUP BY seq HAVING count(*) > 1 LIMIT 20").forEachRow {
            report.add("log position \($0.int(0)) is held by \($0.int(1)) records")
        }
        let meta = try Self.readMeta(db)
        let maxSeq = try db.statement("SELECT coalesce(max(seq), 0) FROM records").firstRow { $0.int(0) } ?? 0
        if let lastSeq = meta["last_seq"].flatMap(Int64.init), lastSeq < maxSeq {
            report.add("the stored log head \(lastSeq) is behind the newest log position \(maxSeq)")
        }
        var ownNewest: UInt64 = 0
        try db.statement("SELECT state FROM records").forEachRow { row in
            if let state = try? RecordState(decoding: row.blob(0)) {
                ownNewest = max(ownNewest, state.versionVector[identity.site])
            }
        }
        // The next write's counter is at least the floor a peer reported (after a restore, the node's own lost
        // writes come back before it writes again).
        let counter = max(meta["counter"].flatMap(UInt64.init) ?? 0, meta["counter_floor"].flatMap(UInt64.init) ?? 0)
        if counter < ownNewest {
            report.add(
                "the write counter \(counter) is behind this site's newest write \(ownNewest): new writes could reuse "
                    + "its dots")
        }
    }

    private func checkSummaries(_ report: inout IntegrityReport) throws {
        let recount = try DigestSummaries.recount(db)
        let stored = try DigestSummaries.storedSummaries(db)
        let differing = Set(recount.keys).union(stored.keys).filter { key in
            let (counted, held) = (recount[key] ?? (0, 0), stored[key] ?? (0, 0))
            return counted.records != held.records || counted.digest != held.digest
        }
        for key in differing.map({ "\($0.bucket) \($0.owner) \($0.classification) \($0.sharedWith)" }).sorted() {
            report.add("verify summary \(key) does not match its records")
        }
    }

    private func checkAttachments(_ report: inout IntegrityReport) throws {
        try db.statement("SELECT sha256, size, data FROM blobs").forEachRow { row in
            report.attachments += 1
            let data = row.blob(2)
            if SHA256.hexDigest(data) != row.text(0) || row.int(1) != Int64(data.count) {
                report.add("attachment \(row.text(0)): its bytes have another SHA-256 or size")
            }
        }
        try db.statement(
            """
            SELECT id, attachment FROM records WHERE attachment IS NOT NULL AND deleted = 0
            AND NOT EXISTS (SELECT 1 FROM blobs WHERE sha256 = records.attachment) LIMIT 20
            """
        ).forEachRow { report.add("record \($0.text(0)): its attachment \($0.text(1)) is not stored here") }
    }
}
