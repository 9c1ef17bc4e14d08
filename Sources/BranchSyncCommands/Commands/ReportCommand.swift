import BranchSyncCore
import BranchSyncStore
import Foundation

/// `branchsync report customers|documents`: statistics reports over the whole group, at the hub.
enum ReportCommand {
    static let spec = CommandSpec(
        name: "report",
        abstract: "statistics reports over the group's live records (hub only)",
        discussion: """
            Counts live records per group, how many were created and how many changed in the period (--from and \
            --to are inclusive dates, UTC; the default is the current month), and the open suspicious-customer \
            leads and conflicts on them. The last row is the total.
            """,
        subcommands: [
            reportSpec(.customers, dimensions: StatisticsReport.Dimension.allowed(for: .customers)),
            reportSpec(.documents, dimensions: StatisticsReport.Dimension.allowed(for: .documents)),
        ])

    static func reportSpec(_ collection: RecordCollection, dimensions: [StatisticsReport.Dimension]) -> CommandSpec {
        let names = dimensions.map(\.rawValue)
        return CommandSpec(
            name: collection.rawValue, abstract: "\(collection.rawValue) per \(names.joined(separator: ", "))",
            options: [
                OptionSpec(
                    "by", value: names.joined(separator: "|"), help: "what to group by (default: \(names[0]))"),
                OptionSpec("from", value: "YYYY-MM-DD", help: "first day of the period (default: first of the month)"),
                OptionSpec("to", value: "YYYY-MM-DD", help: "last day of the period (default: today)"),
                .json, .csv,
            ],
            run: { try run(collection, dimensions: dimensions, $0) })
    }

    static func run(_ collection: RecordCollection, dimensions: [StatisticsReport.Dimension], _ invocation: Invocation)
        throws -> Int32
    {
        let byName = invocation.value("by") ?? dimensions[0].rawValue
        guard let dimension = StatisticsReport.Dimension(rawValue: byName), dimensions.contains(dimension) else {
            throw CLIError.usage(
                "--by must be one of \(dimensions.map(\.rawValue).joined(separator: ", ")), got '\(byName)'")
        }
        let today = Timestamp.today()
        let fromText = invocation.value("from") ?? String(today.prefix(8)) + "01"
        let toText = invocation.value("to") ?? today
        let from: UInt64
        let to: UInt64
        do {
            from = try CalendarDate.startMilliseconds(of: fromText, field: "from")
            to = try CalendarDate.startMilliseconds(of: toText, field: "to") + 86_400_000 - 1
        } catch {
            throw CLIError.usage("--\(error.field) \(error.message)")
        }
        guard from <= to else { throw CLIError.usage("--from \(fromText) is after --to \(toText)") }
        let store = try invocation.openStore()
        guard store.identity.role == .hub else {
            throw CLIError(
                exitCode: ExitCode.failure,
                message: "`branchsync report` runs at the hub, which holds the whole group's records; this node is "
                    + "branch \(store.identity.site)")
        }
        let report = try store.statistics(of: collection, by: dimension, period: from...to)
        var listing = Listing(
            [dimension.rawValue, collection.rawValue, "new", "changed"]
                + (collection == .customers ? ["open leads"] : []) + ["open conflicts"],
            numeric: [collection.rawValue, "new", "changed", "open leads", "open conflicts"])
        for row in report.rows {
            listing.append(
                [row.group, String(row.records), String(row.new), String(row.changed)]
                    + (collection == .customers ? [String(row.openLeads)] : []) + [String(row.openConflicts)])
        }
        if !invocation.flag("json") && !invocation.flag("csv") {
            invocation.console.line(
                "\(collection.rawValue) of group \(store.identity.site) by \(dimension.rawValue), "
                    + "period \(fromText) to \(toText)")
        }
        listing.print(to: invocation)
        return ExitCode.success
    }
}
