import BranchSyncNode
import Dispatch
import Foundation
import Synchronization

/// The log of `branchsync run`: where it goes (`--log-file`, else standard error), in which format (`--log-format`),
/// from which level (`--verbose`), and SIGHUP, which reopens the log file (for logrotate) and re-reads the config
/// file, applying what can change while running.
final class RunLogging: Sendable {
    /// The options `run` has for its log (`--verbose` is its own).
    static let options: [OptionSpec] = [
        OptionSpec(
            "log-file", value: "PATH",
            help: "append the log to this file instead of standard error; SIGHUP reopens it (for logrotate)"),
        OptionSpec(
            "log-format", value: "text|json",
            help: "text (default), or json: one object per line with time, level, site, peer, session, message and "
                + "the event's other fields"),
    ]

    /// What the log options say, checked.
    private struct Settings: Equatable {
        var minimum: Logger.Level
        var format: LogFormat
        /// `nil`: standard error.
        var file: String?

        init(_ invocation: Invocation) throws {
            minimum = invocation.flag("verbose") ? .debug : .info
            let formatName = invocation.value("log-format") ?? LogFormat.text.rawValue
            guard let format = LogFormat(rawValue: formatName) else {
                throw CLIError.usage("--log-format must be text or json, got '\(formatName)'")
            }
            self.format = format
            file = invocation.value("log-file")
        }
    }

    private struct State {
        /// The options the daemon started with: what differs from them in the file waits for a restart.
        let started: Invocation
        /// The options as last read.
        var current: Invocation
        var settings: Settings
    }

    /// The daemon's logger; every copy of it follows a reload.
    let logger: Logger
    private let output: LogOutput
    private let state: Mutex<State>

    /// Opens the log the invocation's options describe.
    /// - Throws: ``CLIError``: usage for a bad `--log-format`, failure when `--log-file` cannot be opened.
    init(_ invocation: Invocation) throws {
        let settings = try Settings(invocation)
        if let path = settings.file {
            do { output = try .file(path, minimum: settings.minimum, format: settings.format) } catch let error
                as NodeError
            {
                throw CLIError(exitCode: ExitCode.failure, message: "--log-file: \(error.message)")
            }
        } else {
            output = .standardError(minimum: settings.minimum, format: settings.format)
        }
        logger = Logger(output: output)
        state = Mutex(State(started: invocation, current: invocation, settings: settings))
    }

    /// Handles SIGHUP from now on, instead of dying of it, until the returned source is cancelled.
    func reloadOnHangup() -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "branchsync.sighup"))
        source.setEventHandler { [self] in reload() }
        source.resume()
        return source
    }

    /// Reopens the log file, re-reads the config file, applies the log settings and says in one line what changed
    /// and what waits for a restart. A config file that is wrong now changes nothing but the reopened file.
    private func reload() {
        state.withLock { state in
            var problem: String?
            var wouldNotStart: String?
            var new = state.current
            var settings = state.settings
            do {
                new = try state.current.rereadingConfigFile()
                settings = try Settings(new)
                do { _ = try RunCommand.Settings(new) } catch let error as CLIError {
                    // The log settings still apply; the rest would stop the next start.
                    wouldNotStart = error.message
                }
            } catch {
                problem = (error as? CLIError)?.message ?? "\(error)"
                new = state.current
                settings = state.settings
            }
            do { try output.reopen(path: settings.file) } catch {
                // Keep the file that is open (perhaps renamed by logrotate) rather than lose lines.
                problem = [problem, "\(error)"].compactMap { $0 }.joined(separator: "; ")
                settings.file = state.settings.file
            }
            output.configure(minimum: settings.minimum, format: settings.format)
            var applied: [String] = []
            if settings.minimum != state.settings.minimum { applied.append("verbose=\(settings.minimum == .debug)") }
            if settings.format != state.settings.format { applied.append("log-format=\(settings.format.rawValue)") }
            if settings.file != state.settings.file { applied.append("log-file=\(settings.file ?? "standard error")") }
            let live: Set<String> = ["verbose", "log-format", "log-file", "config", "help"]
            let started = state.started.options
            let waiting = Set(started.keys).union(new.options.keys).subtracting(live)
                .filter { started[$0] != new.options[$0] }.sorted()
            state.current = new
            state.settings = settings
            var fields: [(String, String)] = [
                ("log-file", settings.file ?? "standard error"), ("config", new.configPath ?? "none"),
                ("applied", applied.isEmpty ? "nothing changed" : applied.joined(separator: ",")),
                ("needs-restart", waiting.isEmpty ? "nothing" : waiting.joined(separator: ",")),
            ]
            if problem == nil, let wouldNotStart {
                fields.append(("error", wouldNotStart))
                logger.error("SIGHUP: log settings applied, but a restart with this config file would fail", fields)
            } else if let problem {
                fields.append(("error", problem))
                logger.error("SIGHUP: log reopened; the config file was not applied, the running settings stay", fields)
            } else {
                logger.info(
                    new.configPath == nil
                        ? "SIGHUP: log reopened (no config file to re-read)"
                        : "SIGHUP: log reopened and config re-read",
                    fields)
            }
        }
    }
}
