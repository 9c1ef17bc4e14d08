extension Invocation {
    /// The same invocation with its options completed from a fresh read of its config file (for SIGHUP): options on
    /// the command line and environment variables still win. Without a config file, the invocation itself.
    /// - Throws: ``CLIError`` (usage) naming `PATH:LINE` when the file cannot be read or is wrong now.
    public func rereadingConfigFile() throws -> Invocation {
        guard let configPath, let configurable else { return self }
        let file = try ConfigFile.load(configPath)
        var copy = self
        (copy.options, copy.optionOrigins) = try file.options(
            for: configurable.command, root: configurable.root, over: commandLineOptions, environment: environment)
        return copy
    }

    /// `error` with the config file's line appended when its message is about an option the file set, since the
    /// operator did not type it: "--listen: … (set at /etc/branchsync/branchsync.conf:4)".
    func attributingToConfigFile(_ error: CLIError) -> CLIError {
        let mentioned = optionOrigins.keys.sorted().filter { Self.message(error.message, mentions: $0) }
        guard !mentioned.isEmpty else { return error }
        let places = mentioned.compactMap { optionOrigins[$0] }.joined(separator: ", ")
        return CLIError(exitCode: error.exitCode, message: error.message + " (set at \(places))")
    }

    /// Whether `message` names `--option` itself, not a longer option that starts the same way.
    private static func message(_ message: String, mentions option: String) -> Bool {
        let flag = "--" + option
        var rest = Substring(message)
        while let range = rest.range(of: flag) {
            let next = rest[range.upperBound...].first
            if next.map({ !($0.isLetter || $0.isNumber || $0 == "-") }) ?? true { return true }
            rest = rest[range.upperBound...]
        }
        return false
    }
}
