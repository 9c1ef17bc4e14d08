import Foundation

/// Wall-clock helpers for the store (the core stays clock-free).
public enum Timestamp {
    /// Milliseconds since the Unix epoch.
    public static func nowMilliseconds() -> UInt64 {
        UInt64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// The current UTC time as ISO 8601 with milliseconds, e.g. `2026-11-23T04:05:06.789Z`.
    public static func nowISO8601() -> String {
        iso8601(milliseconds: nowMilliseconds())
    }

    /// Today's UTC date, `YYYY-MM-DD` (retention dates and report periods compare with it as text).
    public static func today() -> String {
        String(nowISO8601().prefix(10))
    }

    /// An ISO 8601 time as people read it: `2026-11-24 10:02:03` (UTC, to the second).
    public static func readable(_ iso: String) -> String {
        iso.prefix(19).replacingOccurrences(of: "T", with: " ")
    }

    /// A Unix time in milliseconds as ISO 8601 UTC with milliseconds (formatted by hand: this runs per audit row).
    public static func iso8601(milliseconds: UInt64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds % 1000), 3))Z"
    }
}
