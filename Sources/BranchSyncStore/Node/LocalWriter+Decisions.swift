import BranchSyncCore

extension LocalWriter {
    /// Clears an open suspicious-customer lead (hub only): see ``NodeStore/clearLead(_:reason:)``.
    @discardableResult
    public func clearLead(_ id: RecordID, reason: String) throws -> RecordState {
        try requireHub("suspicious clear")
        if let decision = try record(id), decision.collection == .decisions, !decision.isDeleted {
            throw StorageError(
                code: .invalidOperation,
                message:
                    "lead \(id) was already cleared by \(decision["decidedBy"] ?? "?"): \(decision["reason"] ?? "")")
        }
        guard let lead = try store.suspiciousLead(id), lead.isOpen, lead.stillHolds, let first = lead.first,
            let second = lead.second
        else {
            throw StorageError(
                code: .notFound,
                message: "no open suspicious-customer lead \(id) here; see `branchsync suspicious list`")
        }
        let classes = try [first.id, second.id].compactMap { try record($0)?.classification }
        let values = try RecordSchema.decisions.validateNew([
            "lead": lead.kind.rawValue, "value": lead.value, "firstCustomer": first.id.description,
            "secondCustomer": second.id.description, "verdict": "cleared",
            "reason": reason.trimmingCharacters(in: .whitespaces), "decidedBy": store.actor.user,
            RecordState.classField: (classes.max() ?? .internal).rawValue,
        ])
        var state = RecordState(id: id, collection: .decisions, owner: store.identity.site)
        state.applyLocalWrite(values, stamp: try journal.nextStamp(for: nil))
        try journal.save(state, origin: store.identity.site.rawValue)
        try journal.audit(
            action: "clear-lead", state: state,
            detail:
                "\(lead.kind.phrase) \(lead.value): \(first.id) (\(first.owner)) and \(second.id) (\(second.owner)); "
                + "reason: \(values["reason"] ?? "")")
        return state
    }

    /// Merges customer `duplicate` into `keep` (hub only): see ``NodeStore/mergeCustomer(_:into:)``.
    @discardableResult
    public func mergeCustomer(_ duplicate: RecordID, into keep: RecordID) throws -> Int {
        try requireHub("customer merge")
        guard duplicate != keep else {
            throw StorageError(code: .invalidOperation, message: "a customer cannot be merged into itself")
        }
        let kept = try liveRecord(keep)
        var merged = try liveRecord(duplicate)
        for state in [kept, merged] where state.collection != .customers {
            throw StorageError(
                code: .invalidOperation, message: "\(state.id) is a \(state.collection.singular), not a customer")
        }
        let documents = try store.records(in: .documents).filter { $0["customerId"] == duplicate.description }
        for document in documents {
            try update(document.id, changes: ["customerId": keep.description])
        }
        merged.applyLocalWrite(
            [RecordSchema.mergedIntoField: keep.description], stamp: try journal.nextStamp(for: merged))
        merged.applyLocalDelete(stamp: try journal.nextStamp(for: merged))
        try journal.save(merged, origin: store.identity.site.rawValue)
        try journal.audit(
            action: "merge", state: merged,
            detail: "merged into customer \(keep) (\(kept["name"] ?? "")); \(documents.count) document(s) re-linked")
        try journal.audit(
            action: "merge", state: kept, detail: "customer \(duplicate) (\(merged["name"] ?? "")) merged into it")
        return documents.count
    }

    private func requireHub(_ command: String) throws {
        guard store.identity.role == .hub else {
            throw StorageError(
                code: .invalidOperation,
                message: "`\(command)` runs at the hub, which holds every site's customers; this node is branch "
                    + "\(store.identity.site)")
        }
    }
}
