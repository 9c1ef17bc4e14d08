import BranchSyncCore
import BranchSyncCrypto
import BranchSyncStore
import Foundation

/// The enrolled branches' verifiers, in memory, so the hub checks a login without a write and, for a known site,
/// without reading a peer row. Refreshed by the hub's housekeeping when the database changed; a site missing from the cache
/// (enrolled a moment ago) is looked up once by its key through the cache's own read connection.
final class CredentialCache: @unchecked Sendable {
    // @unchecked: `verifiers`, `version` and `store` are only touched under `lock`.
    private let lock = NSLock()
    private var verifiers: [SiteID: SiteCredentials.Verifier] = [:]
    private var version: Int64 = -1
    private var store: NodeStore?

    /// - Parameter store: a connection of the cache's own (it reads only).
    init(store: NodeStore) throws {
        self.store = store
        try refreshIfChanged()
    }

    /// The verifier of `site`, or `nil` if it is not enrolled (or no longer). A revocation (`site retire`) committed
    /// by another connection counts from the next login on: the cache reloads first when the database changed (a
    /// `data_version` check, which reads no page).
    func verifier(for site: SiteID) -> SiteCredentials.Verifier? {
        lock.withLock {
            // Fails closed: verifiers that could not be reloaded might include a revoked one.
            do { try reloadIfChanged() } catch { return nil }
            if let known = verifiers[site] { return known }
            guard let peer = try? store?.peer(site), peer.role == .branch, peer.retiredAt == nil,
                peer.revokedAt == nil, let storedKey = peer.storedKey, let serverKey = peer.serverKey
            else { return nil }
            let verifier = SiteCredentials.Verifier(storedKey: storedKey, serverKey: serverKey)
            verifiers[site] = verifier
            return verifier
        }
    }

    /// Reloads every verifier if another connection committed since the last load (an enrolment, a new secret).
    func refreshIfChanged() throws {
        try lock.withLock { try reloadIfChanged() }
    }

    /// Called with `lock` held.
    private func reloadIfChanged() throws {
        guard let store else { return }
        let current = try store.dataVersion()
        guard current != version else { return }
        var loaded: [SiteID: SiteCredentials.Verifier] = [:]
        for peer in try store.peers() where peer.role == .branch && peer.retiredAt == nil && peer.revokedAt == nil {
            guard let storedKey = peer.storedKey, let serverKey = peer.serverKey else { continue }
            loaded[peer.site] = SiteCredentials.Verifier(storedKey: storedKey, serverKey: serverKey)
        }
        verifiers = loaded
        version = current
    }

    /// Closes the cache's connection (the hub stopped): after this the cache answers only from memory. A
    /// connection left open past the hub's stop would checkpoint into a database an operator may be replacing.
    func close() {
        lock.withLock { store = nil }
    }
}
