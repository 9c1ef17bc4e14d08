import BranchSyncCore
import BranchSyncCrypto

/// Who approved a destruction, and why (`branchsync destroy`).
public struct DestructionApproval: Sendable, Hashable {
    /// Why the record is destroyed.
    public var reason: String
    /// Who approved it.
    public var approvedBy: String
    /// A second approver: required to destroy a record before its retention date (`--early`).
    public var secondApprover: String?
    /// Whether the operator asked to destroy before the retention date.
    public var early: Bool

    public init(reason: String, approvedBy: String, secondApprover: String? = nil, early: Bool = false) {
        self.reason = reason
        self.approvedBy = approvedBy
        self.secondApprover = secondApprover
        self.early = early
    }
}

extension LocalWriter {
    /// Destroys a customer or document on record (at its owner or the hub): its values and attachment are wiped here
    /// and, as the destruction replicates, at every site that holds it; a destruction-register entry is written in the
    /// same transaction. Before the record's retention date (or without one) only with `approval.early` and a second
    /// approver other than the first.
    /// - Returns: the register entry.
    /// - Throws: ``StorageError`` `.notFound`, `.invalidOperation` (another site's record at a branch, already
    ///   destroyed, not past retention without `--early`); ``ValidationError`` for a missing reason or approver.
    @discardableResult
    public func destroy(_ id: RecordID, approval: DestructionApproval) throws -> RecordState {
        guard var state = try record(id), state.collection == .customers || state.collection == .documents else {
            throw StorageError(code: .notFound, message: "no customer or document with id \(id) on this node")
        }
        let noun = state.collection.singular
        if state.isDestroyed, let deletion = state.deletion {
            throw StorageError(
                code: .invalidOperation,
                message: "\(noun) \(id) was already destroyed by \(deletion.stamp.dot.site) at "
                    + "\(Timestamp.iso8601(milliseconds: deletion.stamp.time.wallMilliseconds)); see "
                    + "`branchsync destruction list`")
        }
        guard state.custodian == store.identity.site || store.identity.role == .hub else {
            throw StorageError(
                code: .invalidOperation,
                message: "\(noun) \(id) belongs to \(state.custodian): it is destroyed there or at the hub, not at "
                    + "\(store.identity.site)")
        }
        let today = String(Timestamp.iso8601(milliseconds: journal.now).prefix(10))
        let retainUntil = state[RecordSchema.retainUntilField]
        let due = retainUntil.map { $0 < today } ?? false
        let second = approval.secondApprover?.trimmingCharacters(in: .whitespaces).nilIfEmpty
        if !due {
            let kept = retainUntil.map { "is kept until \($0)" } ?? "has no retention date"
            guard approval.early else {
                throw StorageError(
                    code: .invalidOperation,
                    message: "\(noun) \(id) \(kept), so it is not past retention; destroy it earlier only with "
                        + "--early and --second-approver NAME")
            }
            guard let second, second != approval.approvedBy.trimmingCharacters(in: .whitespaces) else {
                throw ValidationError(
                    field: "secondApprover",
                    message: "destroying \(noun) \(id) before retention (it \(kept)) needs --second-approver NAME, "
                        + "someone other than --approved-by")
            }
        }
        let values = try RecordSchema.destructions.validateNew([
            "recordId": id.description, "recordCollection": state.collection.rawValue,
            "recordOwner": state.custodian.rawValue,
            "title": (state[state.collection == .customers ? "name" : "title"] ?? "(untitled)").prefix(300)
                .description,
            "contentSha256": SHA256.hexDigest(Array(state.contentJSON.utf8)),
            RecordSchema.retainUntilField: retainUntil ?? "",
            "destroyedBy": store.actor.user, "approvedBy": approval.approvedBy.trimmingCharacters(in: .whitespaces),
            "secondApprover": due ? "" : second ?? "", "early": due ? "no" : "yes",
            "destroyedAt": Timestamp.iso8601(milliseconds: journal.now),
            "reason": approval.reason.trimmingCharacters(in: .whitespaces),
            RecordState.classField: state.classification.rawValue,
        ])
        state.applyLocalDestruction(stamp: try journal.nextStamp(for: state))
        try journal.save(state, origin: store.identity.site.rawValue)

        let entryID = RecordID.version7(unixMilliseconds: journal.now, random: try SecureRandom.bytes(10))
        var entry = RecordState(id: entryID, collection: .destructions, owner: store.identity.site)
        entry.applyLocalWrite(values, stamp: try journal.nextStamp(for: nil))
        try journal.save(entry, origin: store.identity.site.rawValue)
        try journal.audit(
            action: "destroy", state: state,
            detail: "\(values["title"] ?? "") (\(values[RecordState.classField] ?? "")), content sha256 "
                + "\(values["contentSha256"] ?? ""); approved by \(values["approvedBy"] ?? "")"
                + (due ? "" : " and \(second ?? "") (before retention)") + "; reason: \(values["reason"] ?? ""); "
                + "register entry \(entryID)")
        return entry
    }

    /// Archives a live document (`status` archived): it is kept until its retention date, then destroyed on record.
    /// - Throws: ``StorageError`` `.notFound`, `.invalidOperation` (deleted, or already archived).
    @discardableResult
    public func archive(_ id: RecordID) throws -> RecordState {
        let state = try liveRecord(id)
        guard state.collection == .documents else {
            throw StorageError(code: .notFound, message: "no document with id \(id) on this node")
        }
        guard state["status"] != "archived" else {
            throw StorageError(code: .invalidOperation, message: "document \(id) is already archived")
        }
        return try update(id, changes: ["status": "archived"]).state
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
