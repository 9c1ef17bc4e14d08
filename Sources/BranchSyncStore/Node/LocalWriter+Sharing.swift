import BranchSyncCore

extension LocalWriter {
    /// Shares a confidential customer or document with `site` beyond its class (hub only): the share list is a
    /// replicated write of the hub, so the record reaches `site` with its next batch, and is purged there on
    /// ``unshare(_:with:)``. Secret records stay with their owner and the hub.
    /// - Returns: the record as changed.
    /// - Throws: ``StorageError`` `.invalidOperation` at a branch, for a secret, public or internal record, for the
    ///   owner itself, for a site not enrolled, or a site already on the list; `.notFound` for an unknown record.
    @discardableResult
    public func share(_ id: RecordID, with site: SiteID) throws -> RecordState {
        let (state, list) = try shareableRecord(id, command: "share")
        let noun = state.collection.singular
        switch state.classification {
        case .secret:
            throw StorageError(
                code: .invalidOperation,
                message:
                    "\(noun) \(id) is secret: secret records stay with their owner \(state.custodian) and the hub and "
                    + "are never shared; the owner may reclassify it to confidential first")
        case .public, .internal:
            throw StorageError(
                code: .invalidOperation,
                message: "\(noun) \(id) is \(state.classification.rawValue): every site holds it already; sharing is "
                    + "for confidential records")
        case .confidential:
            break
        }
        guard site != state.custodian else {
            throw StorageError(
                code: .invalidOperation, message: "\(site) owns \(noun) \(id): an owner always holds its records")
        }
        guard site != store.identity.site, let peer = try store.peer(site), peer.retiredAt == nil, peer.revokedAt == nil
        else {
            throw StorageError(
                code: .invalidOperation,
                message: "\(site) is not an enrolled branch of this hub (or was retired); see `branchsync site list`")
        }
        guard !list.contains(site.rawValue) else {
            throw StorageError(code: .invalidOperation, message: "\(noun) \(id) is already shared with \(site)")
        }
        guard list.count < RecordState.maximumShares else {
            throw StorageError(
                code: .invalidOperation,
                message: "\(noun) \(id) is shared with \(list.count) sites, the most allowed; grant the sites "
                    + "confidential clearance instead (`branchsync site grant`)")
        }
        return try writeShares(state, list + [site.rawValue], action: "share", detail: "shared with \(site)")
    }

    /// Stops sharing a record with `site` (hub only): it is purged there with the next batch, unless the site's
    /// clearance covers it anyway.
    /// - Throws: ``StorageError`` `.invalidOperation` at a branch or when the record is not shared with `site`.
    @discardableResult
    public func unshare(_ id: RecordID, with site: SiteID) throws -> RecordState {
        let (state, list) = try shareableRecord(id, command: "unshare")
        guard list.contains(site.rawValue) else {
            throw StorageError(
                code: .invalidOperation, message: "\(state.collection.singular) \(id) is not shared with \(site)")
        }
        return try writeShares(
            state, list.filter { $0 != site.rawValue }, action: "unshare", detail: "no longer shared with \(site)")
    }

    private func shareableRecord(_ id: RecordID, command: String) throws -> (RecordState, [String]) {
        guard store.identity.role == .hub else {
            throw StorageError(
                code: .invalidOperation,
                message: "`\(command)` runs at the hub, which decides who needs to know; this node is branch "
                    + "\(store.identity.site)")
        }
        let state = try liveRecord(id)
        guard state.collection == .customers || state.collection == .documents else {
            throw StorageError(code: .notFound, message: "no customer or document with id \(id) on this node")
        }
        return (state, state.sharedWith)
    }

    private func writeShares(_ state: RecordState, _ list: [String], action: String, detail: String) throws
        -> RecordState
    {
        var state = state
        let sorted = list.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        state.applyLocalWrite(
            [RecordState.sharedWithField: sorted.joined(separator: ",")], stamp: try journal.nextStamp(for: state))
        try journal.save(state, origin: store.identity.site.rawValue)
        try journal.audit(
            action: action, state: state,
            detail: detail + "; shared with: " + (sorted.isEmpty ? "no site" : sorted.joined(separator: ", ")))
        return state
    }
}
