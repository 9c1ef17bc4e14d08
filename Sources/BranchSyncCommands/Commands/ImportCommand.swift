import BranchSyncCore
import BranchSyncStore
import Foundation

/// `branchsync import customers FILE.csv`.
enum ImportCommand {
    static let columns = RecordSchema.customers.fields.filter { !$0.isSystem }.map(\.flag).joined(separator: ",")

    static let spec = CommandSpec(
        name: "import",
        abstract: "bulk-import records from a file",
        subcommands: [
            CommandSpec(
                name: "customers",
                abstract: "import a customer ledger from CSV (UTF-8, first line a header)",
                discussion: """
                    Header columns are the customer field flags: \(columns)
                    (code, name and credit-code are required). Every bad row is reported with its line number and \
                    reason; good rows are committed in batches. A row whose customer code already exists updates that \
                    customer, so re-running an import does not duplicate anything. Exit status 3 if any row was refused.
                    """,
                options: [.json, .flag("quiet", help: "no progress line")],
                arguments: [ArgumentSpec("FILE", help: "the CSV file")],
                run: run)
        ])

    static func run(_ invocation: Invocation) throws -> Int32 {
        let path = invocation.arguments[0]
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(exitCode: ExitCode.failure, message: "cannot read \(path): no such readable file")
        }
        let store = try invocation.openStore()
        var reader = CSVReader([UInt8](data))
        let console = invocation.console
        let showProgress = !invocation.flag("quiet")
        var lastDecile = 0
        let report: CustomerImporter.Report
        do {
            report = try CustomerImporter().run(&reader, into: store) { done, total in
                guard showProgress, total > 0 else { return }
                let percent = min(100, done * 100 / total)
                if console.errorIsTerminal {
                    console.writeError("\rimporting: \(done)/\(total) rows (\(percent)%)")
                } else if percent / 10 > lastDecile {
                    lastDecile = percent / 10
                    console.writeError("importing: \(done)/\(total) rows (\(percent)%)\n")
                }
            }
        } catch let error as StorageError {
            throw CLIError(
                exitCode: ExitCode.failure,
                message: "import stopped: \(error.description); rows committed so far are kept, re-run to continue")
        }
        if report.created + report.updated > 0 { invocation.pokeDaemon() }
        if showProgress && console.errorIsTerminal { console.writeError("\n") }
        for refused in report.refused {
            console.writeError("line \(refused.line): \(refused.message)\n")
        }
        if invocation.flag("json") {
            console.line(
                CanonicalJSON.object([
                    ("created", String(report.created)), ("updated", String(report.updated)),
                    ("unchanged", String(report.unchanged)),
                    (
                        "refused",
                        CanonicalJSON.array(
                            report.refused.map {
                                CanonicalJSON.object([
                                    ("line", String($0.line)), ("message", CanonicalJSON.quote($0.message)),
                                ])
                            })
                    ),
                ]))
        } else {
            console.line(
                "imported \(path): \(report.created) created, \(report.updated) updated, \(report.unchanged) unchanged, "
                    + "\(report.refused.count) refused")
        }
        return report.refused.isEmpty ? ExitCode.success : ExitCode.invalidData
    }
}
