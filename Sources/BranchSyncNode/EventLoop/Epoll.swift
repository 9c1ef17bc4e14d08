import CLinux
@preconcurrency import Glibc

/// A thin owner of one epoll instance (level-triggered). Each registered descriptor carries a 64-bit token the
/// caller chooses.
final class Epoll {
    /// Readiness of one descriptor.
    struct Event {
        var token: UInt64
        var readable: Bool
        var writable: Bool
        /// Hang-up or error: the descriptor is done.
        var closed: Bool
    }

    private let fd: Int32
    private var buffer: [epoll_event]

    /// - Throws: ``NodeError`` when the kernel refuses (out of descriptors).
    init(capacity: Int = 256) throws {
        fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw NodeError("cannot create an epoll instance: \(Socket.errnoText())") }
        buffer = Array(repeating: epoll_event(), count: capacity)
    }

    deinit { close(fd) }

    /// Watches `descriptor` for reading, and for writing when `writable`.
    func add(_ descriptor: Int32, token: UInt64, writable: Bool = false) throws {
        try control(EPOLL_CTL_ADD, descriptor, token: token, writable: writable)
    }

    /// Changes what `descriptor` is watched for.
    func modify(_ descriptor: Int32, token: UInt64, writable: Bool) throws {
        try control(EPOLL_CTL_MOD, descriptor, token: token, writable: writable)
    }

    /// Stops watching `descriptor` (before it is closed or handed to another owner).
    func remove(_ descriptor: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(fd, EPOLL_CTL_DEL, descriptor, &event)
    }

    /// Waits at most `timeoutMilliseconds` for readiness.
    func wait(timeoutMilliseconds: Int32) -> [Event] {
        let count = buffer.withUnsafeMutableBufferPointer {
            epoll_wait(fd, $0.baseAddress, Int32($0.count), timeoutMilliseconds)
        }
        guard count > 0 else { return [] }
        return (0..<Int(count)).map { index in
            let event = buffer[index]
            let flags = event.events
            return Event(
                token: event.data.u64, readable: flags & EPOLLIN.rawValue != 0,
                writable: flags & EPOLLOUT.rawValue != 0,
                closed: flags & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0)
        }
    }

    private func control(_ operation: Int32, _ descriptor: Int32, token: UInt64, writable: Bool) throws {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | (writable ? EPOLLOUT.rawValue : 0)
        event.data.u64 = token
        guard epoll_ctl(fd, operation, descriptor, &event) == 0 else {
            throw NodeError("epoll_ctl failed: \(Socket.errnoText())")
        }
    }
}
