import BranchSyncFleet
import Foundation

/// A tiny HTTP/1.1 client over a raw loopback socket (FoundationNetworking may be missing): what the metrics tests
/// send to `branchsync run --metrics`, byte for byte.
enum ScrapeClient {
    /// One response as received.
    struct Response {
        var status: Int
        /// Header names lowercased.
        var headers: [String: String]
        var body: String
    }

    /// A connected socket to 127.0.0.1:`port` with a receive timeout of `timeout` seconds (-1 when it fails).
    static func connect(_ port: UInt16, timeout: Int = 20) -> Int32 {
        guard case .success(let fd) = FleetClients.connectLoopback(port: port) else { return -1 }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Sends all of `bytes`; false when the peer is gone.
    @discardableResult
    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    /// Everything the peer sends until it closes (or the receive timeout passes: `nil` then).
    static func readToEnd(_ fd: Int32) -> [UInt8]? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { return received }
            if count < 0 { return errno == ECONNRESET ? received : nil }
            received.append(contentsOf: buffer[0..<count])
        }
    }

    /// Sends `raw` on a new connection and reads the answer until the server closes; `nil` when the connection
    /// failed or the server never closed.
    static func exchange(_ port: UInt16, raw: [UInt8]) -> [UInt8]? {
        let fd = connect(port)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        send(fd, raw)
        return readToEnd(fd)
    }

    /// `METHOD path` as a well-formed HTTP/1.1 request, and its parsed response.
    static func request(_ port: UInt16, _ path: String, method: String = "GET") -> Response? {
        exchange(
            port, raw: Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: test\r\n\r\n".utf8)
        )
        .flatMap(parse)
    }

    /// Parses a response with `Content-Length`; `nil` when it is not one (or the body length does not match).
    static func parse(_ bytes: [UInt8]) -> Response? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, statusParts[0] == "HTTP/1.1", let status = Int(statusParts[1]) else {
            return nil
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let body = String(text[split.upperBound...])
        guard let length = headers["content-length"].flatMap(Int.init), length == body.utf8.count else { return nil }
        return Response(status: status, headers: headers, body: body)
    }
}
