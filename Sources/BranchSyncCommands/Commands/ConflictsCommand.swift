import BranchSyncCore
import BranchSyncStore

/// `branchsync conflicts list|show`: conflicts recorded when concurrent edits met.
enum ConflictsCommand {
    static let spec = CommandSpec(
        name: "conflicts",
        abstract: "list and inspect conflicts between concurrent edits",
        discussion: "The merge keeps one value deterministically and records the other here, so nothing is lost.",
        subcommands: [
            CommandSpec(
                name: "list", abstract: "list open conflicts, newest first",
                options: [.flag("all", help: "include resolved conflicts"), .json], run: list),
            CommandSpec(
                name: "show", abstract: "show one conflict", options: [.json],
                arguments: [ArgumentSpec("ID", help: "the conflict's number")], run: show),
            CommandSpec(
                name: "resolve",
                abstract: "settle a conflict with a new write that wins everywhere it replicates",
                options: [
                    OptionSpec(
                        "take", value: "kept|lost",
                        help: "confirm the kept value, or take the one set aside (local|remote: the value this node "
                            + "had, or the one that arrived)"),
                    OptionSpec("set", value: "FIELD=VALUE", help: "write a new value instead"),
                ],
                arguments: [ArgumentSpec("ID", help: "the conflict's number")], run: resolve),
        ])

    static func json(_ conflict: StoredConflict) -> String {
        CanonicalJSON.object([
            ("id", String(conflict.id)), ("recordId", CanonicalJSON.quote(conflict.recordID.description)),
            ("collection", CanonicalJSON.quote(conflict.collection.rawValue)),
            ("kind", CanonicalJSON.quote(conflict.kind.rawValue)), ("field", CanonicalJSON.quote(conflict.field)),
            (
                "kept",
                CanonicalJSON.object([
                    ("value", CanonicalJSON.quote(conflict.keptValue)),
                    ("stamp", CanonicalJSON.quote(conflict.keptStamp)),
                ])
            ),
            (
                "lost",
                CanonicalJSON.object([
                    ("value", CanonicalJSON.quote(conflict.lostValue)),
                    ("stamp", CanonicalJSON.quote(conflict.lostStamp)),
                ])
            ),
            ("detectedAt", CanonicalJSON.quote(conflict.detectedAt)), ("peer", CanonicalJSON.quote(conflict.peer)),
            ("status", CanonicalJSON.quote(conflict.status)),
            ("resolvedAt", conflict.resolvedAt.map(CanonicalJSON.quote) ?? "null"),
            ("resolvedBy", conflict.resolvedBy.map(CanonicalJSON.quote) ?? "null"),
            ("resolution", conflict.resolution.map(CanonicalJSON.quote) ?? "null"),
        ])
    }

    static func list(_ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let conflicts = try store.conflicts(includeResolved: invocation.flag("all"))
        if invocation.flag("json") {
            invocation.console.write(JSONLines.array(conflicts.map(json)))
            return ExitCode.success
        }
        var table = TextTable(["#", "status", "record", "field", "kept", "lost", "detected"])
        for conflict in conflicts {
            table.append([
                String(conflict.id), conflict.status, "\(conflict.collection.singular) \(conflict.recordID)",
                conflict.field, side(conflict.keptValue, conflict.keptStamp),
                side(conflict.lostValue, conflict.lostStamp),
                Timestamp.readable(conflict.detectedAt),
            ])
        }
        invocation.console.write(table.render())
        invocation.console.line("\(conflicts.count) \(invocation.flag("all") ? "" : "open ")conflict(s)")
        return ExitCode.success
    }

    /// A side of a conflict as people read it: "bj01 13900000001, 2026-11-24 10:02:03" (site, value, time of the
    /// write, UTC), from the value and its stamp `site:counter@wall.logical`.
    static func side(_ value: String, _ stamp: String) -> String {
        let site = stamp.split(separator: ":").first.map(String.init) ?? "?"
        let wall = stamp.split(separator: "@").last?.split(separator: ".").first.flatMap { UInt64($0) }
        let time = wall.map { Timestamp.readable(Timestamp.iso8601(milliseconds: $0)) }
        return "\(site) \(value.isEmpty ? "(cleared)" : value)" + (time.map { ", \($0)" } ?? "")
    }

    static func resolve(_ invocation: Invocation) throws -> Int32 {
        guard let number = Int64(invocation.arguments[0]) else {
            throw CLIError.usage("conflict ID must be a number, got '\(invocation.arguments[0])'")
        }
        let resolution: NodeStore.Resolution
        switch (invocation.value("take"), invocation.value("set")) {
        case ("kept"?, nil): resolution = .kept
        case ("lost"?, nil): resolution = .lost
        case ("local"?, nil): resolution = .local
        case ("remote"?, nil): resolution = .remote
        case (nil, let assignment?):
            guard let equals = assignment.firstIndex(of: "=") else { throw CLIError.usage("--set takes FIELD=VALUE") }
            let store = try invocation.openStore()
            guard let conflict = try store.conflict(id: number) else {
                throw CLIError(exitCode: ExitCode.failure, message: "no conflict #\(number) on this node")
            }
            let field = String(assignment[..<equals])
            let schemaField = RecordSchema.of(conflict.collection).field(named: field)
            guard schemaField?.name == conflict.field else {
                throw CLIError.usage("conflict #\(number) is about '\(conflict.field)', not '\(field)'")
            }
            resolution = .value(String(assignment[assignment.index(after: equals)...]))
        case (let take?, nil): throw CLIError.usage("--take must be kept, lost, local or remote, got '\(take)'")
        default: throw CLIError.usage("give either --take kept|lost or --set FIELD=VALUE")
        }
        let store = try invocation.openStore()
        let state = try store.resolveConflict(number, with: resolution)
        invocation.pokeDaemon()
        invocation.console.line(
            "resolved conflict #\(number); \(state.collection.singular) \(state.id) written as \(state.versionVector)")
        return ExitCode.success
    }

    static func show(_ invocation: Invocation) throws -> Int32 {
        guard let number = Int64(invocation.arguments[0]) else {
            throw CLIError.usage("conflict ID must be a number, got '\(invocation.arguments[0])'")
        }
        let store = try invocation.openStore()
        guard let conflict = try store.conflict(id: number) else {
            throw CLIError(exitCode: ExitCode.failure, message: "no conflict #\(number) on this node")
        }
        if invocation.flag("json") {
            invocation.console.line(json(conflict))
            return ExitCode.success
        }
        let console = invocation.console
        console.line("conflict #\(conflict.id) (\(conflict.status))")
        console.line("record:   \(conflict.collection.singular) \(conflict.recordID)")
        console.line("kind:     \(conflict.kind.rawValue), field \(conflict.field)")
        console.line("kept:     \(side(conflict.keptValue, conflict.keptStamp))  [\(conflict.keptStamp)]")
        console.line("lost:     \(side(conflict.lostValue, conflict.lostStamp))  [\(conflict.lostStamp)]")
        console.line("detected: \(conflict.detectedAt) while applying a change from \(conflict.peer)")
        if let resolvedAt = conflict.resolvedAt {
            console.line("resolved: \(resolvedAt) by \(conflict.resolvedBy ?? "?"): \(conflict.resolution ?? "")")
        }
        return ExitCode.success
    }
}
