import BranchSyncCore
import BranchSyncStore
import Foundation

/// `branchsync backup`, `branchsync restore` and `branchsync check`.
enum BackupCommands {
    static let backupSpec = CommandSpec(
        name: "backup",
        abstract: "back this node up into a chain of a full backup and incrementals (works while it runs)",
        discussion: """
            DIR holds a chain: NNNN-full (the database, copied by SQLite as of one moment) and NNNN-incremental \
            (the records changed since the previous backup, new audit entries, the node's small tables and new \
            attachments named by their SHA-256), each with a manifest.json listing every file with its SHA-256. \
            Without --full or --incremental: incremental when DIR already holds a backup of this node, else full. \
            deploy/ has systemd timers for a weekly full and a daily incremental backup.
            """,
        options: [
            OptionSpec("to", value: "DIR", help: "the backup directory (created if missing; required)"),
            .flag("full", help: "take a full backup, starting a new chain"),
            .flag("incremental", help: "take an incremental backup on top of the last one in DIR"),
            .json,
        ],
        run: backup)

    static let restoreSpec = CommandSpec(
        name: "restore",
        abstract: "rebuild a node from the last full backup in DIR and its incrementals",
        discussion: """
            Every file is checked against its manifest first; nothing is written if one differs. The node keeps its \
            site, hub address and credentials (no new join) and is marked restored: a new incarnation, so its hub \
            resends everything and takes everything from it again; a restored hub recovers what it lost from every \
            branch. Start it with 'branchsync run --data DATADIR' and it converges with the group.
            """,
        options: [
            OptionSpec("from", value: "DIR", help: "the backup directory (required)"),
            OptionSpec("to", value: "DATADIR", help: "the new data directory; must not hold a node (required)"),
            .json,
        ],
        run: restore)

    static let checkSpec = CommandSpec(
        name: "check",
        abstract: "check the database: SQLite's integrity check and the store's own invariants",
        discussion: """
            Checks that every record decodes, is canonical and consistent and matches its index columns, that log \
            positions are unique and the counter is not behind the node's writes, that the verify summaries and the \
            attachments match, and that every audit chain is whole. Exit status 1 when anything is wrong. Read-only: \
            it runs while the daemon runs.
            """,
        options: [.json], run: check)

    static func backup(_ invocation: Invocation) throws -> Int32 {
        let directory = try invocation.required("to")
        if invocation.flag("full") && invocation.flag("incremental") {
            throw CLIError.usage("choose one of --full and --incremental")
        }
        let kind: BackupManifest.Kind? =
            invocation.flag("full") ? .full : invocation.flag("incremental") ? .incremental : nil
        let store = try invocation.openStore()
        let result = try store.backup(to: directory, kind: kind)
        let manifest = result.manifest
        let bytes = manifest.files.reduce(Int64(0)) { $0 + $1.bytes }
        if let reason = result.fullBecause, manifest.kind == .full, !invocation.flag("json") {
            invocation.console.line("a full backup, since \(reason)")
        }
        if invocation.flag("json") {
            invocation.console.line(
                CanonicalJSON.object([
                    ("directory", CanonicalJSON.quote(result.directory)),
                    ("kind", CanonicalJSON.quote(manifest.kind.rawValue)), ("sequence", String(manifest.sequence)),
                    ("fromSeq", String(manifest.fromSeq)), ("toSeq", String(manifest.toSeq)),
                    ("files", String(manifest.files.count)), ("bytes", String(bytes)),
                ]))
        } else {
            let range =
                manifest.toSeq == manifest.fromSeq
                ? "no change since the previous backup"
                : manifest.kind == .full
                    ? "the log up to position \(manifest.toSeq)"
                    : "log positions after \(manifest.fromSeq) up to \(manifest.toSeq)"
            invocation.console.line(
                "\(manifest.kind.rawValue) backup of \(manifest.site) written to \(result.directory): \(range), "
                    + "\(manifest.files.count) file(s), \(bytes) bytes")
        }
        return ExitCode.success
    }

    static func restore(_ invocation: Invocation) throws -> Int32 {
        let source = try invocation.required("from")
        let target = try invocation.required("to")
        let result = try NodeStore.restore(from: source, to: target, actor: invocation.actor)
        if invocation.flag("json") {
            invocation.console.line(
                CanonicalJSON.object([
                    ("site", CanonicalJSON.quote(result.site.rawValue)),
                    ("role", CanonicalJSON.quote(result.role.rawValue)), ("backups", String(result.backups.count)),
                    ("records", String(result.records)), ("lastSeq", String(result.lastSeq)),
                ]))
        } else {
            invocation.console.line(
                "restored \(result.role.rawValue) \(result.site) into \(target) from \(result.backups.count) backup(s): "
                    + "\(result.records) records, log at \(result.lastSeq)")
            invocation.console.line(
                result.role == .hub
                    ? "the hub recovers what it lost since the backup from every branch once it runs"
                    : "it resyncs with its hub at its next session (start it with 'branchsync run --data \(target)')")
        }
        return ExitCode.success
    }

    static func check(_ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let console = invocation.console
        let report = try store.check { checked in
            if console.errorIsTerminal { console.writeError("\rchecked \(checked) records") }
        }
        if console.errorIsTerminal && report.records >= 10_000 { console.writeError("\n") }
        if invocation.flag("json") {
            console.line(
                CanonicalJSON.object([
                    ("sound", report.isSound ? "true" : "false"), ("records", String(report.records)),
                    ("attachments", String(report.attachments)), ("auditEntries", String(report.auditEntries)),
                    ("problems", CanonicalJSON.array(report.problems.map(CanonicalJSON.quote))),
                    ("notes", CanonicalJSON.array(report.notes.map(CanonicalJSON.quote))),
                    ("moreProblems", String(report.moreProblems)),
                ]))
        } else {
            for problem in report.problems { console.line("problem: \(problem)") }
            for note in report.notes { console.line("note: \(note)") }
            if report.moreProblems > 0 { console.line("… and \(report.moreProblems) more") }
            console.line(
                (report.isSound ? "sound" : "NOT sound")
                    + ": \(report.records) records, \(report.attachments) attachments, \(report.auditEntries) audit "
                    + "entries checked")
        }
        return report.isSound ? ExitCode.success : ExitCode.failure
    }
}
