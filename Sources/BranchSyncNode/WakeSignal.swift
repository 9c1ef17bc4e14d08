@preconcurrency import Glibc

/// A self-pipe that wakes a session thread blocked in `poll` (new local changes, shutdown).
public final class WakeSignal: Sendable {
    let readFD: Int32
    let writeFD: Int32

    public init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe() failed: \(String(cString: strerror(errno)))")
        readFD = fds[0]
        writeFD = fds[1]
        Socket.setNonBlocking(readFD)
        Socket.setNonBlocking(writeFD)
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    /// Wakes the waiting thread (a full pipe already means "woken").
    public func signal() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    /// Empties the pipe after waking.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readFD, &buffer, buffer.count) > 0 {}
    }
}
