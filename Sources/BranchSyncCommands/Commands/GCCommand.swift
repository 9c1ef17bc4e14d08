import BranchSyncCore
import BranchSyncStore

/// `branchsync gc`: one round of tombstone collection at the hub, now (Protocol.md §9.7).
enum GCCommand {
    static let spec = CommandSpec(
        name: "gc",
        abstract: "hub: remove tombstones every site has settled past, and say what still waits",
        discussion: """
            A deleted record stays as a tombstone until every site that counts has been caught up with the hub \
            after the delete (so none can send an older copy back) and it is --gc-min-age old; a destroyed record's \
            tombstone stays for good. Retired and revoked sites do not count; a site \
            silent longer than --gc-horizon while it holds tombstones back stops counting and resyncs in full when \
            it returns. 'branchsync run' on the hub runs this every --gc-interval; this command runs one round at \
            once, next to a running daemon or without one. Branches drop their copies when the hub tells them.
            """,
        options: [
            OptionSpec(
                "gc-horizon", value: "DURATION",
                help: "how long a site may be silent before it stops holding tombstones back (default 30d)"),
            OptionSpec(
                "gc-min-age", value: "DURATION",
                help: "collect only tombstones at least this old (default 2d: a restore of the hub's latest backup "
                    + "then brings back nothing the branches forgot; 0s for none)"),
            .json,
        ],
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        let horizon = try DurationArgument.milliseconds(
            invocation, "gc-horizon", default: NodeStore.defaultCollectionHorizonMilliseconds)
        let minimumAge = try DurationArgument.milliseconds(
            invocation, "gc-min-age", default: NodeStore.defaultCollectionMinimumAgeMilliseconds, allowingZero: true)
        let store = try invocation.openStore()
        guard store.identity.role == .hub else {
            throw CLIError.usage(
                "gc runs at the hub, which knows what every site has applied; a branch drops its copies of collected "
                    + "records when the hub tells it")
        }
        let round = try store.collectTombstones(horizonMilliseconds: horizon, minimumAgeMilliseconds: minimumAge)
        // A running daemon drops what it keeps in memory of the log's newest entries.
        if round.collected > 0 { invocation.pokeDaemon() }
        if invocation.flag("json") {
            invocation.console.line(
                CanonicalJSON.object([
                    ("collected", String(round.collected)), ("waiting", String(round.waiting)),
                    ("safePosition", String(round.safePosition)),
                    ("heldBackBy", CanonicalJSON.array(round.heldBackBy.map { CanonicalJSON.quote($0.rawValue) })),
                    ("markedStale", CanonicalJSON.array(round.markedStale.map { CanonicalJSON.quote($0.rawValue) })),
                    ("skippedBecause", round.skippedBecause.map(CanonicalJSON.quote) ?? "null"),
                ]))
            return ExitCode.success
        }
        if let reason = round.skippedBecause {
            invocation.console.line("nothing collected: \(reason); \(round.waiting) tombstone(s) wait")
            return ExitCode.success
        }
        for site in round.markedStale {
            invocation.console.line(
                "site \(site) was silent past the horizon: it no longer holds tombstones back and resyncs in full when "
                    + "it returns")
        }
        invocation.console.line("collected \(round.collected) tombstone(s) up to log position \(round.safePosition)")
        if round.waiting > 0 {
            let why =
                round.heldBackBy.isEmpty
                ? " (younger than --gc-min-age, or their record waits in the quarantine for review)"
                : "; held back by \(round.heldBackBy.map(\.rawValue).joined(separator: ", ")) (not caught up since)"
            invocation.console.line("\(round.waiting) tombstone(s) wait\(why)")
        }
        return ExitCode.success
    }
}
