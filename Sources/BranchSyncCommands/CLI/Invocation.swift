import BranchSyncCore
import BranchSyncNode
import BranchSyncStore
import Foundation

/// A parsed command line, ready to run: the options and arguments given, the environment and the console.
public struct Invocation: Sendable {
    /// The command words, e.g. `["customer", "add"]`.
    public var path: [String]
    /// Option name → values, in the order given.
    public var options: [String: [String]]
    /// Positional arguments.
    public var arguments: [String]
    /// The process environment (injected for tests).
    public var environment: [String: String]
    /// Where output goes.
    public var console: Console
    /// The config file the options were completed from (`--config` or `$BRANCHSYNC_CONFIG`), if any.
    public var configPath: String?
    /// The options given on the command line alone, before the config file's.
    public var commandLineOptions: [String: [String]] = [:]
    /// For each option taken from the config file, where (`PATH:LINE`), so errors about it can say so.
    public var optionOrigins: [String: String] = [:]
    /// The command and the tree it belongs to, for reading the config file again.
    var configurable: (command: CommandSpec, root: CommandSpec)?

    /// The last value of an option.
    public func value(_ name: String) -> String? {
        options[name]?.last
    }

    /// Whether a flag was given.
    public func flag(_ name: String) -> Bool {
        options[name] != nil
    }

    /// The value of a required option.
    /// - Throws: ``CLIError`` (usage) naming the option.
    public func required(_ name: String) throws -> String {
        guard let value = value(name) else { throw CLIError.usage("missing --\(name) for '\(commandLine)'") }
        return value
    }

    /// An integer option.
    public func integer(_ name: String, default defaultValue: Int64) throws -> Int64 {
        guard let text = value(name) else { return defaultValue }
        guard let number = Int64(text), number >= 0 else {
            throw CLIError.usage("--\(name) must be a whole number, got '\(text)'")
        }
        return number
    }

    /// `branchsync customer add` and so on, for messages.
    public var commandLine: String { (["branchsync"] + path).joined(separator: " ") }

    /// The data directory: `--data`, else `BRANCHSYNC_DATA`, else `./branchsync-data`.
    public var dataDirectory: String {
        value("data") ?? environment["BRANCHSYNC_DATA"] ?? "branchsync-data"
    }

    /// The audit actor: `--actor`, else `BRANCHSYNC_ACTOR`, else the login name; origin is `cli@HOST`.
    public var actor: AuditActor {
        let user =
            value("actor") ?? environment["BRANCHSYNC_ACTOR"] ?? environment["USER"] ?? environment["LOGNAME"]
            ?? getpwuid(getuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "uid \(getuid())"
        return AuditActor(user: user, origin: "cli@" + ProcessInfo.processInfo.hostName)
    }

    /// Tells a `branchsync run` on this node, if any, that a change was committed, so it goes out at once.
    public func pokeDaemon() {
        LocalChangeSignal.poke(directory: dataDirectory)
    }

    /// Opens the node in the data directory.
    public func openStore() throws -> NodeStore {
        try NodeStore.open(
            directory: dataDirectory, actor: actor, daemonRunning: DaemonLock.isHeld(directory: dataDirectory))
    }
}
