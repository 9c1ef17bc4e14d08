import Foundation
@preconcurrency import Glibc

/// Tells a running `branchsync run` that another process (the CLI) committed a change, so it goes out at once
/// (DESIGN.md §3). A Unix datagram socket in the data directory; a lost poke only delays a change until the
/// daemon's next check of the log, it never loses one.
public final class LocalChangeSignal: Sendable {
    /// The socket's file name inside the data directory.
    public static let fileName = "branchsync.sock"

    private let fd: Int32
    private let path: String
    private let stop = StopSignal()
    private let finished = DispatchSemaphore(value: 0)

    /// Binds the socket in `directory` and calls `onPoke` on a background thread for each poke.
    /// - Throws: ``NodeError`` if the socket cannot be bound (the daemon then relies on its periodic check).
    public init(directory: String, onPoke: @escaping @Sendable () -> Void) throws {
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0, var address = Self.address(path) else {
            if fd >= 0 { Glibc.close(fd) }
            throw NodeError("cannot create the local change socket at \(path)", code: .configuration)
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let reason = Socket.errnoText()
            Glibc.close(fd)
            throw NodeError("cannot bind the local change socket at \(path): \(reason)", code: .configuration)
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        Thread.detachNewThread { [fd, stop, finished] in
            var byte: UInt8 = 0
            while !stop.isStopped {
                if recv(fd, &byte, 1, 0) > 0 { onPoke() }
            }
            finished.signal()
        }
    }

    /// Stops listening and removes the socket file.
    public func close() {
        stop.stop()
        finished.wait()
        Glibc.close(fd)
        unlink(path)
    }

    /// Pokes the daemon of the node in `directory`, if one is listening. Never fails: without a daemon there is
    /// nothing to tell.
    public static func poke(directory: String) {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard var address = address(path) else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { Glibc.close(fd) }
        var byte: UInt8 = 1
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, &byte, 1, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    /// A `sockaddr_un` for `path`, or `nil` if the path is too long for one (108 bytes on Linux).
    private static func address(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }
}
