import BranchSyncCore
import BranchSyncCrypto

extension NodeStore {
    /// Reads the next batch of this node's log for `peer`, after `cursor`.
    ///
    /// Entries that came from `peer` itself are skipped (no echo). With a `clearance` (the hub sending to a branch),
    /// records the peer may not hold become purge ids instead of states: the peer drops its copy if it has one and
    /// never sees the content. Skipped entries still advance `upTo`, so the receiver's cursor moves past them.
    /// - Parameters:
    ///   - limit: at most this many log entries are scanned.
    ///   - maximumBytes: states are added until their encoded size reaches this.
    public func outboundBatch(
        for peer: SiteID, after cursor: Int64, clearance: Classification?, limit: Int, maximumBytes: Int
    ) throws -> OutboundBatch {
        var batch = OutboundBatch(upTo: cursor, encodedStates: [], purges: [], attachments: [], reachedEnd: true)
        var bytes = 0
        var scanned = 0
        // Scope is decided from the owner and class columns, and states go out as stored: nothing is decoded.
        try db.statement(
            "SELECT seq, origin, owner, class, id, state, attachment FROM records WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        )
        .forEachRow([.integer(cursor), .integer(Int64(limit))]) { row in
            scanned += 1
            guard bytes < maximumBytes else { return }
            batch.upTo = row.int(0)
            if row.text(1) == peer.rawValue { return }
            if let clearance {
                let recordClass = Classification(rawValue: row.text(3)) ?? .secret
                guard Scope.mayHold(owner: row.text(2), classification: recordClass, site: peer, clearance: clearance)
                else {
                    if let id = try? RecordID(row.text(4)) { batch.purges.append(id) }
                    return
                }
            }
            let state = row.blob(5)
            bytes += state.count
            batch.encodedStates.append(state)
            if let sha = row.optionalText(6) { batch.attachments.append(sha) }
        }
        batch.reachedEnd = scanned < limit && bytes < maximumBytes
        if bytes >= maximumBytes {
            batch.reachedEnd =
                try db.statement("SELECT 1 FROM records WHERE seq > ?1 LIMIT 1").firstRow([.integer(batch.upTo)]) { _ in
                    true
                }
                == nil
        }
        return batch
    }

    /// How many log entries after `cursor` would be sent to `peer` (its lag behind this node).
    public func pendingCount(for peer: SiteID, after cursor: Int64, clearance: Classification?) throws -> Int64 {
        var sql = "SELECT count(*) FROM records WHERE seq > ?1 AND origin != ?2"
        let values: [SQLValue] = [.integer(cursor), .text(peer.rawValue)]
        if let clearance {
            let visible = Classification.allCases.filter { $0 <= clearance && $0 != .secret }.map { "'\($0.rawValue)'" }
            sql += " AND (owner = ?2 OR class IN (\(visible.joined(separator: ","))))"
        }
        return try db.statement(sql).firstRow(values) { $0.int(0) } ?? 0
    }

    /// Applies a batch received from `peer` in one transaction, together with the new cursor, so a crash neither
    /// loses nor double-applies anything.
    ///
    /// Each state is checked first: `admit` (scope rules) and the collection's schema. A refused state is
    /// quarantined with the reason and the stream goes on (no head-of-line blocking).
    /// - Parameters:
    ///   - upTo: the sender's log position this batch reaches; stored as the peer's applied cursor.
    ///   - remaining: the sender's estimate of what is still to come (bootstrap progress).
    ///   - admit: returns a refusal reason, or `nil` to accept; gets the remote state and the local one.
    ///   - encoded: the states' canonical encodings as received, stored as they are when the merge keeps the remote
    ///     state (saves encoding it again); empty to encode here.
    public func applyIncoming(
        _ states: [RecordState], encoded: [[UInt8]] = [], from peer: SiteID, upTo: Int64, remaining: Int64,
        admit: (RecordState, RecordState?) -> String?
    ) throws -> BatchResult {
        try batch { writer in
            var result = BatchResult()
            for (index, state) in states.enumerated() {
                let local = try writer.record(state.id)
                var reason = admit(state, local)
                if reason == nil {
                    do { try RecordSchema.of(state.collection).validateState(state) } catch {
                        reason = "invalid: \(error)"
                    }
                }
                if let reason {
                    try quarantine(state, from: peer, reason: reason)
                    result.quarantined += 1
                    continue
                }
                do {
                    let outcome = try writer.apply(
                        state, from: peer, encoded: index < encoded.count ? encoded[index] : nil)
                    if outcome.changesLocal { result.applied += 1 } else { result.unchanged += 1 }
                    result.conflicts += outcome.conflicts.count
                } catch let error as ValidationError {
                    try quarantine(state, from: peer, reason: error.message)
                    result.quarantined += 1
                }
            }
            try db.statement(
                """
                UPDATE peers SET applied_cursor = max(applied_cursor, ?2), incoming_remaining = ?3, peer_pending = ?3,
                incoming_done = incoming_done + ?4, last_sync_at = ?5, last_seen_at = ?5 WHERE site = ?1
                """
            ).run([
                .text(peer.rawValue), .integer(upTo), .integer(remaining), .integer(Int64(states.count)),
                .text(Timestamp.nowISO8601()),
            ])
            return result
        }
    }

    private func quarantine(_ state: RecordState, from peer: SiteID, reason: String) throws {
        try db.statement(
            "INSERT INTO quarantine(peer, record_id, collection, reason, state, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ).run([
            .text(peer.rawValue), .text(state.id.description), .text(state.collection.rawValue), .text(reason),
            .blob(state.encoded()), .text(Timestamp.nowISO8601()),
        ])
        try auditEvent(
            action: "refuse", detail: "change from \(peer) quarantined: \(reason)", recordID: state.id,
            collection: state.collection)
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
                guard let state = try record(id), state.owner != identity.site else { continue }
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
        try db.statement("DELETE FROM records WHERE id = ?1").run([.text(state.id.description)])
        try auditEvent(
            action: "purge", detail: "removed on request of \(peer): out of this site's scope", recordID: state.id,
            collection: state.collection)
    }

    /// Open conflicts and quarantined changes per peer, for `status`.
    public func openIssuesByPeer() throws -> [String: (conflicts: Int, quarantined: Int)] {
        var result: [String: (conflicts: Int, quarantined: Int)] = [:]
        try db.statement("SELECT peer, count(*) FROM conflicts WHERE status = 'open' GROUP BY peer").forEachRow {
            result[$0.text(0), default: (0, 0)].conflicts = Int($0.int(1))
        }
        try db.statement("SELECT peer, count(*) FROM quarantine WHERE status = 'open' GROUP BY peer").forEachRow {
            result[$0.text(0), default: (0, 0)].quarantined = Int($0.int(1))
        }
        return result
    }

    /// Stores an attachment received from a peer after checking that its bytes have the SHA-256 they claim.
    /// - Throws: ``StorageError`` `.corrupt` when they do not.
    public func storeBlob(sha256: String, bytes: [UInt8]) throws {
        guard SHA256.hexDigest(bytes) == sha256 else {
            throw StorageError(code: .corrupt, message: "an attachment's bytes do not match its SHA-256 \(sha256)")
        }
        try db.write {
            try db.statement("INSERT OR IGNORE INTO blobs(sha256, size, data) VALUES (?1, ?2, ?3)")
                .run([.text(sha256), .integer(Int64(bytes.count)), .blob(bytes)])
        }
    }

    /// The state a quarantined change carried, kept for an operator.
    public func quarantinedState(_ id: Int64) throws -> RecordState? {
        try db.statement("SELECT state FROM quarantine WHERE id = ?1").firstRow([.integer(id)]) {
            try Self.decodeState($0.blob(0))
        }
    }

    /// Changes this node refused, newest first.
    public func quarantined(includeResolved: Bool = false) throws -> [QuarantinedChange] {
        let sql =
            "SELECT id, peer, record_id, collection, reason, received_at, status FROM quarantine"
            + (includeResolved ? "" : " WHERE status = 'open'") + " ORDER BY id DESC"
        return try db.statement(sql).rows {
            QuarantinedChange(
                id: $0.int(0), peer: $0.text(1), recordID: $0.text(2), collection: $0.text(3), reason: $0.text(4),
                receivedAt: $0.text(5), status: $0.text(6))
        }
    }

    /// How resolving a conflict chooses the value.
    public enum Resolution: Sendable {
        /// Keep the value that was local when the conflict was detected.
        case local
        /// Keep the value that arrived from the peer.
        case remote
        /// Set the field to this value.
        case value(String)
    }

    /// Resolves a conflict with a new local write, which dominates both conflicting writes everywhere it goes.
    /// - Returns: the record after the write.
    @discardableResult
    public func resolveConflict(_ conflictID: Int64, with resolution: Resolution) throws -> RecordState {
        try batch { writer in
            guard let conflict = try conflict(id: conflictID) else {
                throw StorageError(code: .notFound, message: "no conflict #\(conflictID) on this node")
            }
            guard conflict.status == "open" else {
                throw StorageError(code: .invalidOperation, message: "conflict #\(conflictID) is already resolved")
            }
            let localSide =
                try db.statement("SELECT local_side FROM conflicts WHERE id = ?1")
                .firstRow([.integer(conflictID)]) { $0.text(0) } ?? "kept"
            let chosen: String
            let description: String
            switch resolution {
            case .local:
                chosen = localSide == "kept" ? conflict.keptValue : conflict.lostValue
                description = "took the local value"
            case .remote:
                chosen = localSide == "kept" ? conflict.lostValue : conflict.keptValue
                description = "took the remote value"
            case .value(let value):
                chosen = value
                description = "set a new value"
            }
            var state: RecordState
            if conflict.kind == .deleteVersusUpdate {
                state =
                    try record(conflict.recordID) ?? { throw StorageError(code: .notFound, message: "record gone") }()
                if chosen == "deleted" {
                    state = try writer.delete(conflict.recordID)
                } else if case .value = resolution {
                    throw StorageError(
                        code: .invalidOperation, message: "a delete conflict is resolved with --take local|remote")
                }
            } else {
                let result = try writer.update(conflict.recordID, changes: [conflict.field: chosen])
                // A value that is already current is written again, so the decision replicates as a write that
                // dominates both conflicting versions everywhere.
                state =
                    result.changed.isEmpty ? try writer.rewrite(conflict.recordID, field: conflict.field) : result.state
            }
            try db.statement(
                "UPDATE conflicts SET status = 'resolved', resolved_at = ?2, resolved_by = ?3, resolution = ?4 WHERE id = ?1"
            )
            .run([
                .integer(conflictID), .text(Timestamp.nowISO8601()), .text(actor.user),
                .text("\(description): \(chosen)"),
            ])
            return state
        }
    }
}
