import BranchSyncCore
import BranchSyncStore

/// `branchsync log`: the change log (the newest entry of each changed record).
enum LogCommand {
    static let spec = CommandSpec(
        name: "log",
        abstract: "show the change log: the newest change of each record, newest first",
        discussion: """
            Each record appears once, at the position of its latest change. With --since the entries after that \
            position are listed oldest first, so a script can page through the log with the last position it saw.
            """,
        options: [
            OptionSpec("since", value: "SEQ", help: "the entries after this position, oldest first"),
            OptionSpec("limit", value: "N", help: "at most N entries (default: 50, or 1000 with --since)"),
            .json,
        ],
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        let paging = invocation.value("since") != nil
        let since = try invocation.integer("since", default: 0)
        let limit = try invocation.integer("limit", default: paging ? 1000 : 50)
        guard limit >= 1 else { throw CLIError.usage("--limit must be at least 1, got \(limit)") }
        let store = try invocation.openStore()
        let entries = try store.changes(after: since, limit: Int(limit), newestFirst: !paging)
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
        var table = TextTable(["seq", "stored", "origin", "collection", "id", "deleted", "version vector"])
        for entry in entries {
            table.append([
                String(entry.seq), String(Timestamp.iso8601(milliseconds: UInt64(max(0, entry.changedAt))).prefix(19)),
                entry.origin, entry.state.collection.rawValue, entry.state.id.description,
                entry.state.isDestroyed ? "destroyed" : entry.state.isDeleted ? "yes" : "",
                entry.state.versionVector.description,
            ])
        }
        invocation.console.write(table.render())
        invocation.console.line(
            paging
                ? "\(entries.count) entries after seq \(since); last seq \(try store.lastSeq())"
                : "the \(entries.count) newest entries; last seq \(try store.lastSeq()) (--limit N for more, --since SEQ "
                    + "to page oldest first)")
        return ExitCode.success
    }
}
