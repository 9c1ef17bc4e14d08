import BranchSyncCore
import BranchSyncCrypto

/// How a node judges the states a peer sends (Protocol.md §9.2).
public enum AdmissionPolicy: Sendable, Hashable {
    /// The hub receiving from a branch with this clearance: every rule of ``Admission``.
    case hub(clearance: Classification)
    /// A branch receiving from its hub: consistency, the merge and validation.
    case branch
}

/// Applies the states a peer sent inside one write transaction: decodes each on its own (an undecodable state
/// quarantines only itself), judges it, merges and stores what is admitted, answers refusals with compensating
/// writes, keeps held states aside and re-admits them when what they wait for arrives.
final class RemoteApplier {
    private let journal: Journal
    private let peer: SiteID
    private let policy: AdmissionPolicy
    private var store: NodeStore { journal.store }
    private var db: DatabaseConnection { store.db }
    private let syncActor: AuditActor
    /// What the batch did.
    private(set) var result = BatchResult()
    /// The highest counter of the peer's own writes among the states admitted.
    private(set) var peerCounter: UInt64 = 0
    /// SHA-256 (hex) of the attachments the peer sent in this session: the only ones a state of its may newly refer
    /// to (anything else would let a branch obtain bytes it may not read by naming their hash).
    private let attachmentsSent: Set<String>
    /// Open quarantine rows the peer may have at most (hub); `nil` for no limit.
    private let quarantineQuota: Int?
    /// The peer's open quarantine rows, counted at its first quarantined state of the batch.
    private var openQuarantineRows: Int?
    /// What the hub knows of its own restore, read once per batch (it changes only at a handshake or a resync).
    private var restore: RestoreKnowledge?
    /// The union of the vectors of the records this hub collected, read once per batch when a state names a record
    /// the hub does not hold.
    private var collectedFrontier: VersionVector?
    /// Whether any state is held waiting for a record, looked up once per batch: without one, nothing is re-admitted
    /// and no applied record needs the look-up.
    private var mayHaveHeldStates: Bool?
    /// Hub: states applied without a conflict or a re-stamp, recorded in one audit entry per batch (the origin's own
    /// audit entries say who wrote what).
    private var appliedWithoutNote = 0

    /// Runs `body` with an applier for one batch of `peer`'s states inside `journal`'s transaction, then writes the
    /// batch's audit entry at the hub: every batch goes through here, so no change a branch sent goes unaudited.
    static func batch<T>(
        journal: Journal, peer: SiteID, policy: AdmissionPolicy, attachmentsSent: Set<String> = [],
        quarantineQuota: Int? = nil, _ body: (RemoteApplier) throws -> T
    ) throws -> T {
        let applier = RemoteApplier(
            journal: journal, peer: peer, policy: policy, attachmentsSent: attachmentsSent,
            quarantineQuota: quarantineQuota)
        let result = try body(applier)
        try applier.finish()
        return result
    }

    private init(
        journal: Journal, peer: SiteID, policy: AdmissionPolicy, attachmentsSent: Set<String> = [],
        quarantineQuota: Int? = nil
    ) {
        self.journal = journal
        self.peer = peer
        self.policy = policy
        self.attachmentsSent = attachmentsSent
        self.quarantineQuota = quarantineQuota
        syncActor = AuditActor(user: "sync", origin: "site \(peer)")
    }

    /// Judges and applies one state exactly as received, with the checks made on its bytes alone already made
    /// (``ReceivedStateChecker`` makes them on another thread).
    func apply(_ received: ReceivedState) throws {
        let checked: CheckedState
        switch received {
        case .decoded(let decoded): checked = decoded
        case .undecodable(let bytes, let error):
            try quarantineUndecodable(bytes, reason: "a state from \(peer) does not decode: \(error.message)")
            return
        }
        switch policy {
        case .hub(let clearance):
            try judge(
                checked, from: peer, clearance: clearance, held: nil,
                attachmentProblem: try unsentAttachment(in: checked.state))
        case .branch: try applyFromHub(checked)
        }
    }

    /// What a state of a record this hub does not hold is, if the record was collected (Protocol.md §9.7).
    enum CollectedRecord {
        /// Its whole history is within the collected frontier: an old copy of a collected record, to forget.
        case oldCopy
        /// Everything but the sender's own newest writes is within the frontier: the sender changed a record
        /// deleted and collected while it was away (a new record carries only its creator's writes).
        case changed
    }

    /// Whether `state`, of a record this hub does not hold, is a copy of one it collected. New writes carry counters
    /// beyond anything collected (every site that counted had settled past the collected records, and one that did
    /// not returns through a full resync), so a new record is never mistaken for one. This holds while the hub
    /// recovers from a restore too: its frontier is the backup's, and every write made after the backup carries
    /// counters beyond it.
    private func collectedRecord(_ state: RecordState, from sender: SiteID) throws -> CollectedRecord? {
        let frontier: VersionVector
        if let known = collectedFrontier {
            frontier = known
        } else {
            frontier = try store.collectedFrontier()
            collectedFrontier = frontier
        }
        guard !frontier.isEmpty, !state.versionVector.isEmpty else { return nil }
        if frontier.dominatesOrEquals(state.versionVector) { return .oldCopy }
        var others = state.versionVector
        others[sender] = 0
        return !others.isEmpty && frontier.dominatesOrEquals(others) ? .changed : nil
    }

    /// Why the state may not refer to its attachment: it names one the record does not have at the hub and whose
    /// bytes the peer did not send in this session. An honest node always sends an attachment's bytes in the session
    /// that carries a state referring to it (Protocol.md §6.4).
    private func unsentAttachment(in state: RecordState) throws -> String? {
        guard !state.isDeleted, let sha = state.fields[RecordSchema.attachmentHashField]?.value, !sha.isEmpty,
            !attachmentsSent.contains(sha)
        else { return nil }
        if try store.record(state.id)?.fields[RecordSchema.attachmentHashField]?.value == sha { return nil }
        return "refers to attachment \(sha.escapedForDisplay(limit: 80)) whose bytes \(peer) did not send"
    }

    // MARK: The hub

    /// The hub's rules for a state `sender` sent; `held` is the quarantine row it comes from when re-admitted.
    /// `attachmentProblem` turns what would be admitted or held into a refusal.
    private func judge(
        _ checked: CheckedState, from sender: SiteID, clearance: Classification, held: Int64?,
        attachmentProblem: String? = nil
    ) throws {
        let state = checked.state
        let bytes = checked.bytes
        let local = try store.record(state.id)
        if local == nil, held == nil, let collected = try collectedRecord(state, from: sender) {
            switch collected {
            case .oldCopy:
                result.forgotten.append((state.id, state.versionVector))
            case .changed:
                // Kept for review, then forgotten there too: taking it in would bring back a record deleted
                // everywhere without the tombstone that decided its fate (Protocol.md §9.7).
                try quarantine(
                    state, bytes: bytes, from: sender, kind: "collected",
                    reason: "changes a record that was deleted everywhere and collected while \(sender) was away; "
                        + "the change is kept here for review and the record stays deleted")
                result.forgotten.append((state.id, state.versionVector))
            }
            return
        }
        var verdict = try Admission.admit(
            checked, local: local, context: try context(sender, clearance), lookup: lookupCollection)
        switch (verdict, attachmentProblem) {
        case (.admit, let problem?), (.hold, let problem?): verdict = .refuse(problem)
        default: break
        }
        if let held {
            if case .hold(let reason, let awaiting) = verdict {
                try db.statement("UPDATE quarantine SET awaits = ?2, reason = ?3 WHERE id = ?1")
                    .run([.integer(held), .text(awaiting.description), .text(reason)])
                return
            }
            try db.statement("UPDATE quarantine SET status = 'readmitted' WHERE id = ?1").run([.integer(held)])
        }
        switch verdict {
        case .unchanged(let outOfScope):
            result.unchanged += 1
            if outOfScope && sender == peer { result.purges.append(state.id) }
        case .admit(let admitted):
            try store(admitted, remote: state, bytes: bytes, local: local, from: sender)
            if sender == peer { peerCounter = max(peerCounter, state.versionVector[sender]) }
        case .refuse(let reason):
            try refuse(state, bytes: bytes, local: local, from: sender, reason: reason)
        case .invalid(let reason):
            try quarantine(state, bytes: bytes, from: sender, kind: "invalid", reason: reason)
            guard sender == peer else { break }
            result.invalid.append(reason)
            // A record the sender may not hold as the hub knows it (another site's record the hub never had, or one
            // outside its scope) is purged there, so the sender does not keep presenting it.
            let mayHold = local.map { Scope.mayHold($0, site: sender, clearance: clearance) } ?? (state.owner == sender)
            if !mayHold { result.purges.append(state.id) }
        case .hold(let reason, let awaiting):
            try quarantine(state, bytes: bytes, from: sender, kind: "held", reason: reason, awaits: awaiting)
            result.held += 1
        }
    }

    private func context(_ sender: SiteID, _ clearance: Classification) throws -> AdmissionContext {
        let restore = try self.restore ?? store.restoreKnowledge()
        self.restore = restore
        return AdmissionContext(
            sender: sender, hub: store.identity.site, clearance: clearance, wallMilliseconds: journal.now,
            restore: restore)
    }

    /// Ends the batch: the audit entry of the states applied without anything to note.
    private func finish() throws {
        guard appliedWithoutNote > 0 else { return }
        try journal.audit(
            action: "apply", collection: nil, recordID: nil,
            detail: "from \(peer): \(appliedWithoutNote) change(s) applied as sent, without conflict", actor: syncActor)
        appliedWithoutNote = 0
    }

    private func lookupCollection(_ id: RecordID) throws -> RecordCollection? {
        try db.statement("SELECT collection FROM records WHERE id = ?1").firstRow([.text(id.description)]) {
            RecordCollection(rawValue: $0.text(0))
        } ?? nil
    }

    private func store(
        _ admitted: Admitted, remote: RecordState, bytes: [UInt8], local: RecordState?, from sender: SiteID
    ) throws {
        let hub = store.identity.site.rawValue
        var conflicts = admitted.outcome.conflicts
        let stored: RecordState
        var how = describe(admitted.outcome)
        if admitted.needsRestamp {
            // The sender's clock is ahead: the hub writes the values under its own stamp (DESIGN.md §10).
            let stamp = try journal.nextStamp(for: admitted.state)
            stored = Compensation.write(
                content: admitted.state, dominating: remote, restamp: admitted.restamp, stamp: stamp)
            conflicts = conflicts.map { conflict in
                var fixed = conflict
                if admitted.restamp.contains(conflict.field),
                    admitted.state.fields[conflict.field]?.stamp == conflict.kept.stamp
                {
                    fixed.kept.stamp = stamp
                }
                return fixed
            }
            try journal.save(stored, origin: hub, isNew: local == nil)
            how +=
                "; re-stamped \(admitted.restamp.sorted().joined(separator: ", ")) by the hub: \(sender)'s clock "
                + "is ahead of the hub's"
            result.restamped += 1
        } else {
            journal.observe(remote)
            stored = admitted.state
            try journal.save(
                stored, origin: admitted.outcome.equalsRemote ? sender.rawValue : hub,
                encoded: admitted.outcome.equalsRemote ? bytes : nil, isNew: local == nil)
        }
        try journal.recordConflicts(conflicts, of: stored, local: local, peer: sender)
        result.applied += 1
        result.conflicts += conflicts.count
        if conflicts.isEmpty && !admitted.needsRestamp && sender == peer {
            // A site's audit block is its trail arriving, not a change: its entries are the record.
            if stored.collection != .auditBlocks { appliedWithoutNote += 1 }
        } else {
            try journal.audit(
                action: "apply", state: stored,
                detail: "from \(sender): \(how)" + (conflicts.isEmpty ? "" : ", \(conflicts.count) conflict(s)"),
                actor: AuditActor(user: "sync", origin: "site \(sender)"))
        }
        try readmitHeld(awaiting: stored.id)
    }

    /// A policy refusal: quarantined with its values, answered with a compensating write that dominates it, and a
    /// `REFUSED` notice for the sender (DESIGN.md §11).
    private func refuse(
        _ state: RecordState, bytes: [UInt8], local: RecordState?, from sender: SiteID, reason: String
    ) throws {
        let stamp = try journal.nextStamp(for: local)
        let compensation = Compensation.refusal(of: state, local: local, sender: sender, stamp: stamp)
        let seq = try journal.save(compensation, origin: store.identity.site.rawValue)
        let dot = Dot(site: sender, counter: state.versionVector[sender])
        try quarantine(state, bytes: bytes, from: sender, kind: "refused", reason: reason, dot: dot, noticeSeq: seq)
        try journal.audit(
            action: "refuse", state: compensation,
            detail: "change \(dot) from \(sender) refused: \(reason); answered with compensating write \(stamp.dot)",
            actor: AuditActor(user: "sync", origin: "site \(sender)"))
        result.refused += 1
        try readmitHeld(awaiting: compensation.id)
    }

    /// Re-admits states that waited for the record `id` (and, in turn, what waited for those).
    private func readmitHeld(awaiting id: RecordID) throws {
        let any =
            try mayHaveHeldStates
            ?? (db.statement("SELECT 1 FROM quarantine WHERE status = 'held' LIMIT 1").firstRow([]) { _ in true }
                ?? false)
        mayHaveHeldStates = any
        guard any else { return }
        try readmit(where: "q.awaits = ?1", [.text(id.description)])
    }

    /// Judges one quarantined state again (an operator's `quarantine retry`), whatever kept it aside.
    func retry(row: Int64) throws {
        let found = try db.statement(
            "SELECT q.peer, q.state, p.clearance FROM quarantine q JOIN peers p ON p.site = q.peer WHERE q.id = ?1"
        ).firstRow([.integer(row)]) { ($0.text(0), $0.blob(1), $0.text(2)) }
        guard let (peerText, bytes, clearanceText) = found, let sender = try? SiteID(peerText),
            let state = try? RecordState(decoding: bytes)
        else {
            throw StorageError(code: .invalidOperation, message: "quarantined change #\(row) holds no state to judge")
        }
        // Judged as a held row: if it must wait now, it waits like any held change (and is re-admitted by itself).
        try db.statement("UPDATE quarantine SET status = 'held' WHERE id = ?1").run([.integer(row)])
        try judge(
            CheckedState(state, encoded: bytes), from: sender,
            clearance: Classification(rawValue: clearanceText) ?? Scope.defaultClearance, held: row)
    }

    /// Judges every held state again (the hub started recovering: claims it held are now taken in).
    func readmitAllHeld() throws {
        try readmit(where: "1", [])
    }

    private func readmit(where condition: String, _ values: [SQLValue]) throws {
        let rows = try db.statement(
            "SELECT q.id, q.peer, q.state, p.clearance FROM quarantine q JOIN peers p ON p.site = q.peer "
                + "WHERE q.status = 'held' AND \(condition) ORDER BY q.id"
        ).rows(values) { ($0.int(0), $0.text(1), $0.blob(2), $0.text(3)) }
        for (row, peerText, bytes, clearanceText) in rows {
            guard let sender = try? SiteID(peerText), let state = try? RecordState(decoding: bytes) else { continue }
            let clearance = Classification(rawValue: clearanceText) ?? Scope.defaultClearance
            try judge(CheckedState(state, encoded: bytes), from: sender, clearance: clearance, held: row)
        }
    }

    /// Settles held states of the peer that wait for a record it never sent (a document's customer): once the
    /// peer has sent everything, the reference is refused, unless the hub is recovering and may still regain it.
    func refuseUnresolvedReferences(clearance: Classification) throws {
        guard try store.restoreKnowledge() == .none else { return }
        let rows = try db.statement(
            "SELECT id, state FROM quarantine WHERE status = 'held' AND peer = ?1 AND awaits != record_id ORDER BY id"
        ).rows([.text(peer.rawValue)]) { ($0.int(0), $0.blob(1)) }
        for (row, bytes) in rows {
            guard let state = try? RecordState(decoding: bytes) else { continue }
            try db.statement("UPDATE quarantine SET status = 'readmitted' WHERE id = ?1").run([.integer(row)])
            let customer = state["customerId"] ?? "?"
            try refuse(
                state, bytes: bytes, local: try store.record(state.id), from: peer,
                reason: "document \(state.id) refers to customer \(customer), which \(peer) never sent and the hub "
                    + "does not hold")
        }
    }

    // MARK: A branch

    private func applyFromHub(_ checked: CheckedState) throws {
        let state = checked.state
        let bytes = checked.bytes
        if let problem = checked.inconsistency {
            try quarantine(state, bytes: bytes, from: peer, kind: "invalid", reason: problem)
            return
        }
        let local = try store.record(state.id)
        let outcome: MergeOutcome
        do { outcome = try RecordMerge.merge(local: local, remote: state) } catch {
            try quarantine(state, bytes: bytes, from: peer, kind: "invalid", reason: error.message)
            return
        }
        peerCounter = max(peerCounter, state.versionVector[peer])
        guard outcome.changesLocal else {
            result.unchanged += 1
            return
        }
        if !outcome.state.isDeleted {
            do { try checked.validateMerged(outcome) } catch {
                try quarantine(state, bytes: bytes, from: peer, kind: "invalid", reason: "invalid: \(error.message)")
                return
            }
        }
        journal.observe(state)
        try journal.save(
            outcome.state, origin: outcome.equalsRemote ? peer.rawValue : store.identity.site.rawValue,
            encoded: outcome.equalsRemote ? bytes : nil, isNew: local == nil)
        try journal.recordConflicts(outcome.conflicts, of: outcome.state, local: local, peer: peer)
        result.applied += 1
        result.conflicts += outcome.conflicts.count
        // A change of the hub applied as sent is not audited here: its origin's entries and the hub's entry for the
        // batch that brought it are in the group's trail at the hub. An entry here would go up in an audit block
        // after every batch: each write reaching N branches would send N blocks back to the hub.
        if !outcome.conflicts.isEmpty {
            try journal.audit(
                action: "apply", state: outcome.state,
                detail: "from \(peer): \(describe(outcome)), \(outcome.conflicts.count) conflict(s)", actor: syncActor)
        }
    }

    private func describe(_ outcome: MergeOutcome) -> String {
        switch outcome.remoteRelation {
        case nil: return "new"
        case .after?: return "newer version"
        default: return "merged concurrent versions"
        }
    }

    // MARK: Quarantine

    private func quarantine(
        _ state: RecordState, bytes: [UInt8], from sender: SiteID, kind: String, reason: String,
        awaits: RecordID? = nil, dot: Dot? = nil, noticeSeq: Int64? = nil
    ) throws {
        if sender == peer { try countQuarantineRow() }
        // A state about a record destroyed here keeps no value, not even in quarantine (it cannot be taken in anyway).
        let destroyedHere = try store.record(state.id)?.isDestroyed ?? false
        try store.insertQuarantine(
            peer: sender, recordID: state.id.description, collection: state.collection.rawValue, kind: kind,
            reason: reason, state: destroyedHere ? [] : bytes, awaits: awaits?.description, dot: dot?.description,
            status: destroyedHere ? "wiped" : kind == "held" ? "held" : "open", at: journal.now,
            noticeSeq: destroyedHere ? nil : noticeSeq)
        if kind == "held" { mayHaveHeldStates = true }
        if kind != "held" { result.quarantined += 1 }
        if kind == "invalid" {
            try store.auditEvent(
                action: "reject",
                detail: "causally invalid change from \(sender): \(reason.escapedForDisplay(limit: 300))",
                recordID: state.id, collection: state.collection)
        }
    }

    private func quarantineUndecodable(_ bytes: [UInt8], reason: String) throws {
        let id = bytes.count >= 17 ? (try? RecordID(bytes: Array(bytes[1..<17])))?.description ?? "?" : "?"
        try countQuarantineRow()
        try store.insertQuarantine(
            peer: peer, recordID: id, collection: "unknown", kind: "invalid", reason: reason, state: bytes,
            awaits: nil, dot: nil, status: "open", at: journal.now)
        result.quarantined += 1
        if case .hub = policy { result.invalid.append(reason) }
        try store.auditEvent(action: "reject", detail: reason.escapedForDisplay(limit: 300))
    }

    /// Counts one more quarantine row of the peer against its quota; beyond it the whole batch is refused (the
    /// transaction rolls back, nothing of it is acknowledged, the peer keeps it and sends it again later).
    private func countQuarantineRow() throws {
        guard let quota = quarantineQuota else { return }
        let open = try openQuarantineRows ?? store.openQuarantineCount(from: peer)
        guard open < quota else {
            throw StorageError(
                code: .quotaExceeded,
                message: "site \(peer) has \(open) changes in quarantine at the hub, its quota "
                    + "(--max-quarantine-per-site \(quota)); nothing of this batch was applied. An operator reviews "
                    + "them with 'branchsync quarantine list' and drops them before the site syncs again")
        }
        openQuarantineRows = open + 1
    }
}
