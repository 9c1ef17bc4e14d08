import CLinux
@preconcurrency import Glibc

/// An eventfd that wakes a thread blocked in `poll` or `epoll_wait` (new changes, new sessions, shutdown): the hub's
/// session loop has one for all its sessions, a branch one for its session.
public final class WakeSignal: Sendable {
    let readFD: Int32

    /// - Throws: ``NodeError`` when the process is out of file descriptors: the caller refuses that one connection
    ///   and keeps serving the others.
    public init() throws {
        let fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard fd >= 0 else {
            throw NodeError("cannot create a wake signal: \(Socket.errnoText())", code: .transient)
        }
        readFD = fd
    }

    deinit {
        close(readFD)
    }

    /// Wakes the waiting thread (a counter already set means "woken").
    public func signal() {
        var one: UInt64 = 1
        _ = write(readFD, &one, 8)
    }

    /// Resets the signal after waking.
    func drain() {
        var value: UInt64 = 0
        _ = read(readFD, &value, 8)
    }
}
