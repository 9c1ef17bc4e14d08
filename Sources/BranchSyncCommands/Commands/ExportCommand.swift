import BranchSyncCore
import Foundation

/// `branchsync export --json`: every record with its version vector, stamps and tombstone, byte-stable.
enum ExportCommand {
    static let spec = CommandSpec(
        name: "export",
        abstract: "print every record, tombstones included, in canonical byte-stable form",
        discussion: """
            Records are ordered by id, one JSON object per line, keys in a fixed order. Two replicas holding the same \
            records print the same bytes, so `cmp a.json b.json` tells whether they agree. When the node holds \
            confidential or secret records, --purpose is required; the export is recorded in the audit trail with \
            how many such records it held and why. The audit trail itself is not exported (see 'branchsync audit').
            """,
        options: [
            OptionSpec.flag("json", help: "JSON output (the only format; required)"),
            OptionSpec(
                "purpose", value: "TEXT",
                help: "why (required when confidential or secret records are held; kept in the audit trail)"),
        ],
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        guard invocation.flag("json") else { throw CLIError.usage("choose an output format: export --json") }
        let store = try invocation.openStore()
        let purpose = invocation.value("purpose")?.trimmingCharacters(in: .whitespaces)
        let sensitive = try store.recordsNeedingPurpose()
        if sensitive > 0 && (purpose ?? "").isEmpty {
            throw CLIError.usage(
                "this node holds \(sensitive) confidential or secret record(s): say why you export them with "
                    + "--purpose TEXT (kept in the audit trail)")
        }
        // Streamed record by record (the console buffers 64 KiB writes); same bytes as JSONLines.array.
        var first = true
        var total = 0
        var confidential = 0
        var secret = 0
        try store.forEachRecord { state in
            invocation.console.write((first ? "[\n" : ",\n") + state.canonicalJSON)
            first = false
            total += 1
            if state.classification == .confidential { confidential += 1 }
            if state.classification == .secret { secret += 1 }
        }
        invocation.console.write(first ? "[]\n" : "\n]\n")
        // One audit entry for the whole export: what it held of confidential and secret records, and why.
        try store.recordExport(
            confidential: confidential, secret: secret, total: total, purpose: purpose)
        if store.identity.role == .branch { invocation.pokeDaemon() }
        return ExitCode.success
    }
}
