import BranchSyncCore

/// An operator's decision about a branch's access (`site disable|enable|revoke`).
public enum SiteAccessChange: String, Sendable {
    /// It may not log in until enabled again; its verifier is kept.
    case disable
    /// It may log in again.
    case enable
    /// It may never log in again; its verifier is gone.
    case revoke
}

extension NodeStore {
    /// Changes whether a branch may log in (hub only), ending a connected session at once; audited.
    /// - Throws: ``StorageError`` `.notFound` for a site not enrolled, `.invalidOperation` for a change that does not
    ///   apply (enabling a revoked or retired site, disabling one already disabled).
    public func changeAccess(of site: SiteID, _ change: SiteAccessChange) throws {
        try db.write {
            guard let peer = try peer(site), peer.role == .branch else {
                throw StorageError(code: .notFound, message: "site \(site) is not enrolled on this hub")
            }
            if peer.retiredAt != nil || peer.revokedAt != nil {
                throw StorageError(
                    code: .invalidOperation,
                    message: "site \(site) was \(peer.accessDenied ?? "revoked"); enrol it anew under another id")
            }
            let now = Timestamp.iso8601(milliseconds: wallClock())
            switch change {
            case .disable:
                guard peer.disabledAt == nil else {
                    throw StorageError(code: .invalidOperation, message: "site \(site) is already disabled")
                }
                try db.statement("UPDATE peers SET disabled_at = ?2, access_epoch = access_epoch + 1 WHERE site = ?1")
                    .run([.text(site.rawValue), .text(now)])
            case .enable:
                guard peer.disabledAt != nil else {
                    throw StorageError(code: .invalidOperation, message: "site \(site) is not disabled")
                }
                try db.statement(
                    "UPDATE peers SET disabled_at = NULL, access_epoch = access_epoch + 1 WHERE site = ?1"
                ).run([.text(site.rawValue)])
            case .revoke:
                try db.statement(
                    """
                    UPDATE peers SET revoked_at = ?2, stored_key = NULL, server_key = NULL, resync_pending = 0,
                    access_epoch = access_epoch + 1 WHERE site = ?1
                    """
                ).run([.text(site.rawValue), .text(now)])
            }
            try auditEvent(action: "site-\(change.rawValue)", detail: "site \(site)")
        }
        // A revoked site owes no resync: it may have been the last one a recovering hub waited for.
        if change == .revoke { try endRecoveryIfNothingOwed() }
    }

    /// Gives a branch a new secret's verifier (hub only): the old secret stops working and a connected session ends;
    /// audited. The branch takes the new secret with `branchsync join`.
    /// - Throws: ``StorageError`` `.notFound` for a site not enrolled, `.invalidOperation` for a revoked or retired
    ///   one.
    public func rotateSecret(of site: SiteID, storedKey: [UInt8], serverKey: [UInt8]) throws {
        try db.write {
            guard let peer = try peer(site), peer.role == .branch else {
                throw StorageError(code: .notFound, message: "site \(site) is not enrolled on this hub")
            }
            if peer.retiredAt != nil || peer.revokedAt != nil {
                throw StorageError(
                    code: .invalidOperation, message: "site \(site) was \(peer.accessDenied ?? "revoked")")
            }
            try db.statement(
                "UPDATE peers SET stored_key = ?2, server_key = ?3, access_epoch = access_epoch + 1 WHERE site = ?1"
            ).run([.text(site.rawValue), .blob(storedKey), .blob(serverKey)])
            try auditEvent(
                action: "site-rotate-secret", detail: "site \(site): new secret; the old one no longer works")
        }
    }
}
