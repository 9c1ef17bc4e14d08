/// An error that ends a command with a one-line message and an exit code.
public struct CLIError: Error, Sendable, CustomStringConvertible {
    /// The process exit code.
    public var exitCode: Int32
    /// The one-line message printed after `branchsync: error: `.
    public var message: String

    public init(exitCode: Int32, message: String) {
        self.exitCode = exitCode
        self.message = message
    }

    /// The command line was wrong (exit 2).
    public static func usage(_ message: String) -> CLIError {
        CLIError(exitCode: ExitCode.usage, message: message)
    }

    public var description: String { message }
}

/// The exit codes of `branchsync`, documented in `--help`.
public enum ExitCode {
    /// Success.
    public static let success: Int32 = 0
    /// The operation failed (not found, storage error, disk full, …).
    public static let failure: Int32 = 1
    /// The command line was wrong.
    public static let usage: Int32 = 2
    /// A value was refused (bad credit code, duplicate customer code, …); for `import`, some rows were refused.
    public static let invalidData: Int32 = 3
}
