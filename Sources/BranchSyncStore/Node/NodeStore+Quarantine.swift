import BranchSyncCore

extension NodeStore {
    /// The largest state kept in quarantine; a bigger one (already refused for its size) is cut to this.
    static let maximumQuarantinedBytes = Admission.maximumStateBytes

    /// Keeps a change aside for an operator. The only writer of quarantine rows.
    func insertQuarantine(
        peer: SiteID, recordID: String, collection: String, kind: String, reason: String, state: [UInt8],
        awaits: String?, dot: String?, status: String, at milliseconds: UInt64, noticeSeq: Int64? = nil
    ) throws {
        try db.statement(
            """
            INSERT INTO quarantine(peer, record_id, collection, reason, state, received_at, status, kind, awaits,
                refused_dot, notice_seq)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
            """
        ).run([
            .text(peer.rawValue), .text(recordID), .text(collection), .text(reason.escapedForDisplay(limit: 500)),
            .blob(Array(state.prefix(Self.maximumQuarantinedBytes))),
            .text(Timestamp.iso8601(milliseconds: milliseconds)),
            .text(status), .text(kind), .optionalText(awaits), .optionalText(dot),
            noticeSeq.map(SQLValue.integer) ?? .null,
        ])
    }

    /// Quarantine rows of changes from `peer` still open or held (what counts against its quota at the hub).
    func openQuarantineCount(from peer: SiteID) throws -> Int {
        Int(
            try db.statement("SELECT count(*) FROM quarantine WHERE peer = ?1 AND status IN ('open', 'held')")
                .firstRow([.text(peer.rawValue)]) { $0.int(0) } ?? 0)
    }

    /// The state a quarantined change carried, kept for an operator.
    public func quarantinedState(_ id: Int64) throws -> RecordState? {
        try db.statement("SELECT state FROM quarantine WHERE id = ?1").firstRow([.integer(id)]) {
            try? Self.decodeState($0.blob(0))
        } ?? nil
    }

    /// Changes this node refused or holds (and, at a branch, those its hub refused), newest first; with
    /// `includeResolved` also those re-admitted or dropped.
    public func quarantined(includeResolved: Bool = false) throws -> [QuarantinedChange] {
        let sql =
            "SELECT id, peer, record_id, collection, kind, reason, received_at, status FROM quarantine"
            + (includeResolved ? "" : " WHERE status IN ('open', 'held')") + " ORDER BY id DESC"
        return try db.statement(sql).rows {
            QuarantinedChange(
                id: $0.int(0), peer: $0.text(1), recordID: $0.text(2), collection: $0.text(3), kind: $0.text(4),
                reason: $0.text(5), receivedAt: $0.text(6), status: $0.text(7))
        }
    }

    /// Sets a quarantined change aside for good: an operator looked at it. A site flagged for a causally invalid
    /// change is no longer flagged once none of its invalid changes is open.
    public func dropQuarantined(_ id: Int64) throws {
        try db.write {
            guard
                let (peer, kind, status) = try db.statement("SELECT peer, kind, status FROM quarantine WHERE id = ?1")
                    .firstRow([.integer(id)], { ($0.text(0), $0.text(1), $0.text(2)) })
            else { throw StorageError(code: .notFound, message: "no quarantined change #\(id) on this node") }
            guard status == "open" || status == "held" else {
                throw StorageError(code: .invalidOperation, message: "quarantined change #\(id) is already \(status)")
            }
            try db.statement("UPDATE quarantine SET status = 'dropped', notice_seq = NULL WHERE id = ?1")
                .run([.integer(id)])
            try auditEvent(
                action: "drop", detail: "quarantined \(kind) change #\(id) from \(peer) dropped by an operator")
        }
    }

    /// Judges a held or invalid change again now (hub only), as if it had just arrived: after the record it waited for
    /// arrived, or the hub learned the writes it claimed. Audited.
    /// - Returns: `nil` when it was taken in (or changed nothing), or the number of the quarantine row that holds it
    ///   now, with its reason.
    /// - Throws: ``StorageError`` `.notFound`, or `.invalidOperation` for a refused change (its compensating write
    ///   already brought the sender back: there is nothing to take in) or one already settled.
    public func retryQuarantined(_ id: Int64) throws -> (row: Int64, reason: String)? {
        guard identity.role == .hub else {
            throw StorageError(
                code: .invalidOperation,
                message: "the hub refused these changes; change the record again here and sync (retry runs at the hub)")
        }
        return try journaled { journal in
            guard
                let (peerText, kind, status) = try db.statement(
                    "SELECT peer, kind, status FROM quarantine WHERE id = ?1"
                ).firstRow([.integer(id)], { ($0.text(0), $0.text(1), $0.text(2)) })
            else { throw StorageError(code: .notFound, message: "no quarantined change #\(id) on this node") }
            guard status == "open" || status == "held" else {
                throw StorageError(code: .invalidOperation, message: "quarantined change #\(id) is already \(status)")
            }
            guard kind == "held" || kind == "invalid", let sender = try? SiteID(peerText) else {
                throw StorageError(
                    code: .invalidOperation,
                    message: "change #\(id) was refused and answered with a compensating write that \(peerText) took; "
                        + "there is nothing to take in (drop it once looked at)")
            }
            let before = try db.statement("SELECT coalesce(max(id), 0) FROM quarantine").firstRow { $0.int(0) } ?? 0
            try RemoteApplier.batch(journal: journal, peer: sender, policy: .hub(clearance: .internal)) {
                try $0.retry(row: id)
            }
            try journal.audit(
                action: "retry", collection: nil, recordID: nil,
                detail: "quarantined \(kind) change #\(id) from \(peerText) judged again by an operator")
            if let held = try db.statement("SELECT status, reason FROM quarantine WHERE id = ?1").firstRow(
                [.integer(id)], { ($0.text(0), $0.text(1)) }), held.0 == "held"
            {
                return (id, held.1)
            }
            return try db.statement(
                "SELECT id, reason FROM quarantine WHERE id > ?1 AND status IN ('open', 'held') ORDER BY id LIMIT 1"
            ).firstRow([.integer(before)]) { ($0.int(0), $0.text(1)) }
        }
    }

    /// Open conflicts, quarantined changes (refused or invalid), causally invalid changes alone (the site is flagged)
    /// and held changes, per peer, for `status`.
    public func openIssuesByPeer() throws -> [String: PeerIssues] {
        var result: [String: PeerIssues] = [:]
        try db.statement("SELECT peer, count(*) FROM conflicts WHERE status = 'open' GROUP BY peer").forEachRow {
            result[$0.text(0), default: PeerIssues()].conflicts = Int($0.int(1))
        }
        try db.statement(
            """
            SELECT peer, sum(status = 'open'), sum(status = 'open' AND kind = 'invalid'), sum(status = 'held')
            FROM quarantine WHERE status IN ('open', 'held') GROUP BY peer
            """
        ).forEachRow {
            result[$0.text(0), default: PeerIssues()].quarantined = Int($0.int(1))
            result[$0.text(0), default: PeerIssues()].invalid = Int($0.int(2))
            result[$0.text(0), default: PeerIssues()].held = Int($0.int(3))
        }
        return result
    }

    // MARK: REFUSED notices

    /// Hub: the refusals `peer` has not been shown to have received yet (their compensating write is beyond what it
    /// acknowledged), oldest first.
    public func undeliveredRefusals(to peer: SiteID) throws -> [RefusalNotice] {
        try db.statement(
            "SELECT id, record_id, refused_dot, reason FROM quarantine WHERE peer = ?1 AND notice_seq IS NOT NULL ORDER BY id"
        ).rows([.text(peer.rawValue)]) { row in
            guard let id = try? RecordID(row.text(1)), let dot = Dot(parsing: row.text(2)) else { return nil }
            return RefusalNotice(id: row.int(0), recordID: id, dot: dot, reason: row.text(3))
        }.compactMap { $0 }
    }

    /// Hub: `peer` acknowledged our log up to `upTo`, so it received every notice sent before those positions.
    public func markRefusalsDelivered(to peer: SiteID, upTo: Int64) throws {
        try db.write {
            try db.statement("UPDATE quarantine SET notice_seq = NULL WHERE peer = ?1 AND notice_seq <= ?2")
                .run([.text(peer.rawValue), .integer(upTo)])
        }
    }

    /// Branch: the hub refused this node's change `dot` to `recordID`. Kept in this node's quarantine list with the
    /// values this node holds now (they include the refused ones until the hub's compensating write arrives).
    /// Receiving the same notice again changes nothing.
    /// - Returns: whether the notice was new.
    @discardableResult
    public func recordRefusal(recordID: RecordID, dot: Dot, reason: String, by hub: SiteID) throws -> Bool {
        try db.write {
            let seen =
                try db.statement(
                    "SELECT 1 FROM quarantine WHERE kind = 'refused-by-hub' AND record_id = ?1 AND refused_dot = ?2"
                ).firstRow([.text(recordID.description), .text(dot.description)]) { _ in true } ?? false
            guard !seen else { return false }
            let (collection, state) =
                try db.statement("SELECT collection, state FROM records WHERE id = ?1").firstRow([
                    .text(recordID.description)
                ]) { ($0.text(0), $0.blob(1)) } ?? ("unknown", [])
            try insertQuarantine(
                peer: hub, recordID: recordID.description, collection: collection, kind: "refused-by-hub",
                reason: reason, state: state, awaits: nil, dot: dot.description, status: "open",
                at: wallClock())
            try auditEvent(
                action: "refused", detail: "the hub refused change \(dot): \(reason.escapedForDisplay(limit: 300))",
                recordID: recordID, collection: RecordCollection(rawValue: collection))
            return true
        }
    }
}

/// What needs an operator's eye for one peer.
public struct PeerIssues: Sendable, Hashable {
    public var conflicts = 0
    /// Open quarantined changes (refused and invalid).
    public var quarantined = 0
    /// Of those, causally invalid: the site is flagged.
    public var invalid = 0
    /// Changes waiting for a record the hub does not hold yet.
    public var held = 0

    public init() {}
}
