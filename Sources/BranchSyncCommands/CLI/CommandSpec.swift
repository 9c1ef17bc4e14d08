/// A command of the `branchsync` tool: its options, arguments, subcommands and what it runs.
///
/// Help text is generated from the same specs the parser uses, so `--help` cannot drift from what is accepted.
public struct CommandSpec: Sendable {
    /// The word that selects the command.
    public var name: String
    /// One line for listings.
    public var abstract: String
    /// Extra paragraphs for `--help`.
    public var discussion: String?
    /// The options this command accepts (global options are added by the parser).
    public var options: [OptionSpec]
    /// Positional arguments in order.
    public var arguments: [ArgumentSpec]
    /// Subcommands; a command with subcommands and no `run` is a group.
    public var subcommands: [CommandSpec]
    /// The action; receives the parsed invocation and returns the exit code.
    public var run: (@Sendable (Invocation) throws -> Int32)?

    public init(
        name: String, abstract: String, discussion: String? = nil, options: [OptionSpec] = [],
        arguments: [ArgumentSpec] = [], subcommands: [CommandSpec] = [],
        run: (@Sendable (Invocation) throws -> Int32)? = nil
    ) {
        self.name = name
        self.abstract = abstract
        self.discussion = discussion
        self.options = options
        self.arguments = arguments
        self.subcommands = subcommands
        self.run = run
    }
}

/// An option: `--name VALUE`, `--name=VALUE`, or a flag `--name`.
public struct OptionSpec: Sendable {
    /// The name without dashes.
    public var name: String
    /// The placeholder shown in help; `nil` for a flag without a value.
    public var valueName: String?
    /// One line of help.
    public var help: String
    /// Whether the option may be given more than once.
    public var repeatable: Bool
    /// The environment variable that stands for the option when it is not on the command line (`BRANCHSYNC_DATA`);
    /// it wins over a config file.
    public var environmentVariable: String?

    public init(
        _ name: String, value valueName: String? = nil, environment environmentVariable: String? = nil,
        help: String, repeatable: Bool = false
    ) {
        self.name = name
        self.valueName = valueName
        self.environmentVariable = environmentVariable
        self.help = help
        self.repeatable = repeatable
    }

    /// A flag without a value.
    public static func flag(_ name: String, help: String) -> OptionSpec {
        OptionSpec(name, value: nil, help: help)
    }

    /// `--json`, shared by every read command.
    public static let json = OptionSpec.flag("json", help: "print JSON for scripts instead of text")
}

/// A positional argument.
public struct ArgumentSpec: Sendable {
    public var name: String
    public var help: String
    public var isOptional: Bool

    public init(_ name: String, help: String, optional: Bool = false) {
        self.name = name
        self.help = help
        self.isOptional = optional
    }
}
