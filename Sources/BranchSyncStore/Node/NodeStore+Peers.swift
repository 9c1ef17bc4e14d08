import BranchSyncCore

extension NodeStore {
    private static let peerColumns = """
        site, role, clearance, stored_key, server_key, enrolled_at, applied_cursor, acked_cursor, online, state_since,
        last_seen_at, last_sync_at, peer_software, clock_skew_ms, peer_pending, incoming_remaining, incoming_done,
        last_error, clearance_epoch, synced_epoch, peer_counter, peer_incarnation, echo_floor, resync_pending,
        last_regression, peer_pending_age_ms, verified_at, verified_seq, verified_peer_seq, verified_records,
        last_verify_at, last_verify_result, last_verify_started_at, retired_at, successor, disabled_at, revoked_at,
        access_epoch, settled_cursor, stale_since
        """

    private static func peer(from row: borrowing Row) throws -> PeerRecord {
        guard let site = try? SiteID(row.text(0)), let role = NodeRole(rawValue: row.text(1)),
            let clearance = Classification(rawValue: row.text(2))
        else { throw StorageError(code: .corrupt, message: "peer row '\(row.text(0))' is malformed") }
        return PeerRecord(
            site: site, role: role, clearance: clearance, storedKey: row.isNull(3) ? nil : row.blob(3),
            serverKey: row.isNull(4) ? nil : row.blob(4), enrolledAt: row.text(5), appliedCursor: row.int(6),
            ackedCursor: row.int(7), online: row.int(8) != 0, stateSince: row.optionalText(9),
            lastSeenAt: row.optionalText(10), lastSyncAt: row.optionalText(11), peerSoftware: row.optionalText(12),
            clockSkewMilliseconds: row.isNull(13) ? nil : row.int(13), peerPending: row.int(14),
            incomingRemaining: row.int(15), incomingDone: row.int(16), lastError: row.optionalText(17),
            clearanceEpoch: row.int(18), syncedEpoch: row.int(19), peerCounter: row.int(20),
            peerIncarnation: row.isNull(21) ? nil : row.blob(21), echoFloor: row.int(22),
            resyncPending: row.int(23) != 0,
            lastRegression: row.optionalText(24), peerPendingAgeMilliseconds: row.isNull(25) ? nil : row.int(25),
            verifiedAt: row.optionalText(26), verifiedSeq: row.isNull(27) ? nil : row.int(27),
            verifiedPeerSeq: row.isNull(28) ? nil : row.int(28), verifiedRecords: row.isNull(29) ? nil : row.int(29),
            lastVerifyAt: row.optionalText(30), lastVerifyResult: row.optionalText(31),
            lastVerifyStartedAt: row.optionalText(32), retiredAt: row.optionalText(33),
            successor: row.optionalText(34).flatMap { try? SiteID($0) }, disabledAt: row.optionalText(35),
            revokedAt: row.optionalText(36), accessEpoch: row.int(37), settledCursor: row.int(38),
            staleSince: row.optionalText(39))
    }

    /// Every known peer, by site id.
    public func peers() throws -> [PeerRecord] {
        try db.statement("SELECT \(Self.peerColumns) FROM peers ORDER BY site").rows { try Self.peer(from: $0) }
    }

    /// One peer.
    public func peer(_ site: SiteID) throws -> PeerRecord? {
        try db.statement("SELECT \(Self.peerColumns) FROM peers WHERE site = ?1").firstRow([.text(site.rawValue)]) {
            try Self.peer(from: $0)
        }
    }

    /// Enrolls a branch at the hub with its authentication verifier and clearance.
    /// - Throws: ``StorageError`` `.invalidOperation` if this node is not a hub or the site is already enrolled.
    public func enroll(site: SiteID, clearance: Classification, storedKey: [UInt8], serverKey: [UInt8]) throws {
        guard identity.role == .hub else {
            throw StorageError(code: .invalidOperation, message: "only a hub enrolls sites; this node is a branch")
        }
        guard site != identity.site else {
            throw StorageError(code: .invalidOperation, message: "\(site) is this hub's own site id")
        }
        try db.write {
            if try peer(site) != nil {
                throw StorageError(code: .invalidOperation, message: "site \(site) is already enrolled")
            }
            try db.statement(
                // A new site holds nothing of this hub's log yet: no tombstone written before it needs to reach it.
                """
                INSERT INTO peers(site, role, clearance, stored_key, server_key, enrolled_at, settled_cursor)
                VALUES (?1, 'branch', ?2, ?3, ?4, ?5, (SELECT coalesce(max(seq), 0) FROM records))
                """
            ).run([
                .text(site.rawValue), .text(clearance.rawValue), .blob(storedKey), .blob(serverKey),
                .text(Timestamp.nowISO8601()),
            ])
            try auditEvent(action: "enroll", detail: "site \(site) with clearance \(clearance.rawValue)")
        }
    }

    /// Changes what others' records a branch may hold. The hub then resends its log to the site from the start
    /// until the site has acknowledged all of it, so records that became visible are backfilled and records that
    /// left its scope are purged there; a connected site's session picks the change up at once.
    /// - Returns: the previous clearance.
    @discardableResult
    public func setClearance(site: SiteID, clearance: Classification) throws -> Classification {
        try db.write {
            guard let existing = try peer(site), existing.role == .branch else {
                throw StorageError(code: .notFound, message: "site \(site) is not enrolled on this hub; use 'site add'")
            }
            if let retiredAt = existing.retiredAt {
                throw StorageError(
                    code: .invalidOperation,
                    message: "site \(site) was retired at \(retiredAt); it holds nothing any more")
            }
            // The resend goes back to the start of the log and includes the site's own changes: it may have purged
            // records it last wrote itself, and must get them back when they return to its scope.
            try db.statement(
                """
                UPDATE peers SET clearance = ?2, clearance_epoch = clearance_epoch + 1,
                echo_floor = max(echo_floor, ?3) WHERE site = ?1
                """
            )
            .run([.text(site.rawValue), .text(clearance.rawValue), .integer(try lastSeq())])
            try auditEvent(
                action: "grant",
                detail: "site \(site): clearance \(existing.clearance.rawValue) -> \(clearance.rawValue)")
            return existing.clearance
        }
    }

    /// On a branch: records the hub's site id at the first handshake, or checks it is the same hub as before.
    /// - Throws: ``StorageError`` `.invalidOperation` if a different hub answered.
    public func rememberHub(_ hub: SiteID) throws {
        try db.write {
            let known = try peers().filter { $0.role == .hub }
            if let other = known.first(where: { $0.site != hub }) {
                throw StorageError(
                    code: .invalidOperation,
                    message: "the hub at this address is '\(hub)', but this branch syncs with '\(other.site)'")
            }
            if known.isEmpty {
                try db.statement("INSERT INTO peers(site, role, enrolled_at) VALUES (?1, 'hub', ?2)")
                    .run([.text(hub.rawValue), .text(Timestamp.nowISO8601())])
            }
        }
    }

    /// A value from the node's metadata (e.g. the branch's enrolment secret).
    public func metadata(_ key: String) throws -> String? {
        try db.statement("SELECT value FROM meta WHERE key = ?1").firstRow([.text(key)]) { $0.text(0) }
    }

    /// Sets a metadata value.
    public func setMetadata(_ key: String, _ value: String) throws {
        try db.write {
            try db.statement(
                "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
            )
            .run([.text(key), .text(value)])
        }
    }

    // MARK: Session bookkeeping (for `status`)

    /// Runs `body` in one write transaction: the writes inside (each its own transaction otherwise) commit together.
    public func inOneTransaction<T>(_ body: () throws -> T) throws -> T {
        try db.write(body)
    }

    /// Characters of a peer's software string kept (it is the peer's to choose, and `status` shows it).
    static let maximumPeerTextLength = 120
    /// Characters of a session's last error kept (errors quote what a peer sent).
    static let maximumErrorLength = 600

    /// Records that a session with `site` started.
    public func recordSessionStart(_ site: SiteID, software: String, clockSkewMilliseconds: Int64) throws {
        let now = Timestamp.nowISO8601()
        try db.write {
            try db.statement(
                """
                UPDATE peers SET online = 1, state_since = ?2, last_seen_at = ?2, peer_software = ?3, clock_skew_ms = ?4,
                last_error = NULL WHERE site = ?1
                """
            ).run([
                .text(site.rawValue), .text(now), .text(software.escapedForDisplay(limit: Self.maximumPeerTextLength)),
                .integer(clockSkewMilliseconds),
            ])
        }
    }

    /// Records that the session with `site` ended, and why if it failed.
    public func recordSessionEnd(_ site: SiteID, error: String?) throws {
        try db.write {
            try db.statement("UPDATE peers SET online = 0, state_since = ?2, last_error = ?3 WHERE site = ?1")
                .run([
                    .text(site.rawValue), .text(Timestamp.nowISO8601()),
                    .optionalText(error?.escapedForDisplay(limit: Self.maximumErrorLength)),
                ])
        }
    }

    /// Records a failed connection attempt or handshake without changing the online state.
    public func recordPeerError(_ site: SiteID, error: String) throws {
        try db.write {
            try db.statement("UPDATE peers SET last_error = ?2 WHERE site = ?1").run([
                .text(site.rawValue), .text(error.escapedForDisplay(limit: Self.maximumErrorLength)),
            ])
        }
    }

    /// Records a heartbeat from `site`: what it said it has pending for us, and how long the oldest has waited.
    public func recordHeartbeat(_ site: SiteID, peerPending: Int64, pendingAgeMilliseconds: Int64) throws {
        try db.write {
            try db.statement(
                "UPDATE peers SET last_seen_at = ?2, peer_pending = ?3, peer_pending_age_ms = ?4 WHERE site = ?1"
            ).run([
                .text(site.rawValue), .text(Timestamp.nowISO8601()), .integer(peerPending),
                .integer(pendingAgeMilliseconds),
            ])
        }
    }

    /// Records that `site` acknowledged the complete resend started for clearance epoch `epoch`.
    public func recordResendComplete(_ site: SiteID, epoch: Int64) throws {
        try db.write {
            try db.statement("UPDATE peers SET synced_epoch = max(synced_epoch, ?2) WHERE site = ?1")
                .run([.text(site.rawValue), .integer(epoch)])
        }
    }

    /// Records that `site` applied our log up to `upTo`.
    public func recordAck(_ site: SiteID, upTo: Int64) throws {
        try db.write {
            try db.statement(
                "UPDATE peers SET acked_cursor = max(acked_cursor, ?2), last_sync_at = ?3, last_seen_at = ?3 WHERE site = ?1"
            ).run([.text(site.rawValue), .integer(upTo), .text(Timestamp.nowISO8601())])
        }
    }

    /// Marks every peer offline (a daemon starting after a crash cannot have sessions).
    public func markAllPeersOffline() throws {
        try db.write { try db.statement("UPDATE peers SET online = 0 WHERE online = 1").run() }
    }

    /// Appends a node-level audit row (enrolment, grants, purges).
    func auditEvent(action: String, detail: String, recordID: RecordID? = nil, collection: RecordCollection? = nil)
        throws
    {
        try Self.insertAudit(
            db, site: identity.site, at: Timestamp.nowISO8601(), actor: actor, action: action, collection: collection,
            recordID: recordID, detail: detail)
    }

    /// Characters of an audit detail at most (details quote reasons, which may quote a peer's values).
    static let maximumAuditDetailLength = 1_000

    /// Appends an entry to this site's audit trail (``AuditTrail``): every detail is one line of bounded length.
    static func insertAudit(
        _ db: DatabaseConnection, site: SiteID, at: String, actor: AuditActor, action: String,
        collection: RecordCollection?, recordID: RecordID?, detail: String
    ) throws {
        try AuditTrail.append(
            db, site: site, at: at, actor: actor.user.escapedForDisplay(limit: 120),
            origin: actor.origin.escapedForDisplay(limit: 200), action: action, collection: collection?.rawValue,
            recordID: recordID?.description, detail: detail.escapedForDisplay(limit: Self.maximumAuditDetailLength))
    }
}
