import BranchSyncCore
import Foundation
import Synchronization

/// A small structured logger: one line per event, as text (`time level message key=value…`) or as one JSON object
/// (see ``LogFormat``). Engine types take it from their caller; tests capture lines in memory with ``LogCapture``.
///
/// Copies made with ``with(_:_:)`` share their ``LogOutput``, so a daemon can change the level, the format or the
/// file of every copy at once (on SIGHUP).
public struct Logger: Sendable {
    /// Severity.
    public enum Level: String, Sendable, Comparable, CaseIterable {
        case debug, info, warning, error

        private var rank: Int {
            switch self {
            case .debug: 0
            case .info: 1
            case .warning: 2
            case .error: 3
            }
        }
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rank < rhs.rank }
    }

    /// Where lines go, from which level, in which format.
    public let output: LogOutput
    /// Metadata added to every line (`site`, `peer`, `session`, …).
    public private(set) var metadata: [(String, String)]

    /// A logger writing every line at or above `minimum` to `sink`, without its newline.
    public init(
        minimum: Level = .info, format: LogFormat = .text, metadata: [(String, String)] = [],
        sink: @escaping @Sendable (String) -> Void
    ) {
        self.init(output: LogOutput(minimum: minimum, format: format, sink: sink), metadata: metadata)
    }

    /// A logger writing to `output`.
    public init(output: LogOutput, metadata: [(String, String)] = []) {
        self.output = output
        self.metadata = metadata
    }

    /// Logs to standard error.
    public static func standardError(minimum: Level = .info) -> Logger {
        Logger(output: .standardError(minimum: minimum))
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

    /// Writes one line if `level` is at or above the output's minimum.
    public func log(_ level: Level, _ message: String, _ extra: [(String, String)] = []) {
        guard output.accepts(level) else { return }
        output.write(LogEntry(time: Date(), level: level, message: message, metadata: metadata + extra))
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
    public func logger(minimum: Logger.Level = .debug, format: LogFormat = .text, echo: Bool = false) -> Logger {
        Logger(minimum: minimum, format: format) { line in
            self.lines.withLock { $0.append(line) }
            if echo { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
    }

    /// The lines so far.
    public var entries: [String] { lines.withLock { $0 } }
}
