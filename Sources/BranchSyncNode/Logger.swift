import BranchSyncCore
import Foundation
import Synchronization

/// A small structured logger: one line per event, `time level message key=value…`. Engine types take it from their
/// caller; tests capture lines in memory with ``LogCapture``.
public struct Logger: Sendable {
    /// Severity.
    public enum Level: String, Sendable, Comparable {
        case debug, info, warning, error

        private var rank: Int { [.debug: 0, .info: 1, .warning: 2, .error: 3][self]! }
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rank < rhs.rank }
    }

    private let sink: @Sendable (String) -> Void
    private let minimum: Level
    /// Metadata added to every line (`site`, `peer`, …).
    public private(set) var metadata: [(String, String)]

    public init(minimum: Level = .info, metadata: [(String, String)] = [], sink: @escaping @Sendable (String) -> Void) {
        self.sink = sink
        self.minimum = minimum
        self.metadata = metadata
    }

    /// Logs to standard error.
    public static func standardError(minimum: Level = .info) -> Logger {
        Logger(minimum: minimum) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    }

    /// Logs nothing.
    public static let silent = Logger(minimum: .error) { _ in }

    /// A logger with one more metadata entry.
    public func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy.metadata.append((key, value))
        return copy
    }

    /// Characters of a message or value written at most.
    static let valueLimit = 600

    public func log(_ level: Level, _ message: String, _ extra: [(String, String)] = []) {
        guard level >= minimum else { return }
        let now = Date().timeIntervalSince1970
        let stamp = ISO8601DateFormatter.string(
            from: Date(timeIntervalSince1970: now), timeZone: TimeZone(secondsFromGMT: 0) ?? .current,
            formatOptions: [.withInternetDateTime])
        // Values often come from peers (site ids, software, reasons): control characters are escaped and lengths
        // capped, so no peer can forge or flood a line.
        let fields = (metadata + extra).map { "\($0.0)=\($0.1.escapedForDisplay(limit: Self.valueLimit))" }
            .joined(separator: " ")
        sink(
            "\(stamp) \(level.rawValue) \(message.escapedForDisplay(limit: Self.valueLimit))"
                + (fields.isEmpty ? "" : " " + fields))
    }

    public func debug(_ message: String, _ extra: [(String, String)] = []) { log(.debug, message, extra) }
    public func info(_ message: String, _ extra: [(String, String)] = []) { log(.info, message, extra) }
    public func warning(_ message: String, _ extra: [(String, String)] = []) { log(.warning, message, extra) }
    public func error(_ message: String, _ extra: [(String, String)] = []) { log(.error, message, extra) }
}

/// Collects log lines in memory (tests).
public final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    /// A logger writing here, and with `echo` to standard error too (for debugging a test).
    public func logger(minimum: Logger.Level = .debug, echo: Bool = false) -> Logger {
        Logger(minimum: minimum) { line in
            self.lines.withLock { $0.append(line) }
            if echo { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
    }

    /// The lines so far.
    public var entries: [String] { lines.withLock { $0 } }
}
