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
        OptionSpec("data", value: "DIR", help: "node data directory (default: $BRANCHSYNC_DATA or ./branchsync-data)"),
        OptionSpec(
            "actor", value: "NAME", help: "who the audit trail names (default: $BRANCHSYNC_ACTOR or your login)"),
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
        let invocation = Invocation(
            path: path, options: options, arguments: positionals, environment: environment, console: console)
        return .run(command, invocation)
    }
}
