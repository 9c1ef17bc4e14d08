import BranchSyncCore
import BranchSyncCrypto

/// What one round of tombstone collection did (``NodeStore/collectTombstones(horizonMilliseconds:)``).
public struct CollectionRound: Sendable, Hashable {
    /// Tombstones removed in this round.
    public var collected = 0
    /// Deleted records still held: some counted site has not settled past them.
    public var waiting = 0
    /// Tombstones at or before this position of the hub's log were collectable.
    public var safePosition: Int64 = 0
    /// Counted sites whose settled position is below the oldest waiting tombstone, by site.
    public var heldBackBy: [SiteID] = []
    /// Sites found silent past the horizon in this round: they no longer count and owe a full resync.
    public var markedStale: [SiteID] = []
    /// Why nothing was collected, when a rule (not the sites' positions) prevented it.
    public var skippedBecause: String?

    public init() {}
}

/// What `status` shows of tombstone collection at the hub.
public struct TombstoneCollectionStatus: Sendable, Hashable {
    /// A site silent past the horizon.
    public struct StaleSite: Sendable, Hashable {
        public var site: SiteID
        /// When the hub found it silent past the horizon.
        public var since: String
    }

    /// Deleted records the hub still holds.
    public var waiting: Int64
    /// Of those, the ones no counted site holds back (the next round removes them).
    public var collectable: Int64
    /// Counted sites holding the oldest waiting tombstone back.
    public var heldBackBy: [SiteID]
    /// Sites silent past the horizon: they owe a full resync and hold nothing back.
    public var staleSites: [StaleSite]
    /// Tombstones removed since the store was created, and when the last round ran.
    public var collectedTotal: Int64
    public var lastRoundAt: String?
}

/// Causal tombstone collection at the hub (Protocol.md §9.7).
///
/// A deleted record is kept as a tombstone so that an older copy of it, still held somewhere, cannot bring it back.
/// Once every site that may hold it has *settled* past it — both sides caught up, so the site applied the tombstone
/// and the hub applied every change the site made before (a concurrent edit included) — no state without the
/// tombstone can arrive any more from those sites, and the hub removes it. The union of the collected records'
/// version vectors (the *collected frontier*) stays: a state for a record the hub does not hold whose vector is
/// within it is an old copy of a collected record, never a new one (new writes carry newer counters), and is
/// answered with `FORGET` instead of being taken in.
///
/// A site silent longer than the horizon while it holds a collection back is marked stale: it stops counting, and
/// owes a full resync when it returns, in which whatever it still holds of collected records is forgotten.
/// Retired and revoked sites never count. Destructions are never collected, and a tombstone waits for the minimum
/// age (so a restore of the hub's latest backup brings back nothing the branches forgot).
extension NodeStore {
    static let collectedFrontierKey = "gc_frontier"
    static let collectedTotalKey = "gc_collected_total"
    static let lastCollectionKey = "gc_last_round_at"
    static let minimumAgeKey = "gc_minimum_age_ms"

    /// Tombstones removed per transaction: a large collection never holds the write lock for long.
    static let collectionChunk = 1_000

    /// The default horizon: a site silent for 30 days stops holding collection back.
    public static let defaultCollectionHorizonMilliseconds: Int64 = 30 * 86_400_000

    /// The default minimum age of a tombstone before it is collected: 2 days, longer than the daily incremental
    /// backup's period, so restoring the hub from its latest backup never brings back a record the branches were told
    /// to forget.
    public static let defaultCollectionMinimumAgeMilliseconds: Int64 = 2 * 86_400_000

    /// Hub: `site` was caught up both ways having applied this hub's log up to `position` (see the type's
    /// discussion); only ever moves forward.
    public func recordSettled(_ site: SiteID, upTo position: Int64) throws {
        try db.write {
            try db.statement("UPDATE peers SET settled_cursor = max(settled_cursor, ?2) WHERE site = ?1")
                .run([.text(site.rawValue), .integer(position)])
        }
    }

    /// Tombstones this hub collected since it was created (it changes with every round that removed any).
    public func collectedTotal() throws -> Int64 {
        Int64(try metadata(Self.collectedTotalKey) ?? "0") ?? 0
    }

    /// The union of the version vectors of every record this hub collected (empty before the first).
    public func collectedFrontier() throws -> VersionVector {
        guard let text = try metadata(Self.collectedFrontierKey), let bytes = bytes(fromHex: text) else {
            return VersionVector()
        }
        var reader = BinaryReader(bytes)
        do { return try VersionVector.decode(from: &reader) } catch {
            throw StorageError(code: .corrupt, message: "the collected frontier in meta does not decode: \(error)")
        }
    }

    /// Hub: one round of collection. Marks counted sites silent for longer than `horizonMilliseconds` that hold a
    /// tombstone back as stale (audited), then removes every *candidate* at or before the lowest settled position of
    /// the sites that still count, with its conflicts and unreferenced attachment. A candidate is a deleted record
    /// (not a destruction, which is kept) deleted at least `minimumAgeMilliseconds` ago and without an open or held
    /// quarantine row (an operator deals with that first). Nothing is collected while the hub recovers from a restore
    /// (what branches resend is then the truth).
    /// - Throws: ``StorageError`` `.invalidOperation` at a branch.
    public func collectTombstones(
        horizonMilliseconds: Int64 = NodeStore.defaultCollectionHorizonMilliseconds,
        minimumAgeMilliseconds: Int64 = NodeStore.defaultCollectionMinimumAgeMilliseconds
    ) throws -> CollectionRound {
        guard identity.role == .hub else {
            throw StorageError(
                code: .invalidOperation,
                message: "tombstones are collected by the hub, which knows what every site has applied; this branch "
                    + "drops its copies when the hub tells it (FORGET)")
        }
        var round = CollectionRound()
        if try restoreKnowledge() == .recovering {
            round.skippedBecause = "the hub is recovering from a restore"
            round.waiting = Int(try deletedRecordCount())
            return round
        }
        let deletedBefore = Self.ageCutoff(wallClock(), minimumAgeMilliseconds)
        round.markedStale = try markSilentSitesStale(
            horizonMilliseconds: horizonMilliseconds, deletedBefore: deletedBefore)
        round.safePosition = try collectablePosition()
        while true {
            let collected = try collectChunk(upTo: round.safePosition, deletedBefore: deletedBefore)
            round.collected += collected
            if collected < Self.collectionChunk { break }
        }
        try db.write {
            try setMetadata(Self.lastCollectionKey, Timestamp.iso8601(milliseconds: wallClock()))
            try setMetadata(Self.minimumAgeKey, String(minimumAgeMilliseconds))
            if round.collected > 0 || !round.markedStale.isEmpty {
                try auditEvent(
                    action: "gc",
                    detail: "collected \(round.collected) tombstone(s) up to position \(round.safePosition)"
                        + (round.markedStale.isEmpty
                            ? ""
                            : "; silent past the horizon: " + round.markedStale.map(\.rawValue).joined(separator: ", "))
                )
            }
        }
        // The branches still hold the collected tombstones: a verify with each (now with a connected one, at the next
        // session with the others) sends them here, and they are answered with FORGET.
        if round.collected > 0 { try requestVerify(with: nil) }
        round.waiting = Int(try deletedRecordCount())
        round.heldBackBy = try sitesHoldingBack(deletedBefore: deletedBefore)
        return round
    }

    /// What `status` shows of collection at the hub, judged with the minimum tombstone age of the last round.
    public func tombstoneCollectionStatus() throws -> TombstoneCollectionStatus {
        let minimumAge =
            try metadata(Self.minimumAgeKey).flatMap(Int64.init) ?? Self.defaultCollectionMinimumAgeMilliseconds
        let deletedBefore = Self.ageCutoff(wallClock(), minimumAge)
        let stale = try db.statement(
            "SELECT site, stale_since FROM peers WHERE stale_since IS NOT NULL AND retired_at IS NULL AND revoked_at IS NULL ORDER BY site"
        ).rows { row in TombstoneCollectionStatus.StaleSite(site: try SiteID(row.text(0)), since: row.text(1)) }
        let safe = try collectablePosition()
        let collectable =
            try db.statement("SELECT count(*) FROM records WHERE \(Self.candidate) AND seq <= ?2").firstRow([
                .integer(deletedBefore), .integer(safe),
            ]) { $0.int(0) } ?? 0
        return TombstoneCollectionStatus(
            waiting: try deletedRecordCount(), collectable: collectable,
            heldBackBy: try sitesHoldingBack(deletedBefore: deletedBefore),
            staleSites: stale, collectedTotal: Int64(try metadata(Self.collectedTotalKey) ?? "0") ?? 0,
            lastRoundAt: try metadata(Self.lastCollectionKey))
    }

    /// Branch: drops the records the hub says it collected, each only if this copy is within the vector the hub
    /// named (a copy changed since is kept: its change goes to the hub and is judged there). No log entry is
    /// written: the record is gone everywhere.
    /// - Returns: how many records were dropped.
    @discardableResult
    public func forgetCollected(_ entries: [(id: RecordID, vector: VersionVector)], by peer: SiteID) throws -> Int {
        try db.write {
            var dropped = 0
            for entry in entries {
                guard let state = try record(entry.id), entry.vector.dominatesOrEquals(state.versionVector) else {
                    continue
                }
                try removeRecord(state)
                try db.statement("DELETE FROM pending_purges WHERE record_id = ?1").run([.text(entry.id.description)])
                dropped += 1
            }
            if dropped > 0 {
                try auditEvent(
                    action: "forget", detail: "dropped \(dropped) record(s) \(peer) collected after deletion")
            }
            return dropped
        }
    }

    // MARK: Steps

    private func deletedRecordCount() throws -> Int64 {
        try db.statement("SELECT count(*) FROM records WHERE deleted = 1").firstRow { $0.int(0) } ?? 0
    }

    /// Sites whose position counts: enrolled branches not retired, revoked or stale.
    private static let countedSites =
        "role = 'branch' AND retired_at IS NULL AND revoked_at IS NULL AND stale_since IS NULL"

    /// The lowest settled position of the counted sites (the log head when none counts).
    private func collectablePosition() throws -> Int64 {
        let lowest: Int64?? = try db.statement("SELECT min(settled_cursor) FROM peers WHERE \(Self.countedSites)")
            .firstRow { $0.isNull(0) ? nil : $0.int(0) }
        if let lowest = lowest ?? nil { return lowest }
        return try lastSeq()
    }

    /// A record a round may collect (`?1`: deleted before this time, milliseconds): deleted, not destroyed, old
    /// enough, and not waiting for an operator in the quarantine.
    private static let candidate = """
        deleted = 1 AND changed_at <= ?1
            AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.record_id = records.id AND q.status IN ('open', 'held'))
        """

    /// `now` minus the minimum age, in milliseconds (0 when the age reaches back before the epoch).
    private static func ageCutoff(_ now: UInt64, _ minimumAgeMilliseconds: Int64) -> Int64 {
        Int64(clamping: now) - min(Int64(clamping: now), max(0, minimumAgeMilliseconds))
    }

    /// The oldest candidate's position, if any: what holds collection back is a site below it.
    private func oldestCandidate(deletedBefore: Int64) throws -> Int64? {
        let oldest: Int64?? = try db.statement("SELECT min(seq) FROM records WHERE \(Self.candidate)").firstRow([
            .integer(deletedBefore)
        ]) { $0.isNull(0) ? nil : $0.int(0) }
        return oldest ?? nil
    }

    private func sitesHoldingBack(deletedBefore: Int64) throws -> [SiteID] {
        guard let oldest = try oldestCandidate(deletedBefore: deletedBefore) else { return [] }
        return try db.statement(
            "SELECT site FROM peers WHERE \(Self.countedSites) AND settled_cursor < ?1 ORDER BY site"
        ).rows([.integer(oldest)]) { try SiteID($0.text(0)) }
    }

    /// Marks the counted sites that hold the oldest tombstone back and were last heard of (or enrolled) longer than
    /// the horizon ago as stale: they stop counting and owe a full resync.
    private func markSilentSitesStale(horizonMilliseconds: Int64, deletedBefore: Int64) throws -> [SiteID] {
        guard let oldest = try oldestCandidate(deletedBefore: deletedBefore) else { return [] }
        let now = wallClock()
        let cutoff = Timestamp.iso8601(milliseconds: now &- min(now, UInt64(clamping: max(0, horizonMilliseconds))))
        let stamp = Timestamp.iso8601(milliseconds: now)
        return try db.write {
            let silent = try db.statement(
                """
                SELECT site, coalesce(last_seen_at, enrolled_at) FROM peers
                WHERE \(Self.countedSites) AND settled_cursor < ?1 AND online = 0
                    AND coalesce(last_seen_at, enrolled_at) < ?2 ORDER BY site
                """
            ).rows([.integer(oldest), .text(cutoff)]) { (try SiteID($0.text(0)), $0.text(1)) }
            for (site, lastHeard) in silent {
                try db.statement("UPDATE peers SET stale_since = ?2, resync_pending = 1 WHERE site = ?1")
                    .run([.text(site.rawValue), .text(stamp)])
                try auditEvent(
                    action: "gc-stale",
                    detail: "site \(site) silent since \(Timestamp.readable(lastHeard)), past the GC horizon: it no "
                        + "longer holds tombstones back and resyncs in full when it returns")
            }
            return silent.map(\.0)
        }
    }

    /// Collects up to ``collectionChunk`` tombstones at or before `position` in one transaction.
    private func collectChunk(upTo position: Int64, deletedBefore: Int64) throws -> Int {
        try db.write {
            let rows = try db.statement(
                "SELECT id, state FROM records WHERE \(Self.candidate) AND seq <= ?2 ORDER BY seq LIMIT ?3"
            ).rows([.integer(deletedBefore), .integer(position), .integer(Int64(Self.collectionChunk))]) {
                try Self.decodeState($0.blob(1))
            }
            guard !rows.isEmpty else { return 0 }
            var frontier = try collectedFrontier()
            for state in rows {
                frontier.merge(state.versionVector)
                try removeRecord(state)
            }
            var writer = BinaryWriter()
            frontier.encode(into: &writer)
            try setMetadata(Self.collectedFrontierKey, hex(writer.bytes))
            // In the same transaction: a running daemon sees the total change exactly when records went.
            try setMetadata(Self.collectedTotalKey, String(try collectedTotal() + Int64(rows.count)))
            return rows.count
        }
    }
}
