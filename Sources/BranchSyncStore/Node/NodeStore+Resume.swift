import BranchSyncCore
import BranchSyncCrypto

/// This node's side of a session's resume state (Protocol.md §8.2): what it has of the peer, and what it remembers
/// the peer has of it.
public struct ResumePositions: Sendable, Hashable {
    /// This node applied the peer's log up to here.
    public var cursor: Int64
    /// The peer applied this node's log up to here (its latest acknowledgement).
    public var acked: Int64
    /// This node's log head.
    public var logHead: Int64
    /// The highest counter of the peer's writes held here.
    public var peerCounter: Int64
    /// This node's incarnation.
    public var incarnation: [UInt8]
    /// The peer's incarnation as last seen (zeros before the first handshake).
    public var peerIncarnation: [UInt8]
    /// Hub: a full resync with this peer is due (the hub was restored, or the site went stale).
    public var resyncPending: Bool
    /// Hub: the site was silent past the GC horizon (Protocol.md §9.7): its resync is for that.
    public var stale: Bool = false
}

/// What a handshake decided, to record (``NodeStore/recordResume(_:peer:)``).
public struct ResumeOutcome: Sendable, Hashable {
    /// The peer's incarnation, as it stated it.
    public var peerIncarnation: [UInt8]
    /// Where the peer's log stream to this node starts: this node's applied cursor from now on.
    public var appliedCursor: Int64
    /// Where this node's log stream to the peer starts: what the peer has of it from now on.
    public var ackedCursor: Int64
    /// Whether this node sends the peer its own changes back too (the peer regressed).
    public var echoPeerChanges: Bool
    /// The highest counter of this node's writes that the peer holds.
    public var counterFloor: UInt64
    /// Whether the peer, or this node, went back in time, and what gave it away.
    public var peerRegressed: Bool
    public var selfRegressed: Bool
    public var reasons: [String]

    public init(
        peerIncarnation: [UInt8], appliedCursor: Int64, ackedCursor: Int64, echoPeerChanges: Bool,
        counterFloor: UInt64, peerRegressed: Bool, selfRegressed: Bool, reasons: [String]
    ) {
        self.peerIncarnation = peerIncarnation
        self.appliedCursor = appliedCursor
        self.ackedCursor = ackedCursor
        self.echoPeerChanges = echoPeerChanges
        self.counterFloor = counterFloor
        self.peerRegressed = peerRegressed
        self.selfRegressed = selfRegressed
        self.reasons = reasons
    }
}

extension NodeStore {
    /// The length of an incarnation id.
    public static let incarnationLength = 16

    /// How far beyond the wall clock a counter floor reported by a peer is believed: counters follow the wall clock
    /// in milliseconds, so a larger floor is a peer's bug or lie and must not exhaust this node's counters.
    static let counterFloorSlack: UInt64 = 86_400_000

    /// This node's incarnation: random, new at `init` and at `restore`.
    public func incarnation() throws -> [UInt8] {
        if let text = try metadata("incarnation"), let value = bytes(fromHex: text),
            value.count == Self.incarnationLength
        {
            return value
        }
        let value = try SecureRandom.bytes(Self.incarnationLength)
        try setMetadata("incarnation", hex(value))
        return value
    }

    /// This node's side of the resume state for `peer`.
    public func resumePositions(for peer: SiteID) throws -> ResumePositions {
        guard let record = try self.peer(peer) else {
            throw StorageError(code: .notFound, message: "\(peer) is not a peer of this node")
        }
        return ResumePositions(
            cursor: record.appliedCursor, acked: record.ackedCursor, logHead: try lastSeq(),
            peerCounter: record.peerCounter, incarnation: try incarnation(),
            peerIncarnation: record.peerIncarnation ?? [UInt8](repeating: 0, count: Self.incarnationLength),
            resyncPending: record.resyncPending, stale: record.staleSince != nil)
    }

    /// Records what a handshake decided: the cursors both streams start from, the peer's incarnation, the counter
    /// floor, whether this node echoes the peer's changes back, and a detected restore (audited, shown by
    /// `status`). Whom a hub trusts is decided by proof, not here (``startRecovery(provenBy:proof:reason:)``).
    public func recordResume(_ outcome: ResumeOutcome, peer: SiteID) throws {
        let now = wallClock()
        let stamp = Timestamp.iso8601(milliseconds: now)
        try db.write {
            let counter = UInt64(try metadata("counter") ?? "0") ?? 0
            let floor = min(outcome.counterFloor, max(counter, now &+ Self.counterFloorSlack))
            let currentFloor = UInt64(try metadata("counter_floor") ?? "0") ?? 0
            if floor > currentFloor { try setMetadata("counter_floor", String(floor)) }
            let regression =
                outcome.reasons.isEmpty
                ? nil : "\(stamp): " + outcome.reasons.joined(separator: "; ").escapedForDisplay(limit: 400)
            try db.statement(
                """
                UPDATE peers SET applied_cursor = ?2, acked_cursor = ?3, peer_incarnation = ?4,
                echo_floor = CASE WHEN ?5 THEN max(echo_floor, ?6) ELSE echo_floor END,
                last_regression = coalesce(?7, last_regression) WHERE site = ?1
                """
            ).run([
                .text(peer.rawValue), .integer(outcome.appliedCursor), .integer(outcome.ackedCursor),
                .blob(outcome.peerIncarnation), .integer(outcome.echoPeerChanges ? 1 : 0), .integer(try lastSeq()),
                .optionalText(regression),
            ])
            if let regression {
                try auditEvent(action: "restore-detected", detail: "session with \(peer): \(regression)")
            }
        }
    }

    /// Hub: a branch presented this hub's own proof of a position its history no longer reaches: the hub was
    /// restored from an older copy. It starts recovering (unless it already is): every branch owes it one full
    /// resync, and what they resend is taken in (Protocol.md §8.2).
    /// - Returns: whether recovery started now.
    @discardableResult
    public func startRecovery(provenBy peer: SiteID, proof: PositionProof, reason: String) throws -> Bool {
        try db.write { () throws -> Bool in
            // Lost positions are below the wall clock and the log head of the restored hub (positions follow the
            // clock), or at most the proof's own: a later proof of that history starts nothing.
            let through = max(wallClock(), UInt64(clamping: try lastSeq()), proof.position)
            let before = try metadata(Self.recoveredThroughKey).flatMap(UInt64.init) ?? 0
            try setMetadata(Self.recoveredThroughKey, String(max(through, before)))
            guard try metadata(Self.recoveringKey) == nil else { return false }
            try setMetadata(Self.recoveringKey, Timestamp.iso8601(milliseconds: wallClock()))
            // A retired site never logs in again: it owes nothing.
            try db.statement(
                "UPDATE peers SET resync_pending = 1 WHERE role = 'branch' AND retired_at IS NULL AND revoked_at IS NULL"
            ).run()
            try auditEvent(
                action: "recovering",
                detail: "this hub was restored from an older copy (\(peer)'s proof: "
                    + "\(reason.escapedForDisplay(limit: 300))); every branch resyncs once and what they resend is "
                    + "taken in")
            return true
        }
    }

    /// What this hub knows about its own restore, for admission.
    public func restoreKnowledge() throws -> RestoreKnowledge {
        try metadata(Self.recoveringKey) != nil ? .recovering : .none
    }

    /// Hub: `peer` completed the full resync it owed; when no branch owes one any more, the hub stops recovering,
    /// and states held meanwhile are judged as usual against the records it has regained (a claim no site resent
    /// is then judged causally invalid, and its site flagged).
    /// - Returns: whether the hub stopped recovering.
    @discardableResult
    public func completeResync(with peer: SiteID) throws -> Bool {
        try db.write {
            // A site marked stale by tombstone collection counts again from here.
            try db.statement("UPDATE peers SET resync_pending = 0, stale_since = NULL WHERE site = ?1")
                .run([.text(peer.rawValue)])
        }
        return try endRecoveryIfNothingOwed()
    }

    /// Ends the hub's recovery once no branch owes it a resync any more (the last one resynced, or was revoked).
    /// - Returns: whether the recovery ended now.
    @discardableResult
    func endRecoveryIfNothingOwed() throws -> Bool {
        let ended = try db.write { () throws -> Bool in
            guard try metadata(Self.recoveringKey) != nil else { return false }
            // A site silent past the GC horizon may never return: the recovery does not wait for it (it resyncs in
            // full whenever it does).
            let pending = try db.statement(
                "SELECT count(*) FROM peers WHERE resync_pending = 1 AND stale_since IS NULL"
            ).firstRow { $0.int(0) }
            guard pending == 0 else { return false }
            try db.statement("DELETE FROM meta WHERE key = ?1").run([.text(Self.recoveringKey)])
            try auditEvent(action: "recovered", detail: "every branch resynced after the hub's restore")
            return true
        }
        if ended { try readmitHeldStates() }
        return ended
    }

    // MARK: Verify bookkeeping

    /// Asks the running daemon to verify with `peer` (or every peer) soon; see ``verifyRequested(for:)``.
    public func requestVerify(with peer: SiteID?) throws {
        try db.write {
            let stamp = Timestamp.iso8601(milliseconds: wallClock())
            if let peer {
                try db.statement("UPDATE peers SET verify_requested_at = ?2 WHERE site = ?1")
                    .run([.text(peer.rawValue), .text(stamp)])
            } else {
                try db.statement("UPDATE peers SET verify_requested_at = ?1").run([.text(stamp)])
            }
        }
    }

    /// Whether a verify with `peer` was asked for after the last one started.
    public func verifyRequested(for peer: SiteID) throws -> Bool {
        try db.statement(
            """
            SELECT verify_requested_at IS NOT NULL AND verify_requested_at >= coalesce(last_verify_started_at, '')
            FROM peers WHERE site = ?1
            """
        ).firstRow([.text(peer.rawValue)]) { $0.int(0) != 0 } ?? false
    }

    /// Records a verify with `peer`: its one-line result, when it started, and when it found no difference, the
    /// positions it proved identical (this node's log head `seq` and applied cursor `peerSeq` when it started).
    public func recordVerify(
        with peer: SiteID, identical: Bool, records: Int64, result: String, startedAt: String, seq: Int64,
        peerSeq: Int64
    ) throws {
        let stamp = Timestamp.iso8601(milliseconds: wallClock())
        try db.write {
            if identical {
                try db.statement(
                    """
                    UPDATE peers SET verified_at = ?2, verified_seq = ?3, verified_peer_seq = ?4, verified_records = ?5,
                    last_verify_at = ?2, last_verify_result = ?6, last_verify_started_at = ?7 WHERE site = ?1
                    """
                ).run([
                    .text(peer.rawValue), .text(stamp), .integer(seq), .integer(peerSeq), .integer(records),
                    .text(result), .text(startedAt),
                ])
            } else {
                try db.statement(
                    "UPDATE peers SET last_verify_at = ?2, last_verify_result = ?3, last_verify_started_at = ?4 WHERE site = ?1"
                ).run([.text(peer.rawValue), .text(stamp), .text(result), .text(startedAt)])
            }
            // Verifies are audited at the hub, whose trail holds every site's. A branch's entry would go to the hub as a
            // change, which calls for another verify, whose entry would call for another, without end.
            if identity.role == .hub {
                try auditEvent(action: "verify", detail: "with \(peer): \(result)")
            }
        }
    }
}
