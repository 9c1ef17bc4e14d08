import BranchSyncCore
import BranchSyncStore
import Synchronization

/// The limits the hub enforces, by name, for the log and `status` (`Protocol.md` §7 `TRY_LATER`, DESIGN.md §14).
public enum HubLimit: String, Sendable, CaseIterable {
    /// The overall connection limit (`--max-connections`) or the process's file descriptors.
    case connections
    /// The per-address connection limit (`--max-connections-per-address`).
    case connectionsPerAddress = "connections-per-address"
    /// Failed logins made an address or site wait.
    case authThrottle = "auth-throttle"
    /// The process ran out of file descriptors.
    case fileDescriptors = "file-descriptors"
    /// A handshake missed its deadline.
    case handshakeDeadline = "handshake-deadline"
    /// An attachment over the size limit or that no record of its batch refers to.
    case attachments
    /// A branch reached its quota of quarantine rows.
    case quarantineQuota = "quarantine-quota"
}

/// Counts of limit hits since the last flush, shared by every hub thread; the hub's housekeeping writes them to the
/// store (one writer) for `status`, and logs each limit the first time and then at most every ``logInterval``.
final class LimitLedger: Sendable {
    /// A limit hit not yet flushed.
    struct Hit: Sendable, Hashable {
        var count: Int
        var lastDetail: String
        var lastAtMilliseconds: UInt64
    }

    private struct State {
        var unflushed: [HubLimit: Hit] = [:]
        /// Failed logins by claimed site since the last flush: the latest source and how many.
        var failedLogins: [SiteID: (count: Int, address: String, atMilliseconds: UInt64)] = [:]
        var lastLogged: [HubLimit: UInt64] = [:]
        var suppressed: [HubLimit: Int] = [:]
    }

    /// Milliseconds between log lines for one limit.
    static let logInterval: UInt64 = 10_000
    private let state = Mutex(State())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Counts a hit of `limit`, logging it unless it was logged within ``logInterval``.
    func hit(_ limit: HubLimit, _ detail: String, now: UInt64 = Clock.uptimeMilliseconds()) {
        let wall = Timestamp.nowMilliseconds()
        let suppressed: Int? = state.withLock { state in
            var entry = state.unflushed[limit] ?? Hit(count: 0, lastDetail: "", lastAtMilliseconds: 0)
            entry.count += 1
            entry.lastDetail = detail
            entry.lastAtMilliseconds = wall
            state.unflushed[limit] = entry
            if let last = state.lastLogged[limit], now < last + Self.logInterval {
                state.suppressed[limit, default: 0] += 1
                return nil
            }
            state.lastLogged[limit] = now
            return state.suppressed.removeValue(forKey: limit) ?? 0
        }
        if let suppressed {
            logger.warning(
                "limit reached", [("limit", limit.rawValue), ("detail", detail), ("not-logged-since", "\(suppressed)")])
        }
    }

    /// Notes a failed login for `site` (wrong proof, or no such site), for the site's line in `status`. Keeps at
    /// most ``maximumFailedLoginSites`` sites between flushes (the claimed site comes from the peer).
    func failedLogin(site: SiteID, address: String) {
        let wall = Timestamp.nowMilliseconds()
        state.withLock { state in
            guard state.failedLogins[site] != nil || state.failedLogins.count < Self.maximumFailedLoginSites else {
                return
            }
            let count = (state.failedLogins[site]?.count ?? 0) + 1
            state.failedLogins[site] = (count, address, wall)
        }
    }

    /// Sites whose failed logins are remembered between two flushes.
    static let maximumFailedLoginSites = 10_000

    /// Takes the failed logins noted since the last call.
    func takeFailedLogins() -> [SiteID: (count: Int, address: String, atMilliseconds: UInt64)] {
        state.withLock { state in
            defer { state.failedLogins = [:] }
            return state.failedLogins
        }
    }

    /// Takes the hits counted since the last call.
    func takeUnflushed() -> [HubLimit: Hit] {
        state.withLock { state in
            defer { state.unflushed = [:] }
            return state.unflushed
        }
    }

    /// Puts back hits a failed flush could not store.
    func restore(_ hits: [HubLimit: Hit]) {
        state.withLock { state in
            for (limit, hit) in hits {
                var entry = state.unflushed[limit] ?? Hit(count: 0, lastDetail: hit.lastDetail, lastAtMilliseconds: 0)
                entry.count += hit.count
                if entry.lastAtMilliseconds < hit.lastAtMilliseconds {
                    entry.lastAtMilliseconds = hit.lastAtMilliseconds
                    entry.lastDetail = hit.lastDetail
                }
                state.unflushed[limit] = entry
            }
        }
    }
}
