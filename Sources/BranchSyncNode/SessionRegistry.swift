import BranchSyncCore
@preconcurrency import Glibc
import Synchronization

/// The hub's live sessions: at most one per site, and a way to wake them all when new changes arrive so they push
/// at once (live mode, no polling between nodes).
public final class SessionRegistry: Sendable {
    private struct Entry {
        var token: UInt64
        var wake: WakeSignal
        var address: String
    }

    private let entries = Mutex<[SiteID: Entry]>([:])

    public init() {}

    /// Registers the session `token` for `site`, woken through `wake`; fails while another session of the site is
    /// registered (the caller retries for a grace period: a branch that reconnects at once after its process died
    /// or its link dropped meets its own old session, which ends as soon as the hub reads the closed socket).
    /// - Returns: `nil` on success, or the address of the session open for that site.
    func register(_ site: SiteID, token: UInt64, wake: WakeSignal, address: String) -> String? {
        entries.withLock { entries in
            if let existing = entries[site] { return existing.address }
            entries[site] = Entry(token: token, wake: wake, address: address)
            return nil
        }
    }

    /// Removes `site`'s session if it is `token`.
    func unregister(_ site: SiteID, token: UInt64) {
        entries.withLock { entries in
            if entries[site]?.token == token { entries[site] = nil }
        }
    }

    /// Wakes every session (new changes to push, or shutdown): each distinct wake signal once.
    public func wakeAll() {
        let wakes = entries.withLock { entries in
            var seen = Set<ObjectIdentifier>()
            return entries.values.map(\.wake).filter { seen.insert(ObjectIdentifier($0)).inserted }
        }
        for wake in wakes { wake.signal() }
    }

    /// The sites with an open session.
    public var connectedSites: [SiteID] {
        entries.withLock { Array($0.keys).sorted() }
    }
}

/// A flag that tells sessions and servers to stop.
public final class StopSignal: Sendable {
    private let stopped = Atomic<Bool>(false)

    public init() {}

    public func stop() { stopped.store(true, ordering: .sequentiallyConsistent) }

    public var isStopped: Bool { stopped.load(ordering: .sequentiallyConsistent) }
}
