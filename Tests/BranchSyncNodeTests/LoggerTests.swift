import BranchSyncNode
import BranchSyncTestSupport
import Foundation
import Testing

/// The logger's formats and its shared output: what a peer sends cannot break a line, JSON keys come in a fixed
/// order, and a change to the output reaches every copy of the logger.
@Suite struct LoggerTests {
    let time = Date(timeIntervalSince1970: 1_800_000_000.25)

    /// The hand-made time stamp of both formats is what Foundation's ISO 8601 formatter writes, to the second (text)
    /// and to the millisecond (JSON), for times from 1970 to 2200 and around a leap day.
    @Test func timeStampsMatchTheISO8601Formatter() throws {
        let seed = TestSeed.make()
        var random = SeededGenerator(seed: seed)
        let utc = try #require(TimeZone(secondsFromGMT: 0))
        var times = [0, 951_782_400, 951_868_799.999, 1_800_000_000.25, 4_102_444_800].map {
            Date(timeIntervalSince1970: $0)
        }
        times += (0..<500).map { _ in
            Date(timeIntervalSince1970: Double(Int64.random(in: 0...7_258_118_400_000, using: &random)) / 1000)
        }
        for time in times {
            let entry = LogEntry(time: time, level: .info, message: "m", metadata: [])
            let text = ISO8601DateFormatter.string(from: time, timeZone: utc, formatOptions: [.withInternetDateTime])
            let json = ISO8601DateFormatter.string(
                from: time, timeZone: utc, formatOptions: [.withInternetDateTime, .withFractionalSeconds])
            let place = "seed \(seed), time \(time.timeIntervalSince1970)"
            #expect(LogFormat.text.render(entry) == text + " info m", "\(place)")
            let line = LogFormat.json.render(entry)
            #expect(line.hasPrefix("{\"time\":\"" + json + "\","), "\(place): \(line)")
        }
    }

    @Test func jsonEscapesWhatAPeerSendsAndKeepsOneObjectPerLine() throws {
        let entry = LogEntry(
            time: time, level: .warning, message: "refused \"x\"\nforged line\\ \u{1}",
            metadata: [
                ("error", "tab\there"), ("peer", "bj01"), ("site", "hq"), ("session", "7"), ("time", "spoofed"),
                ("peer", "bj02"), ("名字", "北京"),
            ])
        let line = LogFormat.json.render(entry)
        #expect(
            line == #"{"time":"2027-01-15T08:00:00.250Z","level":"warning","site":"hq","peer":"bj02","session":"7","#
                + #""message":"refused \"x\"\nforged line\\ \u0001","error":"tab\there","field-time":"spoofed","#
                + #""名字":"北京"}"#)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["message"] == "refused \"x\"\nforged line\\ \u{1}" && object["peer"] == "bj02")
    }

    @Test func jsonLeavesOutWhatIsNotKnownAndCapsLongValues() throws {
        let line = LogFormat.json.render(
            LogEntry(
                time: time, level: .info, message: "hub listening",
                metadata: [("address", "x" + String(repeating: "y", count: 700))]))
        #expect(
            line.hasPrefix(
                #"{"time":"2027-01-15T08:00:00.250Z","level":"info","message":"hub listening","address":"xy"#))
        #expect(line.hasSuffix("y…\"}") && line.count < 700)
    }

    @Test func textIsAsBefore() {
        let line = LogFormat.text.render(
            LogEntry(
                time: time, level: .info, message: "session\nstarted", metadata: [("site", "hq"), ("peer", "b j")]))
        #expect(line == "2027-01-15T08:00:00Z info session\\u{a}started site=hq peer=b j")
    }

    @Test func theOutputsLevelAndFormatReachEveryCopy() {
        let capture = LogCapture()
        let logger = capture.logger(minimum: .info)
        let child = logger.with("site", "hq")
        child.debug("hidden")
        logger.output.configure(minimum: .debug, format: .json)
        child.debug("shown")
        #expect(capture.entries.count == 1)
        #expect(capture.entries.first?.contains(#""level":"debug","site":"hq","message":"shown"}"#) == true)
    }

    @Test func reopeningFollowsARenamedFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("a.log")
        let output = try LogOutput.file(path)
        let logger = Logger(output: output)
        logger.info("one")
        try FileManager.default.moveItem(atPath: path, toPath: directory.file("a.log.1"))
        logger.info("two")
        try output.reopen(path: path)
        logger.info("three")
        let rotated = try String(contentsOfFile: directory.file("a.log.1"), encoding: .utf8)
        let current = try String(contentsOfFile: path, encoding: .utf8)
        #expect(rotated.contains(" info one\n") && rotated.contains(" info two\n") && !rotated.contains("three"))
        #expect(current.hasSuffix(" info three\n") && current.split(separator: "\n").count == 1)
        #expect(throws: NodeError.self) { try output.reopen(path: directory.file("missing/dir.log")) }
        logger.info("four")
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasSuffix(" info four\n"))
    }
}
