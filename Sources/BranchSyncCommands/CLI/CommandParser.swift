/// Turns `[String]` into a command and an ``Invocation``, or into help, or into a usage error.
public struct CommandParser {
    /// The outcome of parsing.
    public enum Outcome {
        /// Run `command` with `invocation`.
        case run(CommandSpec, Invocation)
        /// Print help for the command at `path` (exit 0 when asked for, 2 when a subcommand is missing).
        case help(CommandSpec, path: [String], requested: Bool)
    }

    /// Options every command accepts.
    public static let globalOptions: [OptionSpec] = [
        OptionSpec(
            "data", value: "DIR", environment: "BRANCHSYNC_DATA",
            help: "node data directory (default: $BRANCHSYNC_DATA, the config file, or ./branchsync-data)"),
        OptionSpec(
            "actor", value: "NAME", environment: "BRANCHSYNC_ACTOR",
            help: "who the audit trail names (default: $BRANCHSYNC_ACTOR, the config file, or your login)"),
        OptionSpec(
            "config", value: "PATH", environment: "BRANCHSYNC_CONFIG",
            help: "read options from this file (default: $BRANCHSYNC_CONFIG); the command line and environment win"),
        OptionSpec.flag("help", help: "show help for this command"),
        OptionSpec.flag("version", help: "print the BranchSync version (as the first and only argument)"),
    ]

    let root: CommandSpec

    public init(root: CommandSpec) {
        self.root = root
    }

    /// Parses `arguments` (without the program name).
    /// - Throws: ``CLIError`` (usage) for unknown commands or options, missing values or arguments.
    public func parse(_ arguments: [String], environment: [String: String], console: Console) throws -> Outcome {
        var command = root
        var path: [String] = []
        var options: [String: [String]] = [:]
        var positionals: [String] = []
        var helpRequested = false
        var index = 0
        var onlyPositionals = false

        func commandName() -> String { (["branchsync"] + path).joined(separator: " ") }

        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if !onlyPositionals && argument == "--" {
                onlyPositionals = true
                continue
            }
            if !onlyPositionals && (argument == "-h" || argument == "--help") {
                helpRequested = true
                continue
            }
            if !onlyPositionals && argument.hasPrefix("--") {
                let body = argument.dropFirst(2)
                let name: String
                var inlineValue: String?
                if let equals = body.firstIndex(of: "=") {
                    name = String(body[..<equals])
                    inlineValue = String(body[body.index(after: equals)...])
                } else {
                    name = String(body)
                }
                guard let spec = (command.options + Self.globalOptions).first(where: { $0.name == name }) else {
                    throw CLIError.usage(
                        "unknown option --\(name) for '\(commandName())'; see '\(commandName()) --help'")
                }
                if spec.valueName == nil {
                    guard inlineValue == nil else { throw CLIError.usage("--\(name) takes no value") }
                    options[name, default: []].append("")
                    continue
                }
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard index < arguments.count else {
                        throw CLIError.usage("--\(name) needs a value (\(spec.valueName!))")
                    }
                    value = arguments[index]
                    index += 1
                }
                if options[name] != nil && !spec.repeatable {
                    throw CLIError.usage("--\(name) was given more than once")
                }
                options[name, default: []].append(value)
                continue
            }
            if !onlyPositionals && argument.hasPrefix("-") && argument.count > 1 && Int(argument) == nil {
                throw CLIError.usage("unknown option \(argument) for '\(commandName())'; options start with --")
            }
            if !command.subcommands.isEmpty && positionals.isEmpty {
                guard let next = command.subcommands.first(where: { $0.name == argument }) else {
                    if helpRequested { break }
                    let names = command.subcommands.map(\.name).joined(separator: ", ")
                    throw CLIError.usage(
                        "unknown command '\(argument)' for '\(commandName())'; expected one of: \(names)")
                }
                command = next
                path.append(argument)
                continue
            }
            positionals.append(argument)
        }

        // The file is read (and checked) for --help too, so '--config FILE status --help' validates FILE.
        let commandLineOptions = options
        var origins: [String: String] = [:]
        let configPath = Self.configPath(options: options, environment: environment)
        if let configPath {
            let file = try ConfigFile.load(configPath.path, origin: configPath.origin)
            (options, origins) = try file.options(
                for: command, root: root, over: commandLineOptions, environment: environment)
        }

        if helpRequested { return .help(command, path: path, requested: true) }
        guard command.run != nil else { return .help(command, path: path, requested: false) }
        let required = command.arguments.filter { !$0.isOptional }.count
        if positionals.count < required {
            let missing = command.arguments[positionals.count].name
            throw CLIError.usage("missing \(missing) for '\(commandName())'; see '\(commandName()) --help'")
        }
        if positionals.count > command.arguments.count {
            throw CLIError.usage("unexpected argument '\(positionals[command.arguments.count])' for '\(commandName())'")
        }
        var invocation = Invocation(
            path: path, options: options, arguments: positionals, environment: environment, console: console)
        invocation.configPath = configPath?.path
        invocation.commandLineOptions = commandLineOptions
        invocation.optionOrigins = origins
        invocation.configurable = (command, root)
        return .run(command, invocation)
    }

    /// The config file's path and how it was given: `--config`, else a non-empty `$BRANCHSYNC_CONFIG`.
    static func configPath(options: [String: [String]], environment: [String: String]) -> (
        path: String, origin: String
    )? {
        if let path = options["config"]?.last { return (path, "--config") }
        if let path = environment["BRANCHSYNC_CONFIG"], !path.isEmpty { return (path, "$BRANCHSYNC_CONFIG") }
        return nil
    }
}
