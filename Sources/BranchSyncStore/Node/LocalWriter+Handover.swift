import BranchSyncCore
import BranchSyncCrypto

/// What `site retire` did.
public struct Retirement: Sendable {
    /// The list of what the site handed over, as it held it (before the records were handed on).
    public var list: HandoverList
    /// How many records (tombstones included) now answer to the successor.
    public var transferred: Int
}

extension LocalWriter {
    /// Retires `site` (hub only; a closed or merged unit): refused unless the hub has verified it holds everything the
    /// site holds; then every customer and document the site answers for is handed to `successor` (a replicated
    /// write of the custodian field), the site's credentials are revoked, and the handover is audited.
    /// - Parameter recordList: called with the handover list before anything is committed (to write it to files); a
    ///   throw undoes the retirement.
    /// - Throws: ``StorageError`` `.invalidOperation` naming what is missing (not verified since its last change,
    ///   changes it still holds for the hub, open quarantined changes), or for an unknown or retired site or
    ///   successor.
    public func retire(_ site: SiteID, successor: SiteID, recordList: (HandoverList) throws -> Void) throws
        -> Retirement
    {
        guard store.identity.role == .hub else {
            throw StorageError(
                code: .invalidOperation,
                message: "`site retire` runs at the hub, which holds everything the site holds; this node is branch "
                    + "\(store.identity.site)")
        }
        guard let health = try store.health(of: site), health.peer.role == .branch else {
            throw StorageError(code: .notFound, message: "\(site) is not an enrolled branch of this hub")
        }
        if let retiredAt = health.peer.retiredAt {
            throw StorageError(
                code: .invalidOperation,
                message:
                    "\(site) was already retired at \(retiredAt) (successor \(health.peer.successor?.rawValue ?? "-"))")
        }
        guard successor != site else {
            throw StorageError(code: .invalidOperation, message: "a site cannot be its own successor")
        }
        if successor != store.identity.site {
            guard let next = try store.peer(successor), next.role == .branch, next.retiredAt == nil,
                next.revokedAt == nil
            else {
                throw StorageError(
                    code: .invalidOperation,
                    message: "the successor \(successor) is neither this hub nor an enrolled branch that is not retired"
                )
            }
        }
        if try store.restoreKnowledge() == .recovering {
            throw StorageError(
                code: .invalidOperation,
                message: "this hub is recovering from a restore (see `branchsync status`): it may not hold everything "
                    + "\(site) holds; retire it once every branch has resynced")
        }
        if let missing = Self.handoverNotProven(health) {
            throw StorageError(
                code: .invalidOperation,
                message: "\(site) cannot be retired yet: \(missing). Nothing was changed.")
        }
        let list = try store.handoverList(for: site)
        try recordList(list)

        var transferred = 0
        for state in try store.recordsAnsweringTo(site) {
            // Tombstones too (a destroyed record keeps its custodian): they stay deleted.
            var handed = state
            handed.applyScopeWrite(
                [RecordState.custodianField: successor.rawValue], stamp: try journal.nextStamp(for: state))
            try journal.save(handed, origin: store.identity.site.rawValue)
            transferred += 1
        }
        try store.db.statement(
            """
            UPDATE peers SET stored_key = NULL, server_key = NULL, retired_at = ?2, successor = ?3, resync_pending = 0,
            access_epoch = access_epoch + 1 WHERE site = ?1
            """
        ).run([.text(site.rawValue), .text(Timestamp.iso8601(milliseconds: journal.now)), .text(successor.rawValue)])
        let totals = list.totals
        try journal.audit(
            action: "retire", collection: nil, recordID: nil,
            detail: "site \(site) retired, successor \(successor): \(transferred) record(s) handed over; handover list "
                + "of \(totals.customers) customer(s), \(totals.documents) document(s), \(totals.attachments) "
                + "attachment(s) (\(totals.attachmentBytes) bytes), sha256 json \(SHA256.hexDigest(Array(list.json.utf8))) "
                + "csv \(SHA256.hexDigest(Array(list.csv.utf8))); credentials revoked")
        return Retirement(list: list, transferred: transferred)
    }

    /// Why the hub cannot yet show that it holds everything the site holds, or `nil` when it can: the site synced,
    /// said it had nothing more for the hub, a verify found both identical after the last change the site sent, and
    /// none of its changes waits in quarantine.
    static func handoverNotProven(_ health: PeerHealth) -> String? {
        let peer = health.peer
        if peer.lastSyncAt == nil { return "it never synced with the hub" }
        if health.fromSite > 0 {
            return
                "it had \(health.fromSite) change(s) not yet at the hub at its last contact (\(peer.lastSeenAt ?? "-")); "
                + "let it sync"
        }
        if let result = peer.lastVerifyResult, result.hasPrefix("differ") {
            return "the last verify found differences (\(result)); let it sync until a verify finds none"
        }
        guard peer.verifiedAt != nil, let verifiedPeerSeq = peer.verifiedPeerSeq, verifiedPeerSeq >= peer.appliedCursor
        else {
            return "the hub has not verified its replica since the last change it sent; connect it and run "
                + "`branchsync verify --site \(peer.site)` (it also verifies by itself a few seconds after changes)"
        }
        let issues = health.issues.quarantined + health.issues.held
        if issues > 0 {
            return "\(issues) of its changes are quarantined or held; review them with `branchsync quarantine list`"
        }
        return nil
    }
}

extension NodeStore {
    /// Retires a site in one transaction; see ``LocalWriter/retire(_:successor:recordList:)``.
    public func retire(_ site: SiteID, successor: SiteID, recordList: (HandoverList) throws -> Void) throws
        -> Retirement
    {
        try batch { try $0.retire(site, successor: successor, recordList: recordList) }
    }

    /// The handover list of `site`: the live customers and documents it answers for, as held here.
    public func handoverList(for site: SiteID) throws -> HandoverList {
        let entries = try recordsAnsweringTo(site).filter { !$0.isDeleted }.map { state in
            HandoverList.Entry(state, contentSHA256: SHA256.hexDigest(Array(state.contentJSON.utf8)))
        }
        return HandoverList(site: site, entries: entries)
    }

    /// The customers and documents (tombstones included) `site` answers for, in id order.
    func recordsAnsweringTo(_ site: SiteID) throws -> [RecordState] {
        try db.statement(
            "SELECT state FROM records WHERE owner = ?1 AND collection IN ('customers', 'documents') ORDER BY id"
        ).rows([.text(site.rawValue)]) { try Self.decodeState($0.blob(0)) }
    }
}
