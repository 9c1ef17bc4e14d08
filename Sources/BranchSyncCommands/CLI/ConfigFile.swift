import BranchSyncCore
import Foundation

/// `branchsync.conf`: the options of a node's commands in one file, selected with `--config PATH` or
/// `$BRANCHSYNC_CONFIG`.
///
/// Each line is `key = value`, where the key is an option's long name without dashes (`data`, `listen`,
/// `log-format`); a flag takes `true` or `false` (`verbose = true`). One pair of matching quotes around a value is
/// removed (`actor = "Ops"` sets `Ops`), so a value may be written quoted or not. Blank lines are skipped, and so is
/// everything from a `#` at the start of a line or after a space or tab (inside quotes too). The file is generic: a key sets the option of that name
/// of whichever command runs, so one file serves `run`, `status` and `backup`, and an option added to a command later
/// works from the file without more code. Only the node's settings may be set (``settingKeys``): a command's own
/// arguments would change what another command does. A setting the running command does not have is skipped for
/// it; an argument, a key no command has and a malformed line are errors, each named by file and line.
///
/// Precedence: an option on the command line, then its environment variable (e.g. `BRANCHSYNC_DATA`), then the file,
/// then the command's default.
public struct ConfigFile: Sendable {
    /// One `key = value` line.
    public struct Entry: Sendable, Equatable {
        /// The option name, without dashes.
        public var key: String
        /// The value, trimmed and without one pair of matching surrounding quotes; for a flag `true` or `false`.
        public var value: String
        /// The line number, from 1.
        public var line: Int
    }

    /// The file's path as given.
    public let path: String
    /// The settings in file order.
    public let entries: [Entry]

    /// Reads and parses the file at `path`.
    /// - Parameter origin: how the path was given (`--config`, `$BRANCHSYNC_CONFIG`), for the message when it cannot
    ///   be read.
    /// - Throws: ``CLIError`` (usage) when the file does not exist, is not a regular file (a directory, FIFO or
    ///   device, which could not be read or would block the read), cannot be read, or a line is malformed.
    public static func load(_ path: String, origin: String = "--config") throws -> ConfigFile {
        let shown = path.escapedForFilePath
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw CLIError.usage("config file \(shown) (from \(origin)) does not exist; create it or fix the path")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw CLIError.usage(
                "config file \(shown) (from \(origin)) is not a regular file (it is \(fileKind(status.st_mode))); give "
                    + "the path of the file itself")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError.usage(
                "config file \(shown) (from \(origin)) cannot be read; check that this user may read it")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIError.usage("config file \(shown) is not UTF-8 text")
        }
        return try ConfigFile(path: path, text: text)
    }

    /// What a `stat` mode names, for the message about a path that is not a regular file.
    private static func fileKind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFCHR, S_IFBLK: "a device"
        case S_IFSOCK: "a socket"
        default: "not a file"
        }
    }

    /// Parses `text` as the contents of the file at `path`.
    /// - Throws: ``CLIError`` (usage) naming `path:line` for a line that is not `key = value`.
    public init(path: String, text: String) throws {
        self.path = path
        let path = path.escapedForFilePath
        var entries: [Entry] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let number = index + 1
            var line = Substring(rawLine)
            if number == 1, line.hasPrefix("\u{FEFF}") { line = line.dropFirst() }
            let content = Self.withoutComment(line).trimmingCharacters(in: .whitespacesAndNewlines)
            if content.isEmpty { continue }
            guard let equals = content.firstIndex(of: "=") else {
                throw CLIError.usage("\(path):\(number): expected 'key = value', got '\(content.escapedForMessage)'")
            }
            let key = content[..<equals].trimmingCharacters(in: .whitespaces)
            let value = Self.unquoted(content[content.index(after: equals)...].trimmingCharacters(in: .whitespaces))
            if key.hasPrefix("-") {
                let bare = String(key.drop { $0 == "-" })
                throw CLIError.usage(
                    "\(path):\(number): write the key without dashes: '\(bare.escapedForMessage) = "
                        + "\(value.escapedForMessage)'")
            }
            guard !key.isEmpty, key.unicodeScalars.allSatisfy(Self.isKeyCharacter) else {
                throw CLIError.usage(
                    "\(path):\(number): '\(key.escapedForMessage)' is not a key; keys are option names such as "
                        + "'data' or 'log-file'")
            }
            guard !value.isEmpty else {
                throw CLIError.usage("\(path):\(number): '\(key)' has no value; write '\(key) = VALUE' or remove it")
            }
            entries.append(Entry(key: key, value: value, line: number))
        }
        self.entries = entries
    }

    /// Options the file may not set: they choose the file, or are not settings.
    static let unsettableKeys: Set<String> = ["config", "help", "version"]

    /// The options a file may set: the node's settings, which mean the same to every command that has them. Other
    /// options are one command's arguments (`--to`, `--site`, `--name`, `--hub` of `join`, …): in a file shared by
    /// every command they would change what another command does, so they go on the command line.
    static let settingKeys: Set<String> = [
        "data", "actor", "listen", "port-file", "tls-cert", "tls-key", "check-interval", "max-connections",
        "max-connections-per-address", "max-quarantine-per-site", "gc-interval", "gc-horizon", "gc-min-age", "verbose",
        "metrics",
        "metrics-port-file", "log-file", "log-format",
    ]

    /// The options `command` runs with: `commandLine` first, then the file's entries for options the environment does
    /// not set, after checking every entry against every command under `root`.
    /// - Returns: the options, and for each taken from the file, where (`PATH:LINE`).
    /// - Throws: ``CLIError`` (usage) naming `path:line` for a key no command has, a flag whose value is not `true`
    ///   or `false`, or a key given twice.
    public func options(
        for command: CommandSpec, root: CommandSpec, over commandLine: [String: [String]],
        environment: [String: String]
    ) throws -> (options: [String: [String]], origins: [String: String]) {
        let everyOption = Self.options(under: root) + CommandParser.globalOptions
        var options = commandLine
        var origins: [String: String] = [:]
        var seen: [String: Int] = [:]
        for entry in entries {
            let place = "\(path.escapedForFilePath):\(entry.line)"
            guard !Self.unsettableKeys.contains(entry.key) else {
                throw CLIError.usage("\(place): '\(entry.key)' cannot be set in a config file")
            }
            let specs = everyOption.filter { $0.name == entry.key }
            guard !specs.isEmpty else {
                throw CLIError.usage(
                    "\(place): unknown key '\(entry.key)': no branchsync command has an option --\(entry.key); "
                        + "see 'branchsync <command> --help'")
            }
            guard Self.settingKeys.contains(entry.key) else {
                throw CLIError.usage(
                    "\(place): '\(entry.key)' is an argument of a command, not a node setting: give it on the command "
                        + "line (a config file holds \(Self.settingKeys.sorted().joined(separator: ", ")))")
            }
            if let first = seen[entry.key], !specs.allSatisfy(\.repeatable) {
                throw CLIError.usage("\(place): '\(entry.key)' is already set at line \(first); keep one of them")
            }
            seen[entry.key] = seen[entry.key] ?? entry.line
            let isFlag = specs.allSatisfy { $0.valueName == nil }
            if isFlag && entry.value != "true" && entry.value != "false" {
                throw CLIError.usage(
                    "\(place): '\(entry.key)' is a flag: write true or false, got '\(entry.value.escapedForMessage)'")
            }
            guard let spec = (command.options + CommandParser.globalOptions).first(where: { $0.name == entry.key })
            else { continue }  // another command's option: this file serves every command
            if commandLine[spec.name] != nil { continue }
            if let variable = spec.environmentVariable, environment[variable] != nil { continue }
            if spec.valueName == nil {
                guard entry.value == "true" || entry.value == "false" else {
                    throw CLIError.usage(
                        "\(place): '\(entry.key)' is a flag of '\(command.name)': write true or false, "
                            + "got '\(entry.value.escapedForMessage)'")
                }
                if entry.value == "true" { options[spec.name] = [""] }
            } else {
                options[spec.name, default: []].append(entry.value)
            }
            origins[spec.name] = place
        }
        return (options, origins)
    }

    /// Every option of `command` and of the commands under it.
    static func options(under command: CommandSpec) -> [OptionSpec] {
        command.options + command.subcommands.flatMap { options(under: $0) }
    }

    /// `value` without one pair of matching surrounding quotes (`"Ops"` and `'Ops'` are `Ops`); other quotes stay.
    static func unquoted(_ value: String) -> String {
        guard value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first else {
            return value
        }
        return String(value.dropFirst().dropLast())
    }

    /// The line up to a `#` that starts it or follows a space or tab.
    private static func withoutComment(_ line: Substring) -> Substring {
        var previous: Character = " "
        for index in line.indices {
            let character = line[index]
            if character == "#" && (previous == " " || previous == "\t") { return line[..<index] }
            previous = character
        }
        return line
    }

    private static func isKeyCharacter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "-"
    }
}

extension String {
    /// The text shortened and with control characters escaped, for quoting a file's line in an error message.
    fileprivate var escapedForMessage: String { escapedForDisplay(limit: 60) }

    /// A file's path with control characters escaped, long enough to stay whole in practice.
    fileprivate var escapedForFilePath: String { escapedForDisplay(limit: 400) }
}
