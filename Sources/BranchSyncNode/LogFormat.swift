import BranchSyncCore
import BranchSyncStore
import Foundation

/// One event, before it is rendered as a line.
public struct LogEntry: Sendable {
    public var time: Date
    public var level: Logger.Level
    public var message: String
    /// `site`, `peer`, `session` and the event's own fields, in the order they were added.
    public var metadata: [(String, String)]

    public init(time: Date, level: Logger.Level, message: String, metadata: [(String, String)]) {
        self.time = time
        self.level = level
        self.message = message
        self.metadata = metadata
    }
}

/// How a log line is written.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-11-02T08:00:00Z info message key=value …`: control characters escaped, for people and `grep`.
    case text
    /// One JSON object per line, keys in a fixed order: `time`, `level`, then `site`, `peer`, `session` when known,
    /// `message`, then the other metadata in the order it was added. Every value is a string. For log collectors.
    case json

    /// The line for `entry`, without its newline.
    public func render(_ entry: LogEntry) -> String {
        switch self {
        case .text: Self.text(entry)
        case .json: Self.json(entry)
        }
    }

    /// Keys that come first in a JSON line when an entry has them, in this order.
    static let leadingKeys = ["site", "peer", "session"]
    /// Keys the JSON line itself uses; metadata with one of these names is written as `field-NAME`.
    static let reservedKeys: Set<String> = ["time", "level", "message"]

    private static func text(_ entry: LogEntry) -> String {
        let stamp = timestamp(entry.time, milliseconds: false)
        // Values often come from peers (site ids, software, reasons): control characters are escaped and lengths
        // capped, so no peer can forge or flood a line.
        let fields = entry.metadata.map { "\($0.0)=\($0.1.escapedForDisplay(limit: Logger.valueLimit))" }
            .joined(separator: " ")
        return "\(stamp) \(entry.level.rawValue) \(entry.message.escapedForDisplay(limit: Logger.valueLimit))"
            + (fields.isEmpty ? "" : " " + fields)
    }

    private static func json(_ entry: LogEntry) -> String {
        let stamp = timestamp(entry.time, milliseconds: true)
        // A key given twice (a logger made `with` the same key again) keeps its first place and its last value, so
        // the object has no duplicate keys.
        var order: [String] = []
        var values: [String: String] = [:]
        for (key, value) in entry.metadata {
            let name = reservedKeys.contains(key) ? "field-" + key : key
            if values.updateValue(value, forKey: name) == nil { order.append(name) }
        }
        var members: [(String, String)] = [("time", stamp), ("level", entry.level.rawValue)]
        members += leadingKeys.compactMap { key in values[key].map { (key, $0) } }
        members.append(("message", entry.message))
        members += order.filter { !leadingKeys.contains($0) }.compactMap { key in values[key].map { (key, $0) } }
        // CanonicalJSON.quote escapes quotes, backslashes and every control character, newlines included, so one
        // event is always one line.
        return CanonicalJSON.object(members.map { ($0.0, CanonicalJSON.quote(capped($0.1))) })
    }

    /// `time` in ISO 8601 UTC (`2026-11-02T08:00:00Z`, or `…:00.250Z` with milliseconds), formatted by hand: this
    /// runs for every line, and a formatter made per line costs more than the rest of the line.
    static func timestamp(_ time: Date, milliseconds: Bool) -> String {
        let since1970 = (time.timeIntervalSince1970 * 1000).rounded()
        // Before 1970 or past year 9999 the hand formatter does not apply; no daemon logs then.
        guard since1970 >= 0, since1970 < 253_402_300_800_000 else {
            return ISO8601DateFormatter.string(
                from: time, timeZone: TimeZone(secondsFromGMT: 0) ?? .current,
                formatOptions: milliseconds ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime])
        }
        let stamp = Timestamp.iso8601(milliseconds: UInt64(since1970))
        return milliseconds ? stamp : String(stamp.dropLast(5)) + "Z"
    }

    private static func capped(_ value: String) -> String {
        guard value.unicodeScalars.count > Logger.valueLimit else { return value }
        var out = String.UnicodeScalarView(value.unicodeScalars.prefix(Logger.valueLimit))
        out.append("…")
        return String(out)
    }
}
