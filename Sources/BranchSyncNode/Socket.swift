@preconcurrency import Glibc

/// Thin wrappers over POSIX TCP sockets (Glibc). Every descriptor returned is non-blocking.
enum Socket {
    /// Splits `HOST:PORT` (IPv6 as `[::1]:PORT`).
    static func parseAddress(_ text: String) throws -> (host: String, port: UInt16) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw NodeError("'\(text)' is not HOST:PORT", code: .configuration)
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    private static func resolve(_ host: String, _ port: UInt16, passive: Bool) throws -> UnsafeMutablePointer<addrinfo>
    {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        if passive { hints.ai_flags = AI_PASSIVE }
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let result else {
            throw NodeError("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        return result
    }

    /// Listens on `host:port` (port 0: any free port).
    /// - Returns: the listening descriptor and the port actually bound.
    static func listen(host: String, port: UInt16) throws -> (fd: Int32, port: UInt16) {
        let info = try resolve(host, port, passive: true)
        defer { freeaddrinfo(info) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw NodeError("socket() failed: \(errnoText())") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let text = errnoText()
            close(fd)
            throw NodeError("cannot listen on \(host):\(port): \(text)", code: .configuration)
        }
        guard Glibc.listen(fd, 512) == 0 else {
            let text = errnoText()
            close(fd)
            throw NodeError("listen() failed: \(text)", code: .configuration)
        }
        setNonBlocking(fd)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, boundPort(storage))
    }

    /// What one `accept` gave.
    enum Accepted {
        /// A connection, non-blocking, from `host` (numeric) and `port`.
        case connection(fd: Int32, host: String, port: String)
        /// Nothing is waiting.
        case none
        /// The process (or system) is out of file descriptors; the connection waits in the backlog.
        case outOfDescriptors
        /// Another failure (the peer reset before it was accepted, …); try again.
        case failed(String)
    }

    /// Accepts one pending connection.
    static func accept(_ listener: Int32) -> Accepted {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener, $0, &length) }
        }
        guard fd >= 0 else {
            switch errno {
            case EAGAIN, EWOULDBLOCK: return .none
            case EMFILE, ENFILE, ENOBUFS, ENOMEM: return .outOfDescriptors
            default: return .failed(errnoText())
            }
        }
        setNonBlocking(fd)
        setNoDelay(fd)
        let (host, port) = describe(storage)
        return .connection(fd: fd, host: host, port: port)
    }

    /// Connects to `host:port`, waiting at most `timeout` seconds.
    static func connect(host: String, port: UInt16, timeout: Double) throws -> Int32 {
        let info = try resolve(host, port, passive: false)
        defer { freeaddrinfo(info) }
        var lastError = "no address"
        var current: UnsafeMutablePointer<addrinfo>? = info
        while let entry = current {
            current = entry.pointee.ai_next
            let fd = socket(entry.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { continue }
            setNonBlocking(fd)
            if Glibc.connect(fd, entry.pointee.ai_addr, entry.pointee.ai_addrlen) == 0 {
                setNoDelay(fd)
                return fd
            }
            if errno == EINPROGRESS {
                var pollFD = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&pollFD, 1, Int32(timeout * 1000)) == 1 {
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    if error == 0 {
                        setNoDelay(fd)
                        return fd
                    }
                    lastError = String(cString: strerror(error))
                } else {
                    lastError = "timed out after \(timeout) s"
                }
            } else {
                lastError = errnoText()
            }
            close(fd)
        }
        throw NodeError("cannot connect to \(host):\(port): \(lastError)", code: .connection)
    }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    static func setNoDelay(_ fd: Int32) {
        var yes: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Closes a refused connection after reading what the peer already sent: closing with unread input makes the
    /// kernel reset the connection, which can destroy the `ERROR` frame just written before the peer reads it.
    static func closeAfterDraining(_ fd: Int32) {
        _ = shutdown(fd, Int32(SHUT_WR))
        var buffer = [UInt8](repeating: 0, count: 16_384)
        for _ in 0..<64 where recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) > 0 {}
        close(fd)
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    private static func boundPort(_ storage: sockaddr_storage) -> UInt16 {
        var copy = storage
        return withUnsafePointer(to: &copy) { pointer in
            if storage.ss_family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    UInt16(bigEndian: $0.pointee.sin6_port)
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                UInt16(bigEndian: $0.pointee.sin_port)
            }
        }
    }

    private static func describe(_ storage: sockaddr_storage) -> (host: String, port: String) {
        var copy = storage
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let rc = withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo(
                    $0, socklen_t(MemoryLayout<sockaddr_storage>.size), &host, socklen_t(host.count), &service,
                    socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard rc == 0 else { return ("?", "?") }
        func text(_ chars: [CChar]) -> String {
            String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return (text(host), text(service))
    }
}
