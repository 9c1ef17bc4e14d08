import BranchSyncCore
import BranchSyncStore

/// `branchsync quarantine list`: changes this node refused.
enum QuarantineCommand {
    static let spec = CommandSpec(
        name: "quarantine",
        abstract: "changes this node refused (invalid, or outside the sender's scope)",
        discussion:
            "A refused change is kept here with its reason; the stream it came in goes on (no head-of-line blocking).",
        subcommands: [
            CommandSpec(name: "list", abstract: "list refused changes, newest first", options: [.json], run: list)
        ])

    static func list(_ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let entries = try store.quarantined()
        if invocation.flag("json") {
            let q = CanonicalJSON.quote
            invocation.console.write(
                JSONLines.array(
                    entries.map {
                        CanonicalJSON.object([
                            ("id", String($0.id)), ("peer", q($0.peer)), ("recordId", q($0.recordID)),
                            ("collection", q($0.collection)),
                            ("reason", q($0.reason)), ("receivedAt", q($0.receivedAt)), ("status", q($0.status)),
                        ])
                    }))
            return ExitCode.success
        }
        var table = TextTable(["#", "from", "record", "reason", "received"])
        for entry in entries {
            table.append([
                String(entry.id), entry.peer, "\(entry.collection) \(entry.recordID)", entry.reason, entry.receivedAt,
            ])
        }
        invocation.console.write(table.render())
        invocation.console.line("\(entries.count) quarantined change(s)")
        return ExitCode.success
    }
}
