import BranchSyncCore

/// `branchsync export --json`: every record with its version vector, stamps and tombstone, byte-stable.
enum ExportCommand {
    static let spec = CommandSpec(
        name: "export",
        abstract: "print every record, tombstones included, in canonical byte-stable form",
        discussion: """
            Records are ordered by id, one JSON object per line, keys in a fixed order. Two replicas holding the same \
            records print the same bytes, so `cmp a.json b.json` tells whether they agree.
            """,
        options: [OptionSpec.flag("json", help: "JSON output (the only format; required)")],
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        guard invocation.flag("json") else { throw CLIError.usage("choose an output format: export --json") }
        let store = try invocation.openStore()
        // Streamed record by record (the console buffers 64 KiB writes); same bytes as JSONLines.array.
        var first = true
        try store.forEachRecord { state in
            invocation.console.write((first ? "[\n" : ",\n") + state.canonicalJSON)
            first = false
        }
        invocation.console.write(first ? "[]\n" : "\n]\n")
        return ExitCode.success
    }
}
