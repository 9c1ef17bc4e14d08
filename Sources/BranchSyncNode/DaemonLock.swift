import Foundation
@preconcurrency import Glibc

/// Makes sure only one `branchsync run` uses a data directory: an exclusive `flock` on `run.lock`, released by
/// the kernel when the process ends, however it ends.
public final class DaemonLock: Sendable {
    private let fd: Int32

    /// Takes the lock for `directory`.
    /// - Throws: ``NodeError`` naming the process that holds it.
    public init(directory: String) throws {
        let path = (directory as NSString).appendingPathComponent("run.lock")
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NodeError("cannot open \(path): \(Socket.errnoText())", code: .configuration) }
        // A command probing the lock (``isHeld(directory:)``) holds it shared for an instant: retry for a moment
        // before taking it for another daemon's.
        var locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        for _ in 0..<20 where !locked {
            usleep(10_000)
            locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        }
        guard locked else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &buffer, buffer.count, 0)
            let holder = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            Glibc.close(fd)
            throw NodeError(
                "another 'branchsync run' is already using \(directory)"
                    + (holder.isEmpty ? "" : " (process \(holder))") + "; stop it first", code: .configuration)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
    }

    deinit { Glibc.close(fd) }
}

extension DaemonLock {
    /// Whether a `branchsync run` holds the lock of `directory` now (then its sessions do the syncing).
    public static func isHeld(directory: String) -> Bool {
        let path = (directory as NSString).appendingPathComponent("run.lock")
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        guard flock(fd, LOCK_SH | LOCK_NB) == 0 else { return true }
        flock(fd, LOCK_UN)
        return false
    }
}
