import BranchSyncCore
import BranchSyncCrypto
import BranchSyncStore
import Foundation

/// `branchsync site retire` (hub) and `branchsync handover list`: closing or merging a unit, with a list of what it
/// handed over that the hub and the unit itself produce identically.
enum HandoverCommand {
    static let retireSpec = CommandSpec(
        name: "retire",
        abstract: "close or merge a branch: hand its records to a successor, revoke it, write the handover list",
        discussion: """
            Refused until the hub has verified it holds everything the site holds (it synced, reported nothing more \
            to send, a verify found both identical after its last change, and none of its changes is quarantined). \
            Then, in one transaction: every customer and document of the site answers to the successor (a replicated \
            write, so the successor receives them), the site's credentials are revoked (a connected session ends), \
            and the handover list is written to DIR/handover-SITE.json and .csv, with their SHA-256 in the audit \
            trail. At the branch, `branchsync handover list --csv` writes the same bytes: compare them with cmp.
            """,
        options: [
            OptionSpec("successor", value: "SITE", help: "the branch (or this hub) taking over its records (required)"),
            OptionSpec(
                "output", value: "DIR", help: "where to write the handover list (default: the current directory)"),
            .json,
        ],
        arguments: [ArgumentSpec("SITE", help: "the branch to retire")], run: retire)

    static let spec = CommandSpec(
        name: "handover", abstract: "the list of information a site hands over when it is closed or merged",
        subcommands: [
            CommandSpec(
                name: "list",
                abstract:
                    "list every live customer and document a site answers for, with content and attachment hashes",
                discussion: """
                    At a branch: its own records. At the hub: those of --site, as the hub holds them (before `site \
                    retire`). --json and --csv print exactly the files `site retire` writes.
                    """,
                options: [
                    OptionSpec("site", value: "SITE", help: "the site (at the hub; default: this site)"), .json, .csv,
                ],
                run: list)
        ])

    static func list(_ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        var site = store.identity.site
        if let text = invocation.value("site") {
            do { site = try SiteID(text) } catch {
                throw CLIError.usage("--site: \(error.message)")
            }
        }
        let list = try store.handoverList(for: site)
        if invocation.flag("json") {
            invocation.console.write(list.json)
        } else if invocation.flag("csv") {
            invocation.console.write(list.csv)
        } else {
            var table = TextTable(["kind", "id", "title or name", "class", "content sha256", "attachment"])
            for entry in list.entries {
                table.append([
                    entry.collection.singular, entry.id.description, entry.title, entry.classification.rawValue,
                    entry.contentSHA256,
                    entry.attachmentSHA256.isEmpty ? "" : "\(entry.attachmentName) (\(entry.attachmentBytes) bytes)",
                ])
            }
            invocation.console.write(table.render())
            invocation.console.line(summary(list))
            invocation.console.line("list sha256: json \(sha(list.json)), csv \(sha(list.csv))")
        }
        return ExitCode.success
    }

    static func retire(_ invocation: Invocation) throws -> Int32 {
        let site: SiteID
        let successor: SiteID
        do {
            site = try SiteID(invocation.arguments[0])
            successor = try SiteID(try invocation.required("successor"))
        } catch let error as ValidationError {
            throw CLIError.usage(error.message)
        }
        let directory = invocation.value("output") ?? FileManager.default.currentDirectoryPath
        let paths = ["json", "csv"].map { (directory as NSString).appendingPathComponent("handover-\(site).\($0)") }
        let store = try invocation.openStore()
        var written: [String] = []
        let retirement: Retirement
        do {
            retirement = try store.retire(site, successor: successor) { list in
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                for (path, text) in zip(paths, [list.json, list.csv]) {
                    try write(text, to: path)
                    written.append(path)
                }
            }
        } catch {
            for path in written { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
        invocation.pokeDaemon()
        let list = retirement.list
        if invocation.flag("json") {
            invocation.console.line(
                CanonicalJSON.object([
                    ("site", CanonicalJSON.quote(site.rawValue)),
                    ("successor", CanonicalJSON.quote(successor.rawValue)),
                    ("transferred", String(retirement.transferred)),
                    ("json", CanonicalJSON.quote(paths[0])), ("jsonSha256", CanonicalJSON.quote(sha(list.json))),
                    ("csv", CanonicalJSON.quote(paths[1])), ("csvSha256", CanonicalJSON.quote(sha(list.csv))),
                ]))
            return ExitCode.success
        }
        invocation.console.line(
            "retired \(site): \(retirement.transferred) record(s) now answer to \(successor); its credentials are revoked"
        )
        invocation.console.line(summary(list))
        invocation.console.line("wrote \(paths[0]) (sha256 \(sha(list.json)))")
        invocation.console.line("wrote \(paths[1]) (sha256 \(sha(list.csv)))")
        return ExitCode.success
    }

    private static func summary(_ list: HandoverList) -> String {
        let totals = list.totals
        return "handover list of \(list.site): \(totals.customers) customer(s), \(totals.documents) document(s), "
            + "\(totals.attachments) attachment(s) of \(totals.attachmentBytes) bytes"
    }

    private static func sha(_ text: String) -> String { SHA256.hexDigest(Array(text.utf8)) }

    /// Writes the file owner-only (it names confidential records), replacing it whole or not at all.
    private static func write(_ text: String, to path: String) throws {
        let temporary = path + ".tmp"
        guard PrivateFile.stage(text, at: temporary) else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw CLIError(exitCode: ExitCode.failure, message: "cannot write \(temporary); nothing was changed")
        }
        guard PrivateFile.install(temporary, at: path) else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw CLIError(exitCode: ExitCode.failure, message: "cannot write \(path); nothing was changed")
        }
    }
}
