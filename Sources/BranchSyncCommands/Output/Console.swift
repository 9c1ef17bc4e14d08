import Foundation

/// Where a command writes: standard output for results, standard error for errors and progress.
/// Standard output is buffered (large listings are one `write` per 64 KiB); tests capture both streams with
/// ``Console/capturing()``.
public final class Console: @unchecked Sendable {
    // @unchecked: all mutable state is guarded by `lock`.
    private let lock = NSLock()
    private let captures: Bool
    /// Whether standard error is a terminal (progress lines then redraw in place).
    public let errorIsTerminal: Bool
    private var pendingOut = ""
    private var capturedOut = ""
    private var capturedError = ""

    private init(captures: Bool, errorIsTerminal: Bool) {
        self.captures = captures
        self.errorIsTerminal = errorIsTerminal
    }

    /// The process's standard output and error.
    public static func standard() -> Console {
        Console(captures: false, errorIsTerminal: isatty(2) == 1)
    }

    /// A console that keeps what is written, for tests.
    public static func capturing() -> Console {
        Console(captures: true, errorIsTerminal: false)
    }

    /// Writes a line to standard output.
    public func line(_ text: String = "") {
        write(text + "\n")
    }

    /// Writes text to standard output.
    public func write(_ text: String) {
        lock.withLock {
            if captures {
                capturedOut += text
            } else {
                pendingOut += text
                if pendingOut.utf8.count >= 65_536 { flushLocked() }
            }
        }
    }

    /// Writes text to standard error, after flushing standard output so the two stay in order on a terminal.
    public func writeError(_ text: String) {
        lock.withLock {
            if captures {
                capturedError += text
            } else {
                flushLocked()
                FileHandle.standardError.write(Data(text.utf8))
            }
        }
    }

    /// Writes buffered standard output.
    public func flush() {
        lock.withLock { flushLocked() }
    }

    private func flushLocked() {
        guard !pendingOut.isEmpty else { return }
        FileHandle.standardOutput.write(Data(pendingOut.utf8))
        pendingOut = ""
    }

    /// What was written to standard output (capturing consoles only).
    public var standardOutput: String { lock.withLock { capturedOut } }
    /// What was written to standard error (capturing consoles only).
    public var standardError: String { lock.withLock { capturedError } }
}
