import BranchSyncCore
@preconcurrency import Glibc
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

    /// Registers a session for `site`. If one is open, waits up to `grace` seconds for it to end first: a branch
    /// that reconnects at once after its process died or its link dropped meets its own old session, which ends as
    /// soon as the hub reads the closed socket.
    /// - Returns: `nil` on success, or the address of the session still open for that site.
    func register(_ site: SiteID, wake: WakeSignal, address: String, grace: Double) -> String? {
        let deadline = Clock.uptimeMilliseconds() + UInt64(max(0, grace) * 1000)
        while true {
            let existing: Entry? = entries.withLock { entries in
                if let existing = entries[site] { return existing }
                entries[site] = Entry(wake: wake, address: address)
                return nil
            }
            guard let existing else { return nil }
            guard Clock.uptimeMilliseconds() < deadline else { return existing.address }
            existing.wake.signal()
            usleep(50_000)
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
