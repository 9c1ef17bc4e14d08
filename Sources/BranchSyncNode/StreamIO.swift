@preconcurrency import Glibc

/// One non-blocking read or write on a connection, through TLS when it has a session, else on the plain socket.
/// Shared by the hub's gate and ``FramedConnection``.
enum StreamIO {
    /// Reads what the socket (or TLS) has now.
    static func read(fd: Int32, tls: TLSSession?, into buffer: UnsafeMutableRawBufferPointer) -> TLSSession.IOResult {
        if let tls { return tls.read(into: buffer) }
        while true {
            let count = recv(fd, buffer.baseAddress, buffer.count, 0)
            if count > 0 { return .transferred(count) }
            if count == 0 { return .closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
            return .failed(Socket.errnoText())
        }
    }

    /// Writes as much of `buffer` as the socket (or TLS) takes now.
    static func write(fd: Int32, tls: TLSSession?, _ buffer: UnsafeRawBufferPointer) -> TLSSession.IOResult {
        if let tls { return tls.write(buffer) }
        while true {
            let count = send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            if count > 0 { return .transferred(count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return .wouldBlock }
            return .failed(Socket.errnoText())
        }
    }
}
