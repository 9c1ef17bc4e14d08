/// One HTTP/1.1 response of the metrics responder: always with `Content-Length` and `Connection: close`.
struct HTTPResponse: Sendable, Equatable {
    var status: Int
    var headers: [(String, String)]
    var body: String

    init(status: Int, contentType: String = "text/plain; charset=utf-8", headers: [(String, String)] = [], body: String)
    {
        self.status = status
        self.headers = [("Content-Type", contentType)] + headers
        self.body = body
    }

    static func == (lhs: HTTPResponse, rhs: HTTPResponse) -> Bool {
        lhs.status == rhs.status && lhs.headers.elementsEqual(rhs.headers, by: ==) && lhs.body == rhs.body
    }

    /// A plain-text response whose body is `text` and a line feed.
    static func text(_ status: Int, _ text: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: text + "\n")
    }

    /// The reason phrase of the status codes the responder uses.
    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }

    /// The response as bytes on the wire. A `HEAD`-less responder: the body always follows.
    var bytes: [UInt8] {
        let body = Array(body.utf8)
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + body
    }
}
