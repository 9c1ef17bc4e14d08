import BranchSyncCore
import BranchSyncStore
import BranchSyncTestSupport
import Foundation
import Synchronization
import Testing

@testable import BranchSyncNode

/// The metrics responder and collector under pressure: one client address cannot take every connection, threads
/// that do not start leave no slot or descriptor behind, a scrape loop causes at most one collection a second, a
/// health check does not wait behind a collection, and a branch's loop goes stale when it stops turning.
@Suite struct MetricsResponderTests {
    /// A started responder answering every request 200 `ok`.
    static func responder(_ limits: HTTPResponder.Limits, startThread: HTTPResponder.ThreadStarter? = nil) throws
        -> HTTPResponder
    {
        let responder = try HTTPResponder(
            host: "127.0.0.1", port: 0, limits: limits, logger: .silent,
            startThread: startThread ?? HTTPResponder.startDetachedThread
        ) { _ in .text(200, "ok") }
        try responder.start()
        return responder
    }

    /// A socket bound to `source` (any 127.x.y.z is this machine) and connected to 127.0.0.1:`port`, with a 10 s
    /// receive timeout; -1 when that fails.
    static func connect(_ port: UInt16, from source: String = "127.0.0.1") -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func address(_ host: String, _ port: UInt16) -> sockaddr_in {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr(host)
            return address
        }
        var local = address(source, 0)
        var remote = address("127.0.0.1", port)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 }
        }
        let connected =
            bound
            && withUnsafePointer(to: &remote) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) == 0 }
            }
        guard connected else {
            close(fd)
            return -1
        }
        return fd
    }

    static func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// What the server sends until it closes; `nil` when it does not close within the receive timeout.
    static func readToEnd(_ fd: Int32) -> String? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { return String(decoding: received, as: UTF8.self) }
            if count < 0 { return errno == ECONNRESET ? String(decoding: received, as: UTF8.self) : nil }
            received.append(contentsOf: buffer[0..<count])
        }
    }

    /// One whole request from `source`, and the answer.
    static func request(_ port: UInt16, from source: String = "127.0.0.1") -> String? {
        let fd = connect(port, from: source)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        return readToEnd(fd)
    }

    static let partialHead = "GET /metrics HTTP/1.1\r\nHost: x\r\n"

    @Test func oneAddressCannotTakeEveryConnection() throws {
        var limits = HTTPResponder.Limits()
        limits.maximumConnections = 16
        limits.maximumConnectionsPerAddress = 4
        limits.requestTimeout = 60
        let responder = try Self.responder(limits)
        defer { responder.stop() }
        let port = responder.port

        // Four slow connections from 127.0.0.1 are served (they wait for the rest of their request)…
        let held = (0..<4).map { _ in Self.connect(port) }
        defer { held.forEach { close($0) } }
        #expect(held.allSatisfy { $0 >= 0 })
        for fd in held { Self.send(fd, Self.partialHead) }
        #expect(eventually { responder.activeConnections == 4 })
        // …and every further one from that address is refused at once, while slots are free for others.
        for _ in 0..<12 {
            let fd = Self.connect(port)
            defer { close(fd) }
            Self.send(fd, Self.partialHead)
            let answer = Self.readToEnd(fd)
            #expect(answer?.hasPrefix("HTTP/1.1 503 ") == true, "\(answer ?? "no answer within 10 s")")
            #expect(answer?.contains("busy: too many metrics connections from 127.0.0.1") == true)
        }
        #expect(responder.activeConnections == 4)
        // Another address (a health probe, another scraper) is answered.
        let other = Self.request(port, from: "127.0.0.2")
        #expect(other?.hasPrefix("HTTP/1.1 200 ") == true, "\(other ?? "no answer")")

        // When the slow clients leave, their slots are free again.
        held.forEach { shutdown($0, Int32(SHUT_WR)) }
        #expect(eventually { responder.activeConnections == 0 })
        #expect(Self.request(port)?.hasPrefix("HTTP/1.1 200 ") == true)
    }

    /// Counts the threads a starter started, and refuses any after the first `allowed` workers.
    final class LimitedStarter: Sendable {
        let workersStarted = Mutex(0)
        let allowed: Int
        init(allowed: Int) { self.allowed = allowed }

        var starter: HTTPResponder.ThreadStarter {
            { [self] name, body in
                if name.hasPrefix("metrics-http") {
                    let admitted = workersStarted.withLock { started in
                        guard started < allowed else { return false }
                        started += 1
                        return true
                    }
                    guard admitted else { return false }
                }
                return HTTPResponder.startDetachedThread(name: name, body: body)
            }
        }
    }

    @Test func threadsThatCannotStartLeaveNoSlotOrDescriptorBehind() throws {
        var limits = HTTPResponder.Limits()
        limits.maximumConnections = 16
        limits.maximumConnectionsPerAddress = 16
        limits.requestTimeout = 60
        let limited = LimitedStarter(allowed: 2)
        let responder = try Self.responder(limits, startThread: limited.starter)
        defer { responder.stop() }
        let port = responder.port

        // Two workers started, so two connections are served; the third is refused and closed, not left waiting.
        let held = (0..<2).map { _ in Self.connect(port) }
        defer { held.forEach { close($0) } }
        for fd in held { Self.send(fd, Self.partialHead) }
        #expect(eventually { responder.activeConnections == 2 })
        let refused = Self.connect(port)
        defer { close(refused) }
        let answer = Self.readToEnd(refused)
        #expect(answer?.hasPrefix("HTTP/1.1 503 ") == true, "\(answer ?? "no answer within 10 s")")
        #expect(responder.activeConnections == 2)
        held.forEach { shutdown($0, Int32(SHUT_WR)) }
        #expect(eventually { responder.activeConnections == 0 })
        #expect(Self.request(port)?.hasPrefix("HTTP/1.1 200 ") == true)

        // Not one thread: start fails, and the port is given up.
        let none = try HTTPResponder(
            host: "127.0.0.1", port: 0, limits: limits, logger: .silent, startThread: { _, _ in false }
        ) { _ in .text(200, "ok") }
        #expect(throws: NodeError.self) { try none.start() }
        #expect(Self.connect(none.port) == -1, "the listening socket was left open")
    }

    /// A branch node's data directory in `directory`, and a collector reading it on a clock the test moves.
    final class FakeClock: Sendable {
        let now = Atomic<UInt64>(1_000_000)
        func advance(_ milliseconds: UInt64) { now.add(milliseconds, ordering: .relaxed) }
    }

    static func branchNode(_ directory: TemporaryDirectory) throws -> NodeStore {
        try NodeStore.initialize(
            directory: directory.file("bj01"), identity: NodeIdentity(site: try SiteID("bj01"), role: .branch),
            actor: AuditActor(user: "tester", origin: "test"))
    }

    @Test func scrapesWithinASecondReuseOneCollection() throws {
        let directory = TemporaryDirectory()
        let store = try Self.branchNode(directory)
        let clock = FakeClock()
        let collector = MetricsCollector(
            directory: directory.file("bj01"), role: .branch, activity: NodeActivity(), registry: nil,
            software: "test", uptime: { clock.now.load(ordering: .relaxed) })
        let live = #"branchsync_records{collection="customers",state="live"} "#
        let first = try collector.scrape()
        #expect(first.contains(live + "0\n"), "\(first)")
        _ = try store.create(.customers, values: customer("110001"))

        // A client looping on /metrics within the second gets the same rendering: no second scan.
        clock.advance(999)
        #expect(try collector.scrape() == first)
        #expect(collector.collectionCount == 1)
        clock.advance(1)
        let second = try collector.scrape()
        #expect(second.contains(live + "1\n"), "\(second)")
        #expect(collector.collectionCount == 2)
    }

    @Test func aHealthCheckDoesNotWaitBehindACollection() throws {
        let directory = TemporaryDirectory()
        _ = try Self.branchNode(directory)
        let activity = NodeActivity()
        activity.noteLoopAlive()
        let collector = MetricsCollector(
            directory: directory.file("bj01"), role: .branch, activity: activity, registry: nil, software: "test")
        let collecting = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let collectionDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? collector.whileCollecting {
                collecting.signal()
                release.wait()
            }
            collectionDone.signal()
        }
        collecting.wait()
        let answered = DispatchSemaphore(value: 0)
        let report = Mutex("")
        Thread.detachNewThread {
            let health = collector.health()
            report.withLock { $0 = health.report }
            answered.signal()
        }
        let quick = answered.wait(timeout: .now() + 5) == .success
        release.signal()
        collectionDone.wait()
        #expect(quick, "/healthz waited for the collection")
        if !quick { answered.wait() }
        #expect(report.withLock { $0 }.hasPrefix("ok\nstore: ok"), "\(report.withLock { $0 })")
    }

    @Test func aBranchLoopThatStopsTurningGoesStale() throws {
        let stale = MetricsCollector.loopStaleAfter(role: .branch)
        #expect(stale >= 30 && stale <= 120)
        let activity = NodeActivity()
        activity.noteLoopAlive(now: 5_000)
        #expect(activity.loopProblem(staleAfter: stale, now: 5_000 + UInt64(stale * 1000) - 1_000) == nil)
        #expect(
            activity.loopProblem(staleAfter: stale, now: 5_000 + UInt64(stale * 1000) + 1_000)
                == "the sync loop has not turned for \(Int(stale) + 1) s")
        activity.noteLoopAlive(now: 5_000 + UInt64(stale * 1000))
        #expect(activity.loopProblem(staleAfter: stale, now: 5_000 + UInt64(stale * 1000) + 1_000) == nil)

        // The branch's health check applies the bound: a loop last alive long ago is unhealthy.
        let directory = TemporaryDirectory()
        _ = try Self.branchNode(directory)
        let old = NodeActivity()
        let now = Clock.uptimeMilliseconds()
        try #require(now > UInt64(stale * 1000) + 2_000, "the machine has been up for less than the bound")
        old.noteLoopAlive(now: now - UInt64(stale * 1000) - 2_000)
        let collector = MetricsCollector(
            directory: directory.file("bj01"), role: .branch, activity: old, registry: nil, software: "test")
        let health = collector.health()
        #expect(!health.healthy)
        #expect(health.report.contains("sync loop: the sync loop has not turned for"), "\(health.report)")
    }

    @Test func aConnectedBranchNotesItsLoopAliveThroughoutTheSession() throws {
        let cluster = try Cluster(branches: [("bj01", .internal)])
        let client = cluster.startLive("bj01")
        #expect(cluster.eventually { client.activity.isConnected })
        let connectedAt = client.activity.lastAliveUptime
        // Pings every 0.5 s keep the session stepping; each step notes the loop alive without a reconnect.
        #expect(
            cluster.eventually {
                client.activity.lastAliveUptime > connectedAt + 1_500 && client.activity.isConnected
            }, "the branch's loop was not noted alive during its session")
        #expect(cluster.capture.entries.filter { $0.contains("connected to hub") }.count == 1)
    }
}
