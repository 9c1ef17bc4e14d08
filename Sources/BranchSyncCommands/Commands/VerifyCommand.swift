import BranchSyncCore
import BranchSyncNode
import BranchSyncStore
import Foundation

/// `branchsync verify`: compares this node's records with its peers' and repairs differences (DESIGN.md §13).
enum VerifyCommand {
    static let spec = CommandSpec(
        name: "verify",
        abstract: "check that sites hold identical records, and repair any difference",
        discussion: """
            Both sides compare digests of every record in the branch's scope (a hash tree over id ranges: equal \
            replicas cost one round trip), repair differing records with ordinary merges, and check once more. On the \
            hub, the running daemon verifies with every connected site (or --site); offline sites are verified when \
            they next connect. On a branch, the running daemon verifies with the hub, or without a daemon this \
            command syncs once and verifies. Exit status 0 when every site checked is identical.
            """,
        options: [
            OptionSpec("site", value: "SITE", help: "hub: verify with this site only"),
            OptionSpec("timeout", value: "SECONDS", help: "how long to wait for the result (default 120)"),
            .json,
        ],
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let timeout = Double(try invocation.integer("timeout", default: 120))
        let site = try invocation.value("site").map { try SiteID($0) }
        if store.identity.role == .branch {
            if site != nil { throw CLIError.usage("--site is for the hub; a branch verifies with its hub") }
            if !DaemonLock.isHeld(directory: invocation.dataDirectory) { return try verifyOnce(invocation) }
        } else if !DaemonLock.isHeld(directory: invocation.dataDirectory) {
            throw CLIError(
                exitCode: ExitCode.failure,
                message: "the hub's daemon is not running; verify runs inside its sessions: start 'branchsync run'")
        }
        let peers = try store.peers().filter { site == nil || $0.site == site }
        guard !peers.isEmpty else {
            throw CLIError(
                exitCode: ExitCode.failure,
                message: site.map { "site \($0) is not enrolled at this hub" } ?? "this node has no peer to verify with"
            )
        }
        let requestedAt = Timestamp.nowISO8601()
        try store.requestVerify(with: site)
        invocation.pokeDaemon()
        var results: [SiteID: (identical: Bool?, text: String)] = [:]
        let deadline = Date().addingTimeInterval(timeout)
        var waiting = Set(peers.map(\.site))
        repeat {
            for peer in try store.peers() where waiting.contains(peer.site) {
                if let started = peer.lastVerifyStartedAt, started >= requestedAt, let result = peer.lastVerifyResult {
                    results[peer.site] = (result.hasPrefix("identical"), result)
                    waiting.remove(peer.site)
                } else if !peer.online {
                    results[peer.site] = (nil, "offline: verified when it next connects")
                    waiting.remove(peer.site)
                }
            }
            if !waiting.isEmpty {
                if invocation.console.errorIsTerminal {
                    invocation.console.writeError(
                        "\rverifying with \(waiting.map(\.rawValue).sorted().joined(separator: ", "))…")
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
        } while !waiting.isEmpty && Date() < deadline
        if invocation.console.errorIsTerminal { invocation.console.writeError("\r\u{1B}[K") }
        for site in waiting { results[site] = (nil, "no result within \(Int(timeout)) s (is it catching up?)") }
        let ordered = results.sorted { $0.key < $1.key }
        if invocation.flag("json") {
            invocation.console.write(
                JSONLines.array(
                    ordered.map { site, result in
                        CanonicalJSON.object([
                            ("site", CanonicalJSON.quote(site.rawValue)),
                            ("identical", result.identical.map { $0 ? "true" : "false" } ?? "null"),
                            ("result", CanonicalJSON.quote(result.text)),
                        ])
                    }))
        } else {
            for (site, result) in ordered { invocation.console.line("\(site): \(result.text)") }
        }
        return ordered.allSatisfy({ $0.value.identical == true }) ? ExitCode.success : ExitCode.failure
    }

    /// A branch without a running daemon: sync once, which verifies before it ends.
    static func verifyOnce(_ invocation: Invocation) throws -> Int32 {
        let client = BranchClient(
            directory: invocation.dataDirectory, hubAddress: nil, logger: .silent, software: BranchSyncTool.version)
        let summary: SessionSummary
        do { summary = try client.syncOnce() } catch let error as NodeError {
            throw CLIError(exitCode: ExitCode.failure, message: "verify failed: \(error.message)")
        }
        let store = try invocation.openStore()
        let result = try store.peers().first { $0.role == .hub }?.lastVerifyResult ?? "no result"
        let identical = summary.verify?.identical ?? false
        if invocation.flag("json") {
            invocation.console.line(
                CanonicalJSON.object([
                    ("identical", identical ? "true" : "false"),
                    ("records", String(summary.verify?.records ?? 0)), ("repaired", String(summary.repaired)),
                    (
                        "differing",
                        CanonicalJSON.array(
                            (summary.verify?.differing ?? []).map { CanonicalJSON.quote($0.description) })
                    ),
                    ("result", CanonicalJSON.quote(result)),
                ]))
        } else {
            invocation.console.line(result)
        }
        return identical ? ExitCode.success : ExitCode.failure
    }
}
