import BranchSyncCore
import BranchSyncCrypto

extension NodeStore {
    /// Reads the next batch of this node's log for `peer`, after `cursor`.
    ///
    /// With a `clearance` (the hub sending to a branch), records the peer may not hold become purge ids instead of
    /// states: the peer drops its copy if it has one and never sees the content. This is decided before the echo
    /// rule, so a record the peer itself last wrote is purged there too when it leaves the peer's scope. Entries that
    /// came from `peer` are then skipped (no echo), except up to `echoFloor`: after a restore or a clearance change
    /// the peer may no longer hold what it once sent. Skipped entries still advance `upTo`.
    /// - Parameters:
    ///   - limit: at most this many log entries are scanned.
    ///   - maximumBytes: states are added until their encoded size reaches this.
    public func outboundBatch(
        for peer: SiteID, after cursor: Int64, clearance: Classification?, echoFloor: Int64 = 0, limit: Int,
        maximumBytes: Int
    ) throws -> OutboundBatch {
        var builder = OutboundBatchBuilder(after: cursor, maximumBytes: maximumBytes)
        // Scope is decided from the owner and class columns, and states go out as stored: nothing is decoded.
        let scanned = try forEachLogEntry(after: cursor, limit: limit) { entry in
            guard !builder.isFull else { return false }
            builder.add(entry, for: peer, clearance: clearance, echoFloor: echoFloor)
            return true
        }
        var batch = builder.batch
        batch.reachedEnd = true
        if scanned == limit || builder.isFull {
            batch.reachedEnd =
                try db.statement("SELECT 1 FROM records WHERE seq > ?1 LIMIT 1").firstRow([.integer(batch.upTo)]) { _ in
                    true
                }
                == nil
        }
        return batch
    }

    /// Reads the log entries after `cursor`, oldest first, at most `limit`, until `body` returns `false`.
    /// - Returns: how many entries `body` took (`limit` when it never said stop and the log had that many).
    @discardableResult
    public func forEachLogEntry(after cursor: Int64, limit: Int, _ body: (LogEntry) throws -> Bool) throws -> Int {
        var taken = 0
        try db.statement(
            """
            SELECT seq, origin, owner, class, id, state, attachment, changed_at, collection, shared_with FROM records
            WHERE seq > ?1 ORDER BY seq LIMIT ?2
            """
        ).readRows([.integer(cursor), .integer(Int64(limit))]) { row in
            let entry = LogEntry(
                seq: row.int(0), origin: row.text(1), owner: row.text(2),
                classification: Classification(rawValue: row.text(3)) ?? .secret, sharedWith: row.text(9),
                isAuditBlock: row.text(8) == RecordCollection.auditBlocks.rawValue, id: row.text(4),
                state: row.blob(5), attachment: row.optionalText(6), changedAt: row.int(7))
            guard try body(entry) else { return false }
            taken += 1
            return true
        }
        return taken
    }

    /// How many log entries after `cursor` would be sent to `peer` (its lag behind this node in changes), and when
    /// the oldest of them was stored here (milliseconds; `nil` when there are none).
    public func pending(for peer: SiteID, after cursor: Int64, clearance: Classification?, echoFloor: Int64 = 0)
        throws -> (count: Int64, oldestMilliseconds: Int64?)
    {
        var sql =
            "SELECT count(*), min(changed_at) FROM records WHERE seq > ?1 AND (origin != ?2 OR seq <= ?3)"
        let values: [SQLValue] = [.integer(cursor), .text(peer.rawValue), .integer(echoFloor)]
        if let clearance { sql += " AND " + Scope.sqlCondition(clearance: clearance, parameter: 2) }
        return try db.statement(sql).firstRow(values) { ($0.int(0), $0.isNull(1) ? nil : $0.int(1)) } ?? (0, nil)
    }

    /// How many log entries after `cursor` would be sent to `peer`; see ``pending(for:after:clearance:echoFloor:)``.
    public func pendingCount(for peer: SiteID, after cursor: Int64, clearance: Classification?, echoFloor: Int64 = 0)
        throws -> Int64
    {
        try pending(for: peer, after: cursor, clearance: clearance, echoFloor: echoFloor).count
    }

    /// Applies a batch received from `peer` in one transaction, together with the new cursor, so a crash neither
    /// loses nor double-applies anything.
    ///
    /// Each state is decoded and judged on its own (``AdmissionPolicy``): admitted states are merged and stored;
    /// policy refusals are quarantined and answered with a compensating write; causally invalid states are
    /// quarantined and reported in ``BatchResult/invalid`` (the session ends after acknowledging the batch); states
    /// that cannot be judged yet are held. None blocks the rest of the stream.
    /// - Parameters:
    ///   - encodedStates: the states exactly as received.
    ///   - upTo: the sender's log position this batch reaches; stored as the peer's applied cursor. `nil` for a
    ///     verify repair, which moves no cursor.
    ///   - remaining: the sender's estimate of what is still to come (bootstrap progress).
    ///   - attachmentsSent: SHA-256 (hex) of the attachments the peer sent in this session; under the hub's policy a
    ///     state may newly refer only to those.
    ///   - proof: branch: the hub's proof of `upTo`, kept (replacing the one before) with the cursor, for the next
    ///     `HELLO` (Protocol.md §8.2).
    ///   - quarantineQuota: hub: the open quarantine rows the peer may have at most.
    /// - Throws: ``StorageError`` with code ``StorageError/Code/quotaExceeded`` when the batch would take the peer
    ///   past `quarantineQuota`; nothing of the batch is stored then.
    public func applyIncoming(
        _ encodedStates: [[UInt8]], from peer: SiteID, upTo: Int64?, remaining: Int64, policy: AdmissionPolicy,
        attachmentsSent: Set<String> = [], proof: PositionProof? = nil, quarantineQuota: Int? = nil
    ) throws -> BatchResult {
        try journaled { journal in
            let (result, peerCounter) = try RemoteApplier.batch(
                journal: journal, peer: peer, policy: policy, attachmentsSent: attachmentsSent,
                quarantineQuota: quarantineQuota
            ) { applier in
                // Decoded and checked on another thread while this one applies them.
                try ReceivedStateChecker.forEach(encodedStates) { try applier.apply($0) }
                return (applier.result, applier.peerCounter)
            }
            if !encodedStates.isEmpty { groupAppliedIncoming = true }
            if let upTo {
                try db.statement(
                    """
                    UPDATE peers SET applied_cursor = max(applied_cursor, ?2), incoming_remaining = ?3,
                    peer_pending = ?3, incoming_done = incoming_done + ?4, last_sync_at = ?5, last_seen_at = ?5,
                    peer_counter = max(peer_counter, ?6) WHERE site = ?1
                    """
                ).run([
                    .text(peer.rawValue), .integer(upTo), .integer(remaining), .integer(Int64(encodedStates.count)),
                    .text(Timestamp.iso8601(milliseconds: journal.now)),
                    .integer(Int64(clamping: peerCounter)),
                ])
                if let proof, UInt64(clamping: upTo) == proof.position {
                    try db.statement("UPDATE peers SET hub_proof_position = ?2, hub_proof = ?3 WHERE site = ?1")
                        .run([.text(peer.rawValue), .integer(upTo), .blob(proof.epoch + proof.mac)])
                }
            } else {
                try db.statement("UPDATE peers SET peer_counter = max(peer_counter, ?2) WHERE site = ?1")
                    .run([.text(peer.rawValue), .integer(Int64(clamping: peerCounter))])
            }
            return result
        }
    }

    /// Hub: judges every held state again (the hub started recovering from a restore).
    func readmitHeldStates() throws {
        try journaled { journal in
            try RemoteApplier.batch(journal: journal, peer: identity.site, policy: .hub(clearance: .internal)) {
                try $0.readmitAllHeld()
            }
        }
    }

    /// Hub: the peer has sent its whole log; documents it sent that still wait for a customer it never sent are
    /// refused now (unless the hub is recovering from a restore and may still regain that customer).
    public func refuseUnresolvedReferences(from peer: SiteID, clearance: Classification) throws {
        try journaled { journal in
            try RemoteApplier.batch(journal: journal, peer: peer, policy: .hub(clearance: clearance)) {
                try $0.refuseUnresolvedReferences(clearance: clearance)
            }
        }
    }

    /// Removes records this node may no longer hold (the hub's `PURGE`). Records this node owns are never purged.
    ///
    /// A record with a local change the peer has not applied yet (its log position is after `peerApplied`) is kept
    /// until the peer has it, so the change still goes out and nothing is lost; ``completePendingPurges(peerApplied:)``
    /// removes it then.
    /// - Parameter peerApplied: how far the peer has applied this node's log.
    /// - Returns: how many records were removed now.
    @discardableResult
    public func purge(_ ids: [RecordID], from peer: SiteID, peerApplied: Int64) throws -> Int {
        try db.write {
            var removed = 0
            for id in ids {
                guard let state = try record(id), state.custodian != identity.site else { continue }
                let (seq, origin) = try position(of: id)
                if origin == identity.site.rawValue && seq > peerApplied {
                    try db.statement(
                        "INSERT OR IGNORE INTO pending_purges(record_id, peer, requested_at) VALUES (?1, ?2, ?3)"
                    ).run([.text(id.description), .text(peer.rawValue), .text(Timestamp.nowISO8601())])
                    continue
                }
                try remove(state, on: peer)
                removed += 1
            }
            return removed
        }
    }

    /// Carries out purges that waited for the peer to apply this node's changes.
    /// - Returns: how many records were removed.
    @discardableResult
    public func completePendingPurges(peerApplied: Int64) throws -> Int {
        let waiting = try db.statement("SELECT record_id, peer FROM pending_purges").rows { ($0.text(0), $0.text(1)) }
        guard !waiting.isEmpty else { return 0 }
        return try db.write {
            var removed = 0
            for (text, peerText) in waiting {
                guard let id = try? RecordID(text), let peer = try? SiteID(peerText) else { continue }
                if let state = try record(id) {
                    let (seq, origin) = try position(of: id)
                    guard origin != identity.site.rawValue || seq <= peerApplied else { continue }
                    try remove(state, on: peer)
                    removed += 1
                }
                try db.statement("DELETE FROM pending_purges WHERE record_id = ?1").run([.text(text)])
            }
            return removed
        }
    }

    private func position(of id: RecordID) throws -> (seq: Int64, origin: String) {
        try db.statement("SELECT seq, origin FROM records WHERE id = ?1").firstRow([.text(id.description)]) {
            ($0.int(0), $0.text(1))
        } ?? (0, "")
    }

    private func remove(_ state: RecordState, on peer: SiteID) throws {
        // Nothing of a record out of this site's scope stays behind.
        try removeRecord(state)
        try auditEvent(
            action: "purge", detail: "removed on request of \(peer): out of this site's scope", recordID: state.id,
            collection: state.collection)
    }

    /// Removes a record from this node without a trace in the log (purged, collected, forgotten): its row, then
    /// ``removeRemnants(of:attachment:)``.
    func removeRecord(_ state: RecordState) throws {
        try DigestSummaries.deleteRecord(state.id.description, in: db)
        if state.collection == .customers {
            try LeadIndex.forget(db, state.id, at: Timestamp.iso8601(milliseconds: wallClock()))
        }
        try removeRemnants(
            of: state.id, attachment: state.collection == .documents ? state[RecordSchema.attachmentHashField] : nil)
    }

    /// Removes what holds a record's values outside its row, for a record destroyed or purged here: its conflict rows
    /// (both sides' values), its quarantined states (kept as wiped rows, without the state), and its attachment's
    /// bytes unless another record refers to the same file.
    func removeRemnants(of id: RecordID, attachment: String?) throws {
        try db.statement("DELETE FROM conflicts WHERE record_id = ?1").run([.text(id.description)])
        try db.statement("UPDATE quarantine SET state = x'', status = 'wiped', notice_seq = NULL WHERE record_id = ?1")
            .run([.text(id.description)])
        if let attachment {
            try db.statement(
                "DELETE FROM blobs WHERE sha256 = ?1 AND NOT EXISTS (SELECT 1 FROM records WHERE attachment = ?1)"
            ).run([.text(attachment)])
        }
    }

    /// Stores an attachment received from a peer after checking that its bytes have the SHA-256 they claim.
    /// - Throws: ``StorageError`` `.corrupt` when they do not.
    /// - Returns: whether the attachment is new here (it was not stored before).
    @discardableResult
    public func storeBlob(sha256: String, bytes: [UInt8]) throws -> Bool {
        guard SHA256.hexDigest(bytes) == sha256 else {
            throw StorageError(code: .corrupt, message: "an attachment's bytes do not match its SHA-256 \(sha256)")
        }
        return try db.write {
            if try db.statement("SELECT 1 FROM blobs WHERE sha256 = ?1").firstRow([.text(sha256)], { _ in true })
                != nil
            {
                return false
            }
            try db.statement("INSERT INTO blobs(sha256, size, data) VALUES (?1, ?2, ?3)")
                .run([.text(sha256), .integer(Int64(bytes.count)), .blob(bytes)])
            return true
        }
    }

    /// Removes the attachments among `hashes` that neither a record nor a quarantined state (held or refused, kept
    /// for review and retry) refers to: a peer sent bytes no state of its batch needed, or the state that needed them
    /// merged into a destroyed record.
    /// - Returns: how many were removed.
    @discardableResult
    public func dropUnreferencedBlobs(_ hashes: Set<String>) throws -> Int {
        guard !hashes.isEmpty else { return 0 }
        return try db.write {
            var dropped = 0
            let statement = try db.statement(
                """
                DELETE FROM blobs WHERE sha256 = ?1 AND NOT EXISTS (SELECT 1 FROM records WHERE attachment = ?1)
                    AND NOT EXISTS (
                        SELECT 1 FROM quarantine WHERE status IN ('open', 'held') AND instr(state, CAST(?1 AS BLOB)) > 0)
                """)
            for sha in hashes.sorted() {
                try statement.run([.text(sha)])
                dropped += Int(db.changes)
            }
            return dropped
        }
    }
}
