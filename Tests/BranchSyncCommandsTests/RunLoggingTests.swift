import Foundation
import Testing

/// `run --log-file`, `--log-format json` and SIGHUP, on the built binary.
@Suite(.serialized) struct RunLoggingTests {
    func text(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// Whether the daemon's process still runs: its `/proc` entry exists and it is not a zombie. (`Process.isRunning`
    /// can lag behind a death by signal.)
    func isAlive(_ daemon: Daemon) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(daemon.process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.range(of: ") ", options: .backwards)
        else { return false }
        return !["Z", "X"].contains(stat[close.upperBound...].prefix(1))
    }

    /// logrotate renames the file and sends SIGHUP: the daemon keeps running, says so in one line in a new file at
    /// the same path, and applies a changed `verbose` from the config file while naming what needs a restart.
    @Test func sighupReopensTheLogFileAndReReadsTheConfig() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: data)
        let log = directory.file("hub.log")
        let config = directory.write(
            "branchsync.conf", "data = \(data)\nlisten = 127.0.0.1:0\nlog-file = \(log)\n")
        let hub = try Daemon(
            ["--config", config, "run", "--port-file", directory.file("port")], data: data,
            log: directory.file("hub.out"))
        defer { hub.terminate() }
        #expect(
            portWritten(to: directory.file("port")) != nil, "the hub did not start: \(text(directory.file("hub.out")))")
        #expect(waitUntil(timeout: 20) { text(log).contains(" info hub listening ") }, "\(text(log))")
        #expect(!text(directory.file("hub.out")).contains("hub listening"), "log lines went to standard error")

        let rotated = directory.file("hub.log.1")
        try FileManager.default.moveItem(atPath: log, toPath: rotated)
        #expect(kill(hub.process.processIdentifier, SIGHUP) == 0)
        #expect(
            waitUntil(timeout: 20) {
                text(log).contains(" info SIGHUP: log reopened and config re-read log-file=\(log) config=\(config) ")
            }, "no reopen line in the new file: \(text(log)) / rotated: \(text(rotated))")
        #expect(isAlive(hub), "SIGHUP ended the daemon")
        #expect(!text(rotated).contains("SIGHUP"))
        #expect(text(log).contains("applied=nothing changed needs-restart=nothing"), "\(text(log))")

        try "data = \(data)\nlisten = 127.0.0.1:1\nlog-file = \(log)\nverbose = true\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        #expect(kill(hub.process.processIdentifier, SIGHUP) == 0)
        #expect(
            waitUntil(timeout: 20) { text(log).contains("applied=verbose=true needs-restart=listen") }, "\(text(log))")

        // A file whose values would not start is reported now, not at the next restart.
        try "data = \(data)\nlisten = nowhere\nlog-file = \(log)\nverbose = true\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        #expect(kill(hub.process.processIdentifier, SIGHUP) == 0)
        #expect(
            waitUntil(timeout: 20) {
                text(log).contains(
                    " error SIGHUP: log settings applied, but a restart with this config file would fail ")
                    && text(log).contains("error=--listen: 'nowhere' is not HOST:PORT")
            }, "\(text(log))")

        // A file that is wrong now is reported and changes nothing; the daemon runs on.
        try "data = \(data)\nlisten 127.0.0.1:1\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(kill(hub.process.processIdentifier, SIGHUP) == 0)
        #expect(
            waitUntil(timeout: 20) {
                text(log).contains(
                    " error SIGHUP: log reopened; the config file was not applied, the running settings stay ")
                    && text(log).contains("error=\(config):2: expected 'key = value', got 'listen 127.0.0.1:1'")
            }, "\(text(log))")
        #expect(isAlive(hub))
        hub.process.terminate()
        hub.process.waitUntilExit()
        #expect(hub.process.terminationReason == .exit && hub.process.terminationStatus == 0)
        #expect(text(log).contains(" info shutting down"), "\(text(log))")
    }

    /// Without a config file SIGHUP still reopens the log, and says there was nothing to re-read.
    @Test func sighupWithoutAConfigFileReopensTheLog() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: data)
        let log = directory.file("hub.log")
        let hub = try Daemon(
            ["run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port"), "--log-file", log], data: data,
            log: directory.file("hub.out"))
        defer { hub.terminate() }
        #expect(portWritten(to: directory.file("port")) != nil)
        #expect(waitUntil(timeout: 20) { text(log).contains("hub listening") })
        try FileManager.default.moveItem(atPath: log, toPath: directory.file("hub.log.1"))
        #expect(kill(hub.process.processIdentifier, SIGHUP) == 0)
        #expect(waitUntil(timeout: 20) { text(log).contains("SIGHUP: log reopened (no config file to re-read)") })
        #expect(isAlive(hub))
    }

    /// With `--log-format json` every line of the hub and of a branch is one JSON object whose keys start with time
    /// and level; session lines carry site, peer and session before the message.
    @Test func jsonLinesParseWithTheRequiredKeys() throws {
        let directory = TemporaryDirectory()
        let hubData = directory.file("hq")
        let branchData = directory.file("bj01")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: hubData)
        _ = cli(["site", "add", "bj01", "--secret-file", directory.file("bj01.secret")], data: hubData)
        let hubLog = directory.file("hub.log")
        let hub = try Daemon(
            [
                "run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port"), "--log-file", hubLog,
                "--log-format", "json",
            ], data: hubData, log: directory.file("hub.out"))
        defer { hub.terminate() }
        let port = try #require(portWritten(to: directory.file("port")), "the hub did not start")
        initBranch("bj01", data: branchData, port: port, directory: directory)
        let branchLog = directory.file("bj01.log")
        let branch = try Daemon(
            ["run", "--log-file", branchLog, "--log-format", "json", "--verbose"], data: branchData,
            log: directory.file("bj01.out"))
        defer { branch.terminate() }
        #expect(waitUntil(timeout: 30) { text(hubLog).contains("\"message\":\"session started\"") }, "\(text(hubLog))")
        #expect(waitUntil(timeout: 30) { text(branchLog).contains("\"message\":\"connected to hub\"") })

        for (log, site, peer) in [(hubLog, "hq", "bj01"), (branchLog, "bj01", "hq")] {
            let lines = text(log).split(separator: "\n").map(String.init)
            #expect(!lines.isEmpty)
            var sessionLines = 0
            for line in lines {
                #expect(line.hasPrefix("{\"time\":\""), "\(line)")
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "\(line)")
                #expect(object["time"].flatMap { ISO8601DateFormatter.fractional.date(from: $0) } != nil, "\(line)")
                #expect(["debug", "info", "warning", "error"].contains(object["level"] ?? ""), "\(line)")
                #expect(object["message"]?.isEmpty == false, "\(line)")
                // A branch's lines before it has a session (a retry) have no site yet.
                #expect(object["site"] == site || (log == branchLog && object["site"] == nil), "\(line)")
                guard object["peer"] != nil else { continue }
                sessionLines += 1
                #expect(object["site"] == site && object["peer"] == peer && object["session"] != nil, "\(line)")
                let keys = ["\"level\":", "\"site\":", "\"peer\":", "\"session\":", "\"message\":"]
                let positions = keys.compactMap { line.range(of: $0)?.lowerBound }
                #expect(positions.count == keys.count && positions == positions.sorted(), "\(line)")
            }
            #expect(sessionLines > 0, "no session line in \(log)")
        }
    }
}

extension ISO8601DateFormatter {
    /// `2026-11-02T08:00:00.123Z`, as JSON log lines write their time.
    static var fractional: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
