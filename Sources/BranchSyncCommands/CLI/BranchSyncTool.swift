import BranchSyncCore
import BranchSyncNode
import BranchSyncStore

/// The `branchsync` command-line tool: parse, run, print, exit code. Thin on purpose: the work happens in the
/// core and store modules.
public enum BranchSyncTool {
    /// The software version reported by `--version` and, later, in the sync handshake.
    public static let version = "0.1.0"

    /// The command tree.
    public static let root = CommandSpec(
        name: "branchsync",
        abstract: "replicated customer and document records for a hub and its branch offices",
        discussion: """
            Every node keeps its records in DIR/branchsync.sqlite (see --data). Writes are local first and work offline.

            A config file (--config PATH or $BRANCHSYNC_CONFIG) holds the node's settings for every command, one \
            'key = value' a line, keys being long option names without dashes ('data = /var/lib/branchsync', \
            'listen = 0.0.0.0:7700', 'metrics = 127.0.0.1:9464', 'verbose = true'), '#' starting a comment; one pair \
            of quotes around a value is removed. An option on the command line wins over its environment variable \
            ($BRANCHSYNC_DATA, $BRANCHSYNC_ACTOR), which wins over the file. A command skips the settings it does not \
            have; a command's own arguments (to, site, hub, …) and unknown keys are errors.

            exit codes: 0 success, 1 operation failed, 2 bad command line, 3 a value was refused
            """,
        subcommands: [
            DemoCommand.spec,
            InitCommand.spec,
            SiteCommand.spec,
            SiteCommand.joinSpec,
            RunCommand.spec,
            SyncCommand.spec,
            StatusCommand.spec,
            VerifyCommand.spec,
            RecordCommands.spec(for: .customers),
            RecordCommands.spec(for: .documents),
            ImportCommand.spec,
            ExportCommand.spec,
            LogCommand.spec,
            ConflictsCommand.spec,
            QuarantineCommand.spec,
            SuspiciousCommand.spec,
            ReportCommand.spec,
            RetentionCommands.retentionSpec,
            RetentionCommands.destroySpec,
            RetentionCommands.destructionSpec,
            HandoverCommand.spec,
            BackupCommands.backupSpec,
            BackupCommands.restoreSpec,
            BackupCommands.checkSpec,
            GCCommand.spec,
            AuditCommand.spec,
            CommandSpec(name: "version", abstract: "print the BranchSync version") { invocation in
                invocation.console.line("branchsync \(version)")
                return ExitCode.success
            },
        ])

    /// Runs the tool and returns the exit code; errors are printed as one line on standard error.
    public static func run(_ arguments: [String], environment: [String: String], console: Console) -> Int32 {
        defer { console.flush() }
        do {
            if arguments == ["--version"] {
                console.line("branchsync \(version)")
                return ExitCode.success
            }
            switch try CommandParser(root: root).parse(arguments, environment: environment, console: console) {
            case .help(let command, let path, let requested):
                let text = HelpFormatter.help(for: command, path: path)
                if requested {
                    console.write(text)
                    return ExitCode.success
                }
                console.writeError(text)
                return ExitCode.usage
            case .run(let command, let invocation):
                do { return try command.run!(invocation) } catch let error as CLIError {
                    throw invocation.attributingToConfigFile(error)
                }
            }
        } catch {
            let (code, message) = describe(error)
            console.writeError("branchsync: error: \(message)\n")
            return code
        }
    }

    /// The exit code and one-line message for an error.
    static func describe(_ error: any Error) -> (Int32, String) {
        switch error {
        case let error as CLIError: return (error.exitCode, error.message)
        case let error as ValidationError: return (ExitCode.invalidData, error.message)
        case let error as StorageError: return (ExitCode.failure, error.description)
        case let error as MalformedDataError: return (ExitCode.failure, error.message)
        case let error as NodeError: return (ExitCode.failure, error.message)
        default: return (ExitCode.failure, "\(error)")
        }
    }
}
