import Testing

@testable import BranchSyncNode

/// The metrics responder's request parser: every input is a value (complete, incomplete, malformed, too large).
@Suite struct HTTPRequestHeadTests {
    static func parse(_ text: String) -> HTTPRequestHead.Parse {
        HTTPRequestHead.parse(Array(text.utf8))
    }

    @Test func aWellFormedHeadParsesWithCRLFOrLF() {
        let expected = HTTPRequestHead(method: "GET", path: "/metrics", version: "HTTP/1.1")
        #expect(Self.parse("GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n") == .complete(expected))
        #expect(Self.parse("GET /metrics?x=1 HTTP/1.1\nHost: a\n\n") == .complete(expected))
        #expect(
            Self.parse("POST /healthz HTTP/1.0\r\n\r\n")
                == .complete(HTTPRequestHead(method: "POST", path: "/healthz", version: "HTTP/1.0")))
    }

    @Test func aHeadArrivesInPieces() {
        let text = Array("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        for cut in 0..<text.count {
            #expect(HTTPRequestHead.parse(Array(text[..<cut])) == .incomplete, "cut at \(cut)")
        }
        #expect(HTTPRequestHead.parse(text) != .incomplete)
    }

    @Test func brokenHeadsAreMalformedAndLongOnesTooLarge() {
        for text in [
            "garbage\r\n\r\n", "GET /metrics\r\n\r\n", "GET metrics HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /metrics HTTP/2.0\r\nHost: a\r\n\r\n", "GET /metrics HTTP/1.1\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n", "G(T /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nHost: a\u{1}b\r\n\r\n", "\r\n\r\n",
        ] {
            guard case .malformed = Self.parse(text) else {
                Issue.record("not malformed: \(text.debugDescription)")
                continue
            }
        }
        let filler = String(repeating: "a", count: HTTPRequestHead.maximumSize)
        #expect(Self.parse("GET /metrics HTTP/1.1\r\nX: \(filler)") == .tooLarge)
        #expect(Self.parse("GET /metrics HTTP/1.1\r\nHost: a\r\nX: \(filler)\r\n\r\n") == .tooLarge)
        #expect(HTTPRequestHead.parse((0..<9_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }) == .tooLarge)
    }

    @Test func routesAnswer404And405AndHealthFails503WithoutADatabase() {
        let collector = MetricsCollector(
            directory: "/nonexistent/branchsync", role: .hub, activity: NodeActivity(), registry: nil,
            software: "test")
        func answer(_ method: String, _ path: String) -> HTTPResponse {
            MetricsServer.respond(
                to: HTTPRequestHead(method: method, path: path, version: "HTTP/1.1"), collector: collector,
                logger: .silent)
        }
        #expect(answer("GET", "/nope").status == 404)
        let post = answer("POST", "/metrics")
        #expect(post.status == 405)
        #expect(post.headers.contains { $0 == ("Allow", "GET") })
        let health = answer("GET", "/healthz")
        #expect(health.status == 503)
        #expect(health.body.hasPrefix("unhealthy\nstore: "), "\(health.body)")
        #expect(health.body.contains("sync loop: the sync loop has not started"), "\(health.body)")
        #expect(answer("GET", "/metrics").status == 500)
        let bytes = String(decoding: post.bytes, as: UTF8.self)
        #expect(bytes.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"))
        #expect(bytes.contains("\r\nConnection: close\r\n"))
    }

    @Test func aHubLoopThatEndedOrStalledIsUnhealthy() {
        let activity = NodeActivity()
        #expect(activity.loopProblem(staleAfter: 30) == "the sync loop has not started")
        activity.noteLoopAlive()
        #expect(activity.loopProblem(staleAfter: 30) == nil)
        #expect(activity.loopProblem(staleAfter: nil) == nil)
        activity.noteLoopEnded()
        #expect(activity.loopProblem(staleAfter: nil) == "the sync loop has ended")
    }
}
