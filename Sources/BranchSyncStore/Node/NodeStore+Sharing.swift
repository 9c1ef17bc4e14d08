import BranchSyncCore

extension NodeStore {
    /// Shares a confidential record with a site in one transaction; see ``LocalWriter/share(_:with:)``.
    @discardableResult
    public func share(_ id: RecordID, with site: SiteID) throws -> RecordState {
        try batch { try $0.share(id, with: site) }
    }

    /// Stops sharing a record with a site in one transaction; see ``LocalWriter/unshare(_:with:)``.
    @discardableResult
    public func unshare(_ id: RecordID, with site: SiteID) throws -> RecordState {
        try batch { try $0.unshare(id, with: site) }
    }
}
