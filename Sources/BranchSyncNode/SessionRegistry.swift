import BranchSyncCore
import Synchronization

/// The hub's live sessions: at most one per site, and a way to wake them all when new changes arrive so they push
/// at once (live mode, no polling between nodes).
public final class SessionRegistry: Sendable {
    private struct Entry {
        var wake: WakeSignal
        var address: String
    }

    private let entries = Mutex<[SiteID: Entry]>([:])

    public init() {}

    /// Registers a session for `site`.
    /// - Returns: `nil` on success, or the address of the session already open for that site.
    func register(_ site: SiteID, wake: WakeSignal, address: String) -> String? {
        entries.withLock { entries in
            if let existing = entries[site] { return existing.address }
            entries[site] = Entry(wake: wake, address: address)
            return nil
        }
    }

    /// Removes `site`'s session if it is the one with `wake`.
    func unregister(_ site: SiteID, wake: WakeSignal) {
        entries.withLock { entries in
            if entries[site]?.wake === wake { entries[site] = nil }
        }
    }

    /// Wakes every session (new local changes to push, or shutdown).
    public func wakeAll() {
        let wakes = entries.withLock { $0.values.map(\.wake) }
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
