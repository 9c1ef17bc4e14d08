import BranchSyncCore
import BranchSyncStore

/// `branchsync quarantine list|show|drop`: changes this node refused, or (at a branch) its hub refused.
enum QuarantineCommand {
    static let spec = CommandSpec(
        name: "quarantine",
        abstract: "changes refused (by this node, or at a branch by its hub), held, or judged invalid",
        discussion: """
            Kinds: 'refused' (a rule refused it; the hub answered with a write that brings the sender back, and \
            'refused-by-hub' is that refusal as the branch sees it, with its values); 'invalid' (forged or \
            inconsistent: the sending site is flagged in 'status' until the change is dropped here); 'held' (waits \
            for a record the hub does not hold yet). A refused change never blocks the stream it came in.
            """,
        subcommands: [
            CommandSpec(
                name: "list", abstract: "list refused, invalid and held changes, newest first",
                options: [.flag("all", help: "include changes re-admitted or dropped"), .json], run: list),
            CommandSpec(
                name: "show", abstract: "show one quarantined change with its values", options: [.json],
                arguments: [ArgumentSpec("ID", help: "the change's number")], run: show),
            CommandSpec(
                name: "drop", abstract: "set a change aside for good once looked at (clears a site's flag)",
                arguments: [ArgumentSpec("ID", help: "the change's number")], run: drop),
            CommandSpec(
                name: "retry",
                abstract: "judge a held or invalid change again now (hub), e.g. once what it waited for arrived",
                arguments: [ArgumentSpec("ID", help: "the change's number")], run: retry),
        ])

    static func number(_ invocation: Invocation) throws -> Int64 {
        guard let number = Int64(invocation.arguments[0]) else {
            throw CLIError.usage("ID must be a number, got '\(invocation.arguments[0])'")
        }
        return number
    }

    static func json(_ entry: QuarantinedChange, values: [String: String]?) -> String {
        let q = CanonicalJSON.quote
        return CanonicalJSON.object([
            ("id", String(entry.id)), ("kind", q(entry.kind)), ("peer", q(entry.peer)), ("recordId", q(entry.recordID)),
            ("collection", q(entry.collection)), ("reason", q(entry.reason)), ("receivedAt", q(entry.receivedAt)),
            ("status", q(entry.status)),
            (
                "values",
                values.map { values in
                    CanonicalJSON.object(values.sorted { $0.key < $1.key }.map { ($0.key, q($0.value)) })
                } ?? "null"
            ),
        ])
    }

    static func list(_ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let entries = try store.quarantined(includeResolved: invocation.flag("all"))
        if invocation.flag("json") {
            invocation.console.write(
                JSONLines.array(try entries.map { json($0, values: try store.quarantinedState($0.id)?.plainValues) }))
            return ExitCode.success
        }
        var table = TextTable(["#", "kind", "from", "record", "reason", "received"])
        for entry in entries {
            table.append([
                String(entry.id), entry.status == "open" ? entry.kind : "\(entry.kind) (\(entry.status))", entry.peer,
                "\(entry.collection) \(entry.recordID)", String(entry.reason.prefix(100)),
                String(entry.receivedAt.prefix(19)),
            ])
        }
        invocation.console.write(table.render())
        invocation.console.line(
            "\(entries.count) quarantined change(s); 'branchsync quarantine show ID' shows the values")
        return ExitCode.success
    }

    static func show(_ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let id = try number(invocation)
        guard let entry = try store.quarantined(includeResolved: true).first(where: { $0.id == id }) else {
            throw CLIError(exitCode: ExitCode.failure, message: "no quarantined change #\(id) on this node")
        }
        let values = try store.quarantinedState(id)?.plainValues
        if invocation.flag("json") {
            invocation.console.line(json(entry, values: values))
            return ExitCode.success
        }
        invocation.console.line("#\(entry.id) \(entry.kind) (\(entry.status)) from \(entry.peer), \(entry.receivedAt)")
        invocation.console.line("record: \(entry.collection) \(entry.recordID)")
        invocation.console.line("reason: \(entry.reason)")
        if let values {
            invocation.console.line("values:")
            for (name, value) in values.sorted(by: { $0.key < $1.key }) {
                invocation.console.line("  \(name): \(value.escapedForDisplay(limit: 200))")
            }
        } else {
            invocation.console.line("values: (the state did not decode)")
        }
        return ExitCode.success
    }

    static func retry(_ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let id = try number(invocation)
        if let still = try store.retryQuarantined(id) {
            invocation.console.line("change #\(id) is still kept aside (as #\(still.row)): \(still.reason)")
            return ExitCode.failure
        }
        invocation.pokeDaemon()
        invocation.console.line("change #\(id) was judged again and taken in")
        return ExitCode.success
    }

    static func drop(_ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let id = try number(invocation)
        try store.dropQuarantined(id)
        invocation.console.line("quarantined change #\(id) dropped")
        return ExitCode.success
    }
}
