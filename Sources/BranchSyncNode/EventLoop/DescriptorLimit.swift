import CLinux
import Foundation
@preconcurrency import Glibc

/// The process's file descriptor limit (`RLIMIT_NOFILE`).
public enum DescriptorLimit {
    /// Descriptors a hub connection holds, before and after login: its socket (the session loop's epoll, wake
    /// signal and SQLite connection are shared by all).
    public static let perSession = 1
    /// Descriptors kept for everything else (listener, logs, the hub's own connections).
    public static let reserved = 64

    /// Raises the soft limit to the hard limit (services often start with 1,024).
    /// - Returns: the soft limit before and after.
    @discardableResult
    public static func raiseToHardLimit() -> (before: UInt64, after: UInt64) {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (0, 0) }
        let before = UInt64(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return (before, before) }
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        guard setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 else { return (before, before) }
        return (before, UInt64(raised.rlim_cur))
    }

    /// The current soft limit.
    public static var current: UInt64 {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return UInt64(limit.rlim_cur)
    }

    /// Descriptors open in process `pid` (this process by default) as `/proc/PID/fd` lists them, or `nil` when
    /// `/proc` cannot be read. Listing this process's own counts the descriptor the listing itself uses.
    public static func inUse(pid: Int32? = nil) -> Int? {
        let path = pid.map { "/proc/\($0)/fd" } ?? "/proc/self/fd"
        return try? FileManager.default.contentsOfDirectory(atPath: path).count
    }

    /// Authenticated sessions the current limit leaves room for.
    public static var sessionCapacity: Int {
        let usable = Int(clamping: current) - reserved
        return max(1, usable / perSession)
    }
}
