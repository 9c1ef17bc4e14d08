import BranchSyncCore
import BranchSyncStore

/// `branchsync log`: the change log (the newest entry of each changed record, in log order).
enum LogCommand {
    static let spec = CommandSpec(
        name: "log",
        abstract: "show the change log: the newest change of each record, oldest first",
        options: [
            OptionSpec("since", value: "SEQ", help: "only entries after this position (default: 0)"),
            OptionSpec("limit", value: "N", help: "at most N entries (default: 1000)"),
            .json,
        ],
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        let since = try invocation.integer("since", default: 0)
        let limit = try invocation.integer("limit", default: 1000)
        let store = try invocation.openStore()
        let entries = try store.changes(after: since, limit: Int(limit))
        if invocation.flag("json") {
            invocation.console.write(
                JSONLines.array(
                    entries.map {
                        CanonicalJSON.object([
                            ("seq", String($0.seq)), ("origin", CanonicalJSON.quote($0.origin)),
                            ("record", $0.state.canonicalJSON),
                        ])
                    }))
            return ExitCode.success
        }
        var table = TextTable(["seq", "origin", "collection", "id", "deleted", "version vector"])
        for entry in entries {
            table.append([
                String(entry.seq), entry.origin, entry.state.collection.rawValue, entry.state.id.description,
                entry.state.isDeleted ? "yes" : "", entry.state.versionVector.description,
            ])
        }
        invocation.console.write(table.render())
        invocation.console.line("\(entries.count) entries after seq \(since); last seq \(try store.lastSeq())")
        return ExitCode.success
    }
}
