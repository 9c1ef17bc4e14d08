import BranchSyncCore
import BranchSyncStore

/// `branchsync audit`: who did what, when, from where.
enum AuditCommand {
    static let spec = CommandSpec(
        name: "audit",
        abstract: "show the audit trail: who did what, when, from where (newest first)",
        options: [
            OptionSpec("record", value: "ID", help: "only this record's entries"),
            OptionSpec("limit", value: "N", help: "at most N entries (default: 100)"),
            .json,
        ],
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        let recordID = try invocation.value("record").map { try RecordID($0) }
        let limit = try invocation.integer("limit", default: 100)
        let store = try invocation.openStore()
        let entries = try store.auditTrail(recordID: recordID, limit: Int(limit))
        if invocation.flag("json") {
            invocation.console.write(
                JSONLines.array(
                    entries.map {
                        CanonicalJSON.object([
                            ("id", String($0.id)), ("at", CanonicalJSON.quote($0.at)),
                            ("actor", CanonicalJSON.quote($0.actor)),
                            ("origin", CanonicalJSON.quote($0.origin)), ("action", CanonicalJSON.quote($0.action)),
                            ("collection", $0.collection.map(CanonicalJSON.quote) ?? "null"),
                            ("recordId", $0.recordID.map(CanonicalJSON.quote) ?? "null"),
                            ("detail", CanonicalJSON.quote($0.detail)),
                        ])
                    }))
            return ExitCode.success
        }
        var table = TextTable(["at", "actor", "from", "action", "record", "detail"])
        for entry in entries {
            table.append([
                entry.at, entry.actor, entry.origin, entry.action,
                entry.recordID.map { "\(entry.collection ?? "") \($0)" } ?? "", entry.detail,
            ])
        }
        invocation.console.write(table.render())
        return ExitCode.success
    }
}
