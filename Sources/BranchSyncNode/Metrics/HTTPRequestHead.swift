/// The head of one HTTP/1.x request (RFC 9112 §3): what the metrics responder needs of it. A pure parser over the
/// bytes received so far, so a bad request is a value, never a crash.
struct HTTPRequestHead: Sendable, Equatable {
    /// The method token (`GET`, `POST`, …), as sent.
    var method: String
    /// The path of the request target, without its query.
    var path: String
    /// `HTTP/1.0` or `HTTP/1.1`.
    var version: String

    /// What the bytes received so far amount to.
    enum Parse: Sendable, Equatable {
        /// The head is not complete yet: read more.
        case incomplete
        case complete(HTTPRequestHead)
        /// Not HTTP/1.x, or broken: answer 400 and close. The reason is for the log.
        case malformed(String)
        /// The head goes past the limit without ending: answer 431 and close.
        case tooLarge
    }

    /// Bytes a request head may have at most (request line and headers).
    static let maximumSize = 8_192

    /// Parses the head at the start of `bytes`: request line, then header lines up to an empty line. Lines end in
    /// CRLF or, as RFC 9112 §2.2 allows a recipient to accept, a bare LF.
    static func parse(_ bytes: [UInt8], limit: Int = maximumSize) -> Parse {
        guard let end = endOfHead(bytes) else {
            return bytes.count > limit ? .tooLarge : .incomplete
        }
        guard end <= limit else { return .tooLarge }
        var lines = bytes[..<end].split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            line.last == 0x0D ? line.dropLast() : line
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let requestLine = lines.first, !requestLine.isEmpty else {
            return .malformed("empty request line")
        }
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .malformed("the request line is not METHOD TARGET VERSION") }
        guard let method = token(parts[0]) else { return .malformed("bad method") }
        let target = parts[1]
        guard target.first == 0x2F, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .malformed("the request target is not an absolute path")
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else { return .malformed("not HTTP/1.0 or HTTP/1.1") }
        var hasHost = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 0x3A), let name = token(line[line.startIndex..<colon]) else {
                return .malformed("bad header line")
            }
            guard line[line.index(after: colon)...].allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return .malformed("control character in a header value")
            }
            if name.lowercased() == "host" {
                guard !hasHost else { return .malformed("more than one Host header") }
                hasHost = true
            }
        }
        // RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without a Host header.
        if version == "HTTP/1.1" && !hasHost { return .malformed("HTTP/1.1 request without Host") }
        let pathBytes = target.prefix { $0 != 0x3F && $0 != 0x23 }
        return .complete(
            HTTPRequestHead(method: method, path: String(decoding: pathBytes, as: UTF8.self), version: version))
    }

    /// The index just past the empty line that ends the head, if it arrived.
    private static func endOfHead(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0A {
                if index + 1 < bytes.count && bytes[index + 1] == 0x0A { return index + 2 }
                if index + 2 < bytes.count && bytes[index + 1] == 0x0D && bytes[index + 2] == 0x0A {
                    return index + 3
                }
            }
            index += 1
        }
        return nil
    }

    /// `bytes` as text if it is an RFC 9110 token (method and header names), else `nil`.
    private static func token(_ bytes: ArraySlice<UInt8>) -> String? {
        guard !bytes.isEmpty else { return nil }
        let extra = Set("!#$%&'*+-.^_`|~".utf8)
        for byte in bytes {
            let alphanumeric =
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                || (byte >= 0x61 && byte <= 0x7A)
            guard alphanumeric || extra.contains(byte) else { return nil }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
