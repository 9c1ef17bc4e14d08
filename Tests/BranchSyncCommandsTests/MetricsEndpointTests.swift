import BranchSyncFleet
import Foundation
import Testing

/// Issue 9, item 5, as an operator runs it: `branchsync run --metrics` on a hub and a branch serves well-formed
/// Prometheus text that follows the sync, `/healthz`, and nothing else; a slow or broken client harms nothing, and
/// the alert rules in deploy/alerts use only names a real scrape has.
@Suite(.serialized) struct MetricsEndpointTests {
    /// A hub daemon with `--metrics 127.0.0.1:0`, and branch `bj01` enrolled and initialised (not running).
    final class MetricsGroup {
        let directory = TemporaryDirectory()
        let hub: Daemon
        let port: UInt16
        let metricsPort: UInt16

        init() throws {
            _ = cli(["init", "--site", "hq", "--role", "hub"], data: directory.file("hq"))
            _ = cli(
                ["site", "add", "bj01", "--secret-file", directory.file("bj01.secret")], data: directory.file("hq"))
            hub = try Daemon(
                [
                    "run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port"), "--metrics",
                    "127.0.0.1:0", "--metrics-port-file", directory.file("metrics-port"),
                ], data: directory.file("hq"), log: directory.file("hq.log"))
            port = try #require(portWritten(to: directory.file("port")), "the hub did not start")
            metricsPort = try #require(portWritten(to: directory.file("metrics-port")), "no metrics port")
            let result = initBranch("bj01", data: directory.file("bj01"), port: port, directory: directory)
            #expect(result.status == 0, "\(result.err)")
        }

        deinit { hub.terminate() }

        var hubLog: String { (try? String(contentsOfFile: directory.file("hq.log"), encoding: .utf8)) ?? "" }
    }

    /// The samples of one scrape of `/metrics`, after checking every line against the text format.
    static func scrape(_ port: UInt16) -> [ExpositionFormat.Sample]? {
        guard let response = ScrapeClient.request(port, "/metrics"), response.status == 200 else { return nil }
        #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.headers["connection"] == "close")
        let (samples, types, problems) = ExpositionFormat.check(response.body)
        #expect(problems.isEmpty, "\(problems)\n\(response.body)")
        for sample in samples {
            #expect(sample.name.hasPrefix("branchsync_"), "\(sample.name)")
            #expect(types[sample.name] != nil, "\(sample.name) has no TYPE line")
            #expect((types[sample.name] == "counter") == sample.name.hasSuffix("_total"), "\(sample.name)")
        }
        return samples
    }

    /// The value of the sample `name` whose labels include `labels`, if there is one.
    static func value(_ samples: [ExpositionFormat.Sample]?, _ name: String, _ labels: [String: String] = [:])
        -> Double?
    {
        samples?.first { sample in
            sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value }
        }?.value
    }

    static func customer(_ code: String) -> [String] {
        ["customer", "add", "--code", code, "--name", "客户 \(code)", "--credit-code", "91110000802100433B"]
    }

    @Test func hubAndBranchScrapesAreWellFormedAndFollowTheSync() throws {
        let group = try MetricsGroup()
        let branchData = group.directory.file("bj01")
        #expect(cli(Self.customer("110105"), data: branchData).status == 0)
        let branch = try Daemon(
            ["run", "--metrics", "127.0.0.1:0", "--metrics-port-file", group.directory.file("bj01-metrics")],
            data: branchData, log: group.directory.file("bj01.log"))
        defer { branch.terminate() }
        let branchPort = try #require(portWritten(to: group.directory.file("bj01-metrics")), "no branch metrics port")

        // The hub sees the branch online, its change applied and verified, nothing waiting either way.
        var hub: [ExpositionFormat.Sample]?
        let site = ["site": "bj01"]
        let settled = waitUntil {
            hub = Self.scrape(group.metricsPort)
            return Self.value(hub, "branchsync_site_online", site) == 1
                && (Self.value(hub, "branchsync_changes_applied_total", site) ?? 0) >= 1
                && Self.value(hub, "branchsync_site_last_verify_identical", site) == 1
                && Self.value(hub, "branchsync_site_lag_changes", ["site": "bj01", "direction": "to_site"]) == 0
                && Self.value(hub, "branchsync_site_lag_changes", ["site": "bj01", "direction": "from_site"]) == 0
        }
        #expect(settled, "hub scrape: \(hub.map { "\($0)" } ?? "none")\n\(group.hubLog)")
        #expect(Self.value(hub, "branchsync_info", ["site": "hq", "role": "hub"]) == 1)
        #expect(Self.value(hub, "branchsync_records", ["collection": "customers", "state": "live"]) == 1)
        #expect(Self.value(hub, "branchsync_sessions_open") == 1)
        #expect(Self.value(hub, "branchsync_site_lag_seconds", ["site": "bj01", "direction": "to_site"]) == 0)
        #expect(Self.value(hub, "branchsync_quarantine_open", site) == 0)
        #expect(Self.value(hub, "branchsync_conflicts_open", site) == 0)
        #expect((Self.value(hub, "branchsync_open_fds") ?? 0) > 3)
        let now = Date().timeIntervalSince1970
        let seen = try #require(Self.value(hub, "branchsync_site_last_seen_seconds", site))
        #expect(seen > now - 120 && seen <= now + 1, "last seen \(seen), now \(now)")

        var branchSamples: [ExpositionFormat.Sample]?
        let branchSettled = waitUntil {
            branchSamples = Self.scrape(branchPort)
            return Self.value(branchSamples, "branchsync_hub_connected") == 1
                && Self.value(branchSamples, "branchsync_hub_pending_changes", ["direction": "to_hub"]) == 0
                && Self.value(branchSamples, "branchsync_hub_last_sync_seconds") != nil
        }
        #expect(branchSettled, "branch scrape: \(branchSamples.map { "\($0)" } ?? "none")")
        #expect(Self.value(branchSamples, "branchsync_info", ["site": "bj01", "role": "branch"]) == 1)
        #expect(Self.value(branchSamples, "branchsync_site_online") == nil, "per-site hub metrics on a branch")

        // Every scrape reads afresh: a second change shows up at the hub, and the counter counts it.
        let applied = try #require(Self.value(hub, "branchsync_changes_applied_total", site))
        #expect(cli(Self.customer("110106"), data: branchData).status == 0)
        #expect(
            waitUntil {
                let samples = Self.scrape(group.metricsPort)
                return Self.value(samples, "branchsync_records", ["collection": "customers", "state": "live"]) == 2
                    && (Self.value(samples, "branchsync_changes_applied_total", site) ?? 0) > applied
            })

        // The alert rules use only names these scrapes have.
        let names = Set(((hub ?? []) + (branchSamples ?? [])).map(\.name))
        let rules = try String(
            contentsOf: Self.repositoryRoot.appendingPathComponent("deploy/alerts/branchsync-alerts.yml"),
            encoding: .utf8)
        let expressions = rules.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("expr:") ? String(trimmed.dropFirst(5)).trimmingCharacters(in: .whitespaces) : nil
        }
        #expect(expressions.count >= 8, "\(expressions)")
        let pattern = try NSRegularExpression(pattern: "branchsync_\\w+")
        var used: Set<String> = []
        for expression in expressions {
            #expect(!["|", ">", "|-", ">-"].contains(expression), "a multi-line expr: the test reads one line each")
            for match in pattern.matches(in: expression, range: NSRange(expression.startIndex..., in: expression)) {
                if let range = Range(match.range, in: expression) { used.insert(String(expression[range])) }
            }
        }
        #expect(used.count >= 7, "\(used)")
        #expect(used.subtracting(names).isEmpty, "alert rules name metrics no scrape has: \(used.subtracting(names))")

        // The README's table documents every name a scrape has.
        let readme = try String(contentsOf: Self.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "### Metrics"))
        let rest = readme[section.upperBound...]
        let documented = rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
        for name in names.sorted() {
            #expect(documented.contains("`\(name)`"), "README 'Metrics' does not list \(name)")
        }
    }

    @Test func theEndpointAnswersOnlyWhatItServesAndOutlivesBadClients() throws {
        let group = try MetricsGroup()
        let port = group.metricsPort
        let health = try #require(ScrapeClient.request(port, "/healthz"))
        #expect(health.status == 200)
        #expect(health.body.hasPrefix("ok\n"), "\(health.body)")
        let post = try #require(ScrapeClient.request(port, "/metrics", method: "POST"))
        #expect(post.status == 405)
        #expect(post.headers["allow"] == "GET")
        #expect(try #require(ScrapeClient.request(port, "/nope")).status == 404)
        #expect(try #require(ScrapeClient.request(port, "/metrics?x=1")).status == 200)

        // Garbage, a missing Host, an oversized head: 400 (or 431), never a crash.
        // The previous connections may still count against the per-address limit for a moment after their answer
        // was read (a loaded machine): a 503 "busy" is asked again, it is not what these checks are about.
        func admittedExchange(_ raw: [UInt8], within timeout: Double = 10) -> [UInt8]? {
            var answer: [UInt8]?
            _ = eventually(timeout: timeout, poll: 0.02) {
                answer = ScrapeClient.exchange(port, raw: raw)
                return answer.flatMap(ScrapeClient.parse)?.status != 503
            }
            return answer
        }
        for raw in ["garbage\r\n\r\n", "GET /metrics HTTP/1.1\r\n\r\n", "GET metrics HTTP/1.1\r\nHost: x\r\n\r\n"] {
            let answer = admittedExchange(Array(raw.utf8))
            #expect(answer.flatMap(ScrapeClient.parse)?.status == 400, "\(raw.debugDescription)")
        }
        let binary = admittedExchange((0..<600).map { UInt8(truncatingIfNeeded: $0 &* 7919) } + [10, 10])
        #expect(
            binary.map { $0.isEmpty || ScrapeClient.parse($0)?.status == 400 } == true,
            "\(binary.map { String(decoding: $0, as: UTF8.self) } ?? "nil")")
        let huge = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Fill: " + String(repeating: "a", count: 10_000) + "\r\n\r\n"
        #expect(admittedExchange(Array(huge.utf8)).flatMap(ScrapeClient.parse)?.status == 431)

        // Slowloris: a connection that never finishes its request holds no one up, and the server closes it.
        let partial = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n".utf8)
        let one = ScrapeClient.connect(port)
        defer { close(one) }
        ScrapeClient.send(one, partial)
        // Answered while the slow client waits: a 503 "busy" from a lingering slot of the checks above is asked
        // again, for 2 s at most, well within the 5 s the slow client has before its 408 frees its slot.
        let scrape = admittedExchange(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8), within: 2)
        #expect(scrape.flatMap(ScrapeClient.parse)?.status == 200, "a scrape waited for a slow client")
        #expect(ScrapeClient.readToEnd(one).flatMap(ScrapeClient.parse)?.status == 408)
        // More of them than the responder serves at once: refused (503) or timed out (408), and scrapes work again.
        let slow = (0..<20).map { _ in ScrapeClient.connect(port) }
        defer { slow.forEach { close($0) } }
        for fd in slow { ScrapeClient.send(fd, partial) }
        var statuses: [Int?] = []
        for fd in slow {
            let answer = ScrapeClient.readToEnd(fd)
            shutdown(fd, Int32(SHUT_WR))
            #expect(answer != nil, "the server kept a slow connection open")
            statuses.append(answer.flatMap(ScrapeClient.parse)?.status)
        }
        #expect(statuses.contains(408), "\(statuses)")
        #expect(statuses.allSatisfy { $0 == 408 || $0 == 503 || $0 == nil }, "\(statuses)")
        #expect(waitUntil(timeout: 30) { ScrapeClient.request(port, "/metrics")?.status == 200 })
        #expect(group.hub.process.isRunning)
        #expect(waitUntil(timeout: 30) { ScrapeClient.request(port, "/healthz")?.body.hasPrefix("ok\n") == true })
        #expect(!group.hubLog.contains("Fatal error"), "\(group.hubLog)")
    }

    /// The grammar check itself: it accepts the format's own examples and rejects what a scraper would.
    @Test func theFormatCheckRejectsWhatAScraperWould() {
        let good = #"""
            # HELP a_total A \\ help\nline.
            # TYPE a_total counter
            a_total{path="/x",msg="q\"b\\c\nd"} 1027 1395066363000
            a_total{path="/y",} +Inf
            b NaN
            c -1.5e-3

            """#
        let checked = ExpositionFormat.check(good)
        #expect(checked.problems.isEmpty, "\(checked.problems)")
        #expect(checked.samples.first?.labels["msg"] == "q\"b\\c\nd")
        for bad in [
            "a{x=\"unterminated} 1\n", "a{x=\"a\"b\"} 1\n", "a{1x=\"v\"} 1\n", "a one\n", "9a 1\n", "a 1",
            "a{x=\"\\q\"} 1\n", "# TYPE a gauge\n# TYPE a gauge\n", "a 1\n# TYPE a gauge\n", "# TYPE a kind\n",
            "a{x=\"v\",x=\"w\"} 1\n",
        ] {
            #expect(!ExpositionFormat.check(bad).problems.isEmpty, "accepted \(bad.debugDescription)")
        }
    }

    @Test func aBadOrBusyMetricsAddressFailsRunAtStart() throws {
        let directory = TemporaryDirectory()
        let hubData = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: hubData)
        let help = cli(["run", "--help"], data: hubData).out
        #expect(help.contains("--metrics HOST:PORT") && help.contains("--metrics-port-file PATH"), "\(help)")
        #expect(help.contains("GET /healthz"), "\(help)")
        let syntax = try runBinary(["run", "--listen", "127.0.0.1:0", "--metrics", "nonsense"], data: hubData)
        #expect(syntax.status == 2)
        #expect(syntax.err.contains("--metrics: 'nonsense' is not HOST:PORT"), "\(syntax.err)")
        let orphan = try runBinary(["run", "--metrics-port-file", directory.file("p")], data: hubData)
        #expect(orphan.status == 2)
        #expect(orphan.err.contains("--metrics-port-file needs --metrics HOST:PORT"), "\(orphan.err)")

        // A port another process holds.
        let (listener, busy) = try #require(Self.listenOnLoopback())
        defer { close(listener) }
        let taken = try runBinary(["run", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:\(busy)"], data: hubData)
        #expect(taken.status == 1)
        #expect(
            taken.err.contains("--metrics: cannot listen on 127.0.0.1:\(busy): Address already in use"), "\(taken.err)")
        _ = cli(["site", "add", "bj01", "--secret-file", directory.file("bj01.secret")], data: hubData)
        initBranch("bj01", data: directory.file("bj01"), port: 9, directory: directory)
        let branch = try runBinary(["run", "--metrics", "127.0.0.1:\(busy)"], data: directory.file("bj01"))
        #expect(branch.status == 1)
        #expect(branch.err.contains("Address already in use"), "\(branch.err)")
        // An address this machine does not have (TEST-NET-1, RFC 5737).
        let foreign = try runBinary(["run", "--metrics", "192.0.2.1:9100"], data: directory.file("bj01"))
        #expect(foreign.status == 1)
        #expect(foreign.err.contains("--metrics: cannot listen on 192.0.2.1:9100: "), "\(foreign.err)")
    }

    /// A listening socket on 127.0.0.1 and its port.
    static func listenOnLoopback() -> (Int32, UInt16)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, bound else { return nil }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    /// The package's root directory (this file is in Tests/BranchSyncCommandsTests).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
}
