import BranchSyncCore
import BranchSyncStore

/// `branchsync audit`: who did what, when, from where; `audit verify` checks each site's hash chain.
enum AuditCommand {
    static let spec = CommandSpec(
        name: "audit",
        abstract: "show the audit trail: who did what, when, from where (newest first)",
        discussion: """
            Every site's entries form a hash chain and replicate to the hub, which holds the whole group's trail \
            (a branch holds its own). --from and --to take a date (YYYY-MM-DD, inclusive) or an ISO 8601 time.
            """,
        options: [
            OptionSpec("site", value: "SITE", help: "only this site's entries"),
            OptionSpec("user", value: "NAME", help: "only this user's entries"),
            OptionSpec("record", value: "ID", help: "only this record's entries"),
            OptionSpec("action", value: "ACTION", help: "only this action (create, update, delete, read, merge, …)"),
            OptionSpec("from", value: "TIME", help: "entries at or after this date or time"),
            OptionSpec("to", value: "TIME", help: "entries up to this date (inclusive) or before this time"),
            OptionSpec("limit", value: "N", help: "at most N entries (default: 100)"),
            .json, .csv,
        ],
        subcommands: [
            CommandSpec(
                name: "verify",
                abstract: "check each site's hash chain and name its first broken entry (exit 1 if any)",
                options: [OptionSpec("site", value: "SITE", help: "only this site's chain"), .json],
                run: verify)
        ],
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        let limit = try invocation.integer("limit", default: 100)
        var filter = AuditFilter(
            recordID: try invocation.value("record").map { try RecordID($0) }, site: invocation.value("site"),
            user: invocation.value("user"), action: invocation.value("action"), from: invocation.value("from"))
        if let to = invocation.value("to") {
            // A date includes its whole day: entries before the next day.
            filter.to =
                (try? CalendarDate.startMilliseconds(of: to, field: "to")).map {
                    Timestamp.iso8601(milliseconds: $0 + 86_400_000)
                } ?? to
        }
        let entries = try invocation.openStore().auditTrail(filter, limit: Int(limit))
        var listing = Listing(
            ["site", "seq", "at", "actor", "from", "action", "collection", "record", "detail"], numeric: ["seq"])
        for entry in entries {
            listing.append([
                entry.site, String(entry.seq), entry.at, entry.actor, entry.origin, entry.action,
                entry.collection ?? "",
                entry.recordID ?? "", entry.detail,
            ])
        }
        if invocation.flag("json") || invocation.flag("csv") {
            listing.print(to: invocation)
            return ExitCode.success
        }
        var table = TextTable(["site", "#", "at", "actor", "from", "action", "record", "detail"])
        for entry in entries {
            table.append([
                entry.site, String(entry.seq), entry.at, entry.actor, entry.origin, entry.action,
                entry.recordID.map { "\(entry.collection ?? "") \($0)" } ?? "", entry.detail,
            ])
        }
        invocation.console.write(table.render())
        return ExitCode.success
    }

    static func verify(_ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let site = invocation.value("site")
        let results = try store.verifyAuditTrail(site: site)
        if let site, results.allSatisfy({ $0.entries == 0 }) {
            throw CLIError(exitCode: ExitCode.failure, message: "this node holds no audit entries of site \(site)")
        }
        if invocation.flag("json") {
            invocation.console.write(
                JSONLines.array(
                    results.map { result in
                        CanonicalJSON.object([
                            ("site", CanonicalJSON.quote(result.site)), ("entries", String(result.entries)),
                            ("intact", result.firstBreak == nil ? "true" : "false"),
                            ("brokenAt", result.firstBreak.map { String($0.seq) } ?? "null"),
                            ("problem", result.firstBreak.map { CanonicalJSON.quote($0.problem) } ?? "null"),
                        ])
                    }))
        } else {
            for result in results {
                if let broken = result.firstBreak {
                    invocation.console.line(
                        "site \(result.site): BROKEN at entry \(broken.seq): \(broken.problem)")
                } else {
                    invocation.console.line("site \(result.site): \(result.entries) entries, chain intact")
                }
            }
        }
        return results.contains { $0.firstBreak != nil } ? ExitCode.failure : ExitCode.success
    }
}
