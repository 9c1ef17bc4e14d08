import BranchSyncCore
import BranchSyncNode
import BranchSyncStore
import Foundation

/// `branchsync status`: the health of the node and (on the hub) of every site.
enum StatusCommand {
    static let spec = CommandSpec(
        name: "status",
        abstract: "show sync health: on the hub one row per site, on a branch its own view",
        discussion: """
            On the hub, 'to site' counts changes the site has not received yet and 'from site' what the site last said \
            it has for the hub; 'caught up' is yes only when both are 0 (as of the last contact). Reads the node's \
            database, so it works while 'branchsync run' is running.
            """,
        options: [
            .json, .flag("watch", help: "refresh until interrupted"),
            OptionSpec("interval", value: "SECONDS", help: "refresh interval for --watch (default 2)"),
        ],
        run: run)

    /// A session whose last heartbeat is older than this is shown as stale.
    static let staleAfterSeconds: Double = 30

    static func run(_ invocation: Invocation) throws -> Int32 {
        let interval = Double(try invocation.integer("interval", default: 2))
        let store = try invocation.openStore()
        repeat {
            let text = invocation.flag("json") ? try json(store) : try table(store)
            if invocation.flag("watch") && !invocation.flag("json") { invocation.console.write("\u{1B}[H\u{1B}[2J") }
            invocation.console.write(text)
            invocation.console.flush()
            if invocation.flag("watch") { Thread.sleep(forTimeInterval: max(0.2, interval)) }
        } while invocation.flag("watch")
        return ExitCode.success
    }

    struct SiteRow {
        var peer: PeerRecord
        var state: String
        var toSite: Int64
        var fromSite: Int64
        var conflicts: Int
        var quarantined: Int
        /// Nothing waiting either way as of the last contact; a site that never synced is not caught up.
        var caughtUp: Bool { peer.lastSyncAt != nil && toSite == 0 && fromSite == 0 }
        var skewWarning: Bool { abs(peer.clockSkewMilliseconds ?? 0) > SessionOptions().clockSkewWarning }
    }

    /// Open conflicts and quarantined changes in total (every one is recorded with the peer it came from).
    static func totals(_ issues: [String: (conflicts: Int, quarantined: Int)]) -> (conflicts: Int, quarantined: Int) {
        issues.values.reduce((0, 0)) { ($0.0 + $1.conflicts, $0.1 + $1.quarantined) }
    }

    static func rows(_ store: NodeStore, issues: [String: (conflicts: Int, quarantined: Int)]) throws -> [SiteRow] {
        return try store.peers().map { peer in
            let clearance = store.identity.role == .hub ? peer.clearance : nil
            let toSite = try store.pendingCount(for: peer.site, after: peer.ackedCursor, clearance: clearance)
            return SiteRow(
                peer: peer, state: connectionState(peer), toSite: toSite, fromSite: peer.peerPending,
                conflicts: issues[peer.site.rawValue]?.conflicts ?? 0,
                quarantined: issues[peer.site.rawValue]?.quarantined ?? 0)
        }
    }

    static func connectionState(_ peer: PeerRecord) -> String {
        guard let since = peer.stateSince else { return "never connected" }
        if peer.online {
            if let seen = peer.lastSeenAt, let date = parse(seen), Date().timeIntervalSince(date) > staleAfterSeconds {
                return "stale (no heartbeat since \(seen))"
            }
            return "online since \(since)"
        }
        return "offline since \(since)"
    }

    static func parse(_ iso: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: iso)
    }

    static func table(_ store: NodeStore) throws -> String {
        let identity = store.identity
        let counts = try store.counts()
        let issues = try store.openIssuesByPeer()
        let rows = try rows(store, issues: issues)
        let (conflicts, quarantined) = totals(issues)
        let customers = counts[.customers]?.live ?? 0
        let documents = counts[.documents]?.live ?? 0
        var out =
            "\(identity.role.rawValue) \(identity.site) — \(customers) customer\(customers == 1 ? "" : "s"), "
            + "\(documents) document\(documents == 1 ? "" : "s"), log at seq \(try store.lastSeq()); "
            + "\(conflicts) open conflict(s), \(quarantined) quarantined\n"
        if identity.role == .hub {
            var table = TextTable([
                "site", "clearance", "state", "last sync", "to site", "from site", "caught up", "conflicts",
                "quarantined", "clock skew", "version", "last error",
            ])
            for row in rows where row.peer.role == .branch {
                table.append([
                    row.peer.site.rawValue, row.peer.clearance.rawValue, row.state, row.peer.lastSyncAt ?? "never",
                    String(row.toSite), String(row.fromSite), row.caughtUp ? "yes" : "no", String(row.conflicts),
                    String(row.quarantined), skewText(row), row.peer.peerSoftware ?? "-", row.peer.lastError ?? "",
                ])
            }
            out += table.render()
            let branches = rows.filter { $0.peer.role == .branch }
            out +=
                "\(branches.count) site(s), \(branches.filter { $0.peer.online }.count) online, "
                + "\(branches.filter(\.caughtUp).count) caught up both ways\n"
        } else if let hub = rows.first(where: { $0.peer.role == .hub }) {
            out += "hub:               \(hub.peer.site) at \(identity.hubAddress ?? "?")\n"
            out += "connection:        \(hub.state)\n"
            out += "last sync:         \(hub.peer.lastSyncAt ?? "never")\n"
            out += "waiting to go up:  \(hub.toSite)\n"
            out += "waiting to come down: \(hub.fromSite) (as of the last contact)\n"
            out += "caught up:         \(hub.caughtUp ? "yes" : "no")\n"
            out += "received in total: \(hub.peer.incomingDone)\n"
            if hub.peer.incomingRemaining > 0 {
                let total = hub.peer.incomingDone + hub.peer.incomingRemaining
                out +=
                    "bootstrap:         \(hub.peer.incomingDone) of about \(total) received; resumes where it stopped\n"
            }
            out += "clock skew:        \(skewText(hub))\n"
            if let error = hub.peer.lastError { out += "last error:        \(error)\n" }
        } else {
            out += "hub:               \(identity.hubAddress ?? "not set") — never synced\n"
            out += "waiting to go up:  \(try store.pendingCount(for: identity.site, after: 0, clearance: nil))\n"
        }
        return out
    }

    static func skewText(_ row: SiteRow) -> String {
        guard let skew = row.peer.clockSkewMilliseconds else { return "-" }
        return "\(skew) ms" + (row.skewWarning ? " (WARNING: beyond \(SessionOptions().clockSkewWarning) ms)" : "")
    }

    static func json(_ store: NodeStore) throws -> String {
        let q = CanonicalJSON.quote
        let counts = try store.counts()
        let issues = try store.openIssuesByPeer()
        let total = totals(issues)
        let sites = try rows(store, issues: issues).map { row in
            CanonicalJSON.object([
                ("site", q(row.peer.site.rawValue)), ("role", q(row.peer.role.rawValue)),
                ("clearance", q(row.peer.clearance.rawValue)), ("online", row.peer.online ? "true" : "false"),
                ("state", q(row.state)), ("stateSince", row.peer.stateSince.map(q) ?? "null"),
                ("lastSync", row.peer.lastSyncAt.map(q) ?? "null"), ("toSite", String(row.toSite)),
                ("fromSite", String(row.fromSite)), ("caughtUp", row.caughtUp ? "true" : "false"),
                ("conflicts", String(row.conflicts)), ("quarantined", String(row.quarantined)),
                ("clockSkewMs", row.peer.clockSkewMilliseconds.map { String($0) } ?? "null"),
                ("clockSkewWarning", row.skewWarning ? "true" : "false"),
                ("received", String(row.peer.incomingDone)), ("incomingRemaining", String(row.peer.incomingRemaining)),
                ("software", row.peer.peerSoftware.map(q) ?? "null"),
                ("lastError", row.peer.lastError.map(q) ?? "null"),
            ])
        }
        return CanonicalJSON.object([
            ("site", q(store.identity.site.rawValue)), ("role", q(store.identity.role.rawValue)),
            ("customers", String(counts[.customers]?.live ?? 0)), ("documents", String(counts[.documents]?.live ?? 0)),
            ("lastSeq", String(try store.lastSeq())), ("openConflicts", String(total.conflicts)),
            ("quarantined", String(total.quarantined)), ("peers", CanonicalJSON.array(sites)),
        ]) + "\n"
    }
}
