import BranchSyncCore
import BranchSyncCrypto

/// What a hub found checking a branch's position proof (Protocol.md §8.2).
public enum PositionProofCheck: Sendable, Hashable {
    /// The hub's history still reaches the position in that epoch: no sign of a restore.
    case held
    /// The hub made the proof, and its history no longer reaches that position in that epoch: it was restored from
    /// an older copy. The text says what is missing.
    case lost(String)
    /// The hub made the proof and its history no longer reaches it, but that history was lost in a restore the hub
    /// has already recovered from (or is recovering from): a branch restored from an older copy of its own, or a
    /// proof kept back to be replayed. It starts nothing.
    case recovered(String)
    /// Not a proof this hub made (another key, or altered): ignored, and audited.
    case invalid(String)
}

extension NodeStore {
    /// The metadata key of the hub's position key (32 random bytes, hex): proofs are HMACs under it.
    static let positionKeyName = "position_key"

    /// Hub: the proof that `position` of its log belongs to its history, for a `CHANGES` that reaches it. `nil` on a
    /// branch, for position 0, and for a position this hub has not issued.
    public func positionProof(for position: Int64) throws -> PositionProof? {
        guard identity.role == .hub, position > 0, position <= (try lastSeq()) else { return nil }
        let epoch = try db.statement(
            "SELECT id FROM history_epochs WHERE start_after < ?1 ORDER BY start_after DESC, seq DESC LIMIT 1"
        ).firstRow([.integer(position)]) { $0.blob(0) }
        guard let epoch else { return nil }
        let message = PositionProof.message(position: UInt64(position), epoch: epoch)
        return PositionProof(
            position: UInt64(position), epoch: epoch, mac: HMACSHA256.mac(key: try positionKey(), message: message))
    }

    /// The metadata key of the highest log position a recovery of this hub has covered: history lost up to there
    /// was regained from the branches (Protocol.md §8.2).
    static let recoveredThroughKey = "recovered_through"

    /// Hub: checks a proof a branch presented at its handshake against this hub's history.
    public func checkPositionProof(_ proof: PositionProof) throws -> PositionProofCheck {
        let check = try checkAgainstHistory(proof)
        guard case .lost(let reason) = check,
            let through = try metadata(Self.recoveredThroughKey).flatMap(UInt64.init), proof.position <= through
        else { return check }
        return .recovered(reason + "; a history this hub already recovered from")
    }

    private func checkAgainstHistory(_ proof: PositionProof) throws -> PositionProofCheck {
        guard proof.epoch.count == PositionProof.epochLength, proof.mac.count == PositionProof.macLength,
            constantTimeEqual(proof.mac, HMACSHA256.mac(key: try positionKey(), message: proof.message))
        else {
            return .invalid("its HMAC does not match this hub's key")
        }
        let epochText = hex(proof.epoch)
        guard
            let (row, startAfter) = try db.statement("SELECT seq, start_after FROM history_epochs WHERE id = ?1")
                .firstRow([.blob(proof.epoch)], { ($0.int(0), $0.int(1)) })
        else {
            return .lost(
                "the branch received position \(proof.position) in history epoch \(epochText), which this hub's "
                    + "database does not hold")
        }
        let end =
            try db.statement(
                """
                SELECT start_after FROM history_epochs WHERE start_after > ?1 OR (start_after = ?1 AND seq > ?2)
                ORDER BY start_after, seq LIMIT 1
                """
            ).firstRow([.integer(startAfter), .integer(row)]) { $0.int(0) } ?? (try lastSeq())
        guard Int64(clamping: proof.position) <= end else {
            return .lost(
                "the branch received position \(proof.position) in history epoch \(epochText), which this hub's "
                    + "history reaches only up to \(end)")
        }
        return .held
    }

    /// Hub: writes to the audit trail that `peer` presented a proof this hub did not make.
    public func recordInvalidProof(from peer: SiteID, reason: String) throws {
        try db.write {
            try auditEvent(
                action: "invalid-proof",
                detail: "\(peer) presented a position proof this hub did not make: \(reason.escapedForDisplay())")
        }
    }

    /// Branch: the hub's latest position proof, presented in `HELLO`; `nil` before the first.
    public func hubPositionProof() throws -> PositionProof? {
        try db.statement(
            """
            SELECT hub_proof_position, hub_proof FROM peers WHERE role = 'hub' AND hub_proof IS NOT NULL
            ORDER BY last_sync_at DESC LIMIT 1
            """
        ).firstRow { row -> PositionProof? in
            let bytes = row.blob(1)
            guard bytes.count == PositionProof.epochLength + PositionProof.macLength else { return nil }
            return PositionProof(
                position: UInt64(clamping: row.int(0)), epoch: Array(bytes[..<PositionProof.epochLength]),
                mac: Array(bytes[PositionProof.epochLength...]))
        } ?? nil
    }

    /// Makes the hub's position key now if it has none (at `init` and when the hub starts), so that every copy of
    /// the hub's database taken later holds the key its proofs were made with: a hub restored from a copy taken
    /// before its first proof must still recognise its own proofs to learn that it went back.
    public func preparePositionKey() throws {
        try db.write { _ = try positionKey() }
    }

    /// The hub's position key, made once (the first writer wins; every proof uses the stored one).
    private func positionKey() throws -> [UInt8] {
        if let text = try metadata(Self.positionKeyName), let key = bytes(fromHex: text), key.count == 32 {
            return key
        }
        try db.statement("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING")
            .run([.text(Self.positionKeyName), .text(hex(try SecureRandom.bytes(32)))])
        guard let text = try metadata(Self.positionKeyName), let key = bytes(fromHex: text), key.count == 32 else {
            throw StorageError(code: .corrupt, message: "meta.\(Self.positionKeyName) is not 32 bytes of hex")
        }
        return key
    }
}

extension Journal {
    /// Hub: starts this store's history epoch before its first log position, in the write's transaction (§8.2).
    /// - Returns: the new epoch's id, or `nil` if the store already writes in one (or is a branch).
    func startEpochIfNeeded(after position: Int64) throws -> [UInt8]? {
        guard store.identity.role == .hub, store.historyEpoch == nil, startedEpoch == nil else { return nil }
        let id = try SecureRandom.bytes(PositionProof.epochLength)
        try store.db.statement("INSERT INTO history_epochs(id, start_after) VALUES (?1, ?2)")
            .run([.blob(id), .integer(position)])
        return id
    }
}
