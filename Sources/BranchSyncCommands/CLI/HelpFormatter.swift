/// Renders `--help` for a command from its spec.
enum HelpFormatter {
    static func help(for command: CommandSpec, path: [String]) -> String {
        let name = (["branchsync"] + path).joined(separator: " ")
        var lines: [String] = []
        lines.append("\(name) — \(command.abstract)")
        lines.append("")
        var usage = "usage: \(name)"
        if !command.subcommands.isEmpty { usage += " <command>" }
        for argument in command.arguments { usage += argument.isOptional ? " [\(argument.name)]" : " \(argument.name)" }
        if !command.options.isEmpty { usage += " [options]" }
        lines.append(usage)
        if let discussion = command.discussion {
            lines.append("")
            lines.append(discussion)
        }
        if !command.subcommands.isEmpty {
            lines.append("")
            lines.append("commands:")
            let width = command.subcommands.map(\.name.count).max() ?? 0
            for sub in command.subcommands {
                lines.append("  \(sub.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(sub.abstract)")
            }
        }
        if !command.arguments.isEmpty {
            lines.append("")
            lines.append("arguments:")
            let width = command.arguments.map(\.name.count).max() ?? 0
            for argument in command.arguments {
                lines.append(
                    "  \(argument.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(argument.help)")
            }
        }
        for (title, options) in [("options:", command.options), ("global options:", CommandParser.globalOptions)]
        where !options.isEmpty {
            lines.append("")
            lines.append(title)
            let labels = options.map { "--\($0.name)" + ($0.valueName.map { " \($0)" } ?? "") }
            let width = labels.map(\.count).max() ?? 0
            for (label, option) in zip(labels, options) {
                lines.append("  \(label.padding(toLength: width, withPad: " ", startingAt: 0))  \(option.help)")
            }
        }
        if !command.subcommands.isEmpty {
            lines.append("")
            lines.append("Run '\(name) <command> --help' for a command's options.")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
