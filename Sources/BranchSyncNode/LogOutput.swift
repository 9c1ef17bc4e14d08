import Foundation
@preconcurrency import Glibc
import Synchronization

/// Where a ``Logger``'s lines go (standard error, a file, or a closure), from which level and in which format.
/// Every copy of a logger shares its output, so changing it here changes it for the whole daemon.
///
/// A line is rendered by the thread that logs it, outside the lock; only its write is under the lock, so lines from
/// different threads never interleave and no thread waits for another's rendering. A file is opened for
/// appending; ``reopen(path:)`` opens the path again, which is how a daemon follows `logrotate` after SIGHUP: the
/// renamed file gets no more lines, a new file at the path gets the next one.
public final class LogOutput: Sendable {
    private enum Destination {
        case standardError
        case file(path: String, descriptor: Int32)
        case sink(@Sendable (String) -> Void)
    }

    private struct State {
        var minimum: Logger.Level
        var format: LogFormat
        var destination: Destination
    }

    private let state: Mutex<State>

    private init(minimum: Logger.Level, format: LogFormat, destination: Destination) {
        state = Mutex(State(minimum: minimum, format: format, destination: destination))
    }

    /// An output that hands every rendered line (without its newline) to `sink`.
    public convenience init(
        minimum: Logger.Level = .info, format: LogFormat = .text, sink: @escaping @Sendable (String) -> Void
    ) {
        self.init(minimum: minimum, format: format, destination: .sink(sink))
    }

    /// Standard error.
    public static func standardError(minimum: Logger.Level = .info, format: LogFormat = .text) -> LogOutput {
        LogOutput(minimum: minimum, format: format, destination: .standardError)
    }

    /// Appends to the file at `path`, creating it (mode 0640) if needed.
    /// - Throws: ``NodeError`` (configuration) when the file cannot be opened, with the system's reason.
    public static func file(_ path: String, minimum: Logger.Level = .info, format: LogFormat = .text) throws
        -> LogOutput
    {
        LogOutput(
            minimum: minimum, format: format, destination: .file(path: path, descriptor: try openForAppending(path)))
    }

    deinit {
        state.withLock { state in
            if case .file(_, let descriptor) = state.destination { Glibc.close(descriptor) }
        }
    }

    /// The lowest level written.
    public var minimum: Logger.Level { state.withLock { $0.minimum } }

    /// The format lines are written in.
    public var format: LogFormat { state.withLock { $0.format } }

    /// The file lines are appended to; `nil` for standard error or a closure.
    public var path: String? {
        state.withLock { state in
            if case .file(let path, _) = state.destination { return path }
            return nil
        }
    }

    /// Changes the lowest level written and the format, for every logger sharing this output.
    public func configure(minimum: Logger.Level, format: LogFormat) {
        state.withLock {
            $0.minimum = minimum
            $0.format = format
        }
    }

    /// Opens `path` again (or another path; `nil` for standard error) and writes every later line there. The new
    /// file is opened before the old one is closed: when it cannot be opened, nothing changes.
    /// - Throws: ``NodeError`` (configuration) when the file cannot be opened.
    public func reopen(path: String?) throws {
        let destination: Destination
        if let path {
            destination = .file(path: path, descriptor: try Self.openForAppending(path))
        } else {
            destination = .standardError
        }
        state.withLock { state in
            if case .file(_, let old) = state.destination { Glibc.close(old) }
            state.destination = destination
        }
    }

    /// Whether a line at `level` would be written.
    func accepts(_ level: Logger.Level) -> Bool {
        state.withLock { level >= $0.minimum }
    }

    /// Renders `entry` and writes it as one line.
    func write(_ entry: LogEntry) {
        // Rendering (escaping, JSON, the time) happens outside the lock every thread shares; the lock covers only the
        // write, which keeps lines whole and the descriptor open while it is used (``reopen(path:)`` closes it).
        let line = state.withLock { $0.format }.render(entry)
        state.withLock { state in
            switch state.destination {
            case .sink(let sink): sink(line)
            case .standardError: Self.writeAll(line + "\n", to: STDERR_FILENO)
            case .file(_, let descriptor):
                // A full disk or a revoked file must not lose the line or stop the daemon: standard error gets it.
                if !Self.writeAll(line + "\n", to: descriptor) { Self.writeAll(line + "\n", to: STDERR_FILENO) }
            }
        }
    }

    @discardableResult
    private static func writeAll(_ text: String, to descriptor: Int32) -> Bool {
        let bytes = Array(text.utf8)
        var offset = 0
        return bytes.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return false }
                offset += written
            }
            return true
        }
    }

    private static func openForAppending(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw NodeError(
                "cannot open the log file \(path): \(Socket.errnoText()); check that its directory exists and this "
                    + "user may write there", code: .configuration)
        }
        return descriptor
    }
}
