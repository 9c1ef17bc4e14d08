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
            'caught up' is yes only when the site is connected and was heard from in the last \
            \(PeerHealth.staleAfterSeconds) s, nothing is waiting either way, and a verify found both replicas \
            identical after the last change on either side; otherwise it says why not. 'to site' counts changes the \
            site has not acknowledged and how long the oldest has waited; 'from site' what the site last said it has \
            for this node. Reads the node's database, so it works while 'branchsync run' is running.
            """,
        options: [
            .json, .flag("watch", help: "refresh until interrupted (the time of each refresh is shown)"),
            OptionSpec("interval", value: "SECONDS", help: "refresh interval for --watch (default 2)"),
            .flag("wide", help: "more columns (verified, full reasons); the default fits 80 columns"),
        ],
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        let seconds = try invocation.integer("interval", default: 2)
        guard (1...86_400).contains(seconds) else {
            throw CLIError.usage("--interval must be from 1 to 86400 seconds, got \(seconds)")
        }
        let interval = Double(seconds)
        let store = try invocation.openStore()
        repeat {
            var text = invocation.flag("json") ? try json(store) : try table(store, wide: invocation.flag("wide"))
            if invocation.flag("watch") && !invocation.flag("json") {
                invocation.console.write("\u{1B}[H\u{1B}[2J")
                text = watchHeader(at: Timestamp.nowISO8601(), interval: interval) + text
            }
            invocation.console.write(text)
            invocation.console.flush()
            if invocation.flag("watch") { Thread.sleep(forTimeInterval: max(0.2, interval)) }
        } while invocation.flag("watch")
        return ExitCode.success
    }

    static func sites(_ store: NodeStore) throws -> [PeerHealth] {
        try store.peerHealth()
    }

    /// Hub: tombstones waiting for every site to settle past them, who holds them back, and sites silent past the
    /// GC horizon (Protocol.md §9.7).
    static func tombstoneLines(_ store: NodeStore) throws -> String {
        let gc = try store.tombstoneCollectionStatus()
        var out = ""
        if gc.waiting > 0 {
            let heldBack =
                gc.heldBackBy.isEmpty ? "" : "; held back by " + gc.heldBackBy.map(\.rawValue).joined(separator: ", ")
            out += "\(gc.waiting) tombstone(s) wait (\(gc.collectable) collectable\(heldBack)): see 'branchsync gc'\n"
        }
        for stale in gc.staleSites {
            out += "\(stale.site) stale since \(Timestamp.readable(stale.since)): resyncs in full when it returns\n"
        }
        return out
    }

    /// Hub: the collection state as JSON; `null` at a branch.
    static func tombstonesJSON(_ store: NodeStore) throws -> String {
        guard store.identity.role == .hub else { return "null" }
        let gc = try store.tombstoneCollectionStatus()
        return CanonicalJSON.object([
            ("waiting", String(gc.waiting)), ("collectable", String(gc.collectable)),
            ("heldBackBy", CanonicalJSON.array(gc.heldBackBy.map { CanonicalJSON.quote($0.rawValue) })),
            (
                "staleSites",
                CanonicalJSON.array(
                    gc.staleSites.map {
                        CanonicalJSON.object([
                            ("site", CanonicalJSON.quote($0.site.rawValue)), ("since", CanonicalJSON.quote($0.since)),
                        ])
                    })
            ),
            ("collectedTotal", String(gc.collectedTotal)),
            ("lastRoundAt", gc.lastRoundAt.map(CanonicalJSON.quote) ?? "null"),
        ])
    }

    static func skewWarning(_ site: PeerHealth) -> Bool {
        (site.peer.clockSkewMilliseconds?.magnitude ?? 0) > SessionOptions().clockSkewWarning.magnitude
    }

    static func table(_ store: NodeStore, wide: Bool = false) throws -> String {
        let identity = store.identity
        let counts = try store.counts()
        let sites = try sites(store)
        let conflicts = sites.reduce(0) { $0 + $1.issues.conflicts }
        let quarantined = sites.reduce(0) { $0 + $1.issues.quarantined }
        let customers = counts[.customers]?.live ?? 0
        let documents = counts[.documents]?.live ?? 0
        var out =
            "\(identity.role.rawValue) \(identity.site) — \(customers) customer\(customers == 1 ? "" : "s"), "
            + "\(documents) document\(documents == 1 ? "" : "s"); \(conflicts) open conflict(s), "
            + "\(quarantined) quarantined\nlog at seq \(try store.lastSeq())\n"
        let leads = try store.openLeadCount()
        if leads > 0 {
            out += "\(leads) open suspicious-customer lead(s) to investigate: see 'branchsync suspicious list'\n"
        }
        let due = try store.retentionDueCount(before: Timestamp.today())
        if due > 0 {
            out += "\(due) record(s) past their retention date: see 'branchsync retention due'\n"
        }
        if identity.role == .hub { out += try tombstoneLines(store) }
        if let since = try store.metadata(NodeStore.recoveringKey) {
            let waiting = sites.filter { $0.peer.resyncPending && $0.peer.staleSince == nil }.map(\.peer.site.rawValue)
            out +=
                "RECOVERING since \(since): this hub was restored from an older copy; waiting for "
                + "\(waiting.isEmpty ? "no site" : waiting.joined(separator: ", ")) to resync\n"
        }
        if identity.role == .hub {
            let branches = sites.filter(\.isServedBranch)
            if wide {
                var table = TextTable(
                    ["site", "state", "seen", "to site", "from site", "caught up", "verified", "issues"])
                for site in branches {
                    table.append([
                        site.peer.site.rawValue, site.connection, PeerHealth.age(site.lastSeenSecondsAgo),
                        lag(site.toSite, site.toSiteLagSeconds), lag(site.fromSite, site.fromSiteLagSeconds),
                        site.notCaughtUpBecause.map { "no: \($0)" } ?? "yes", verified(site), issues(site),
                    ])
                }
                out += table.render()
            } else {
                // 80 columns: short cells; why a site is not caught up goes on a line of its own.
                var table = TextTable(["site", "state", "seen", "to site", "from site", "caught up", "issues"])
                for site in branches {
                    table.append([
                        String(site.peer.site.rawValue.prefix(10)), shortConnection(site),
                        PeerHealth.age(site.lastSeenSecondsAgo), lag(site.toSite, site.toSiteLagSeconds),
                        lag(site.fromSite, site.fromSiteLagSeconds), site.caughtUp ? "yes" : "no",
                        String(issues(site).prefix(14)),
                    ])
                }
                out += table.render()
                for site in branches {
                    if let reason = site.notCaughtUpBecause { out += "\(site.peer.site): not caught up: \(reason)\n" }
                }
            }
            out +=
                "\(branches.count) site(s), \(branches.filter(\.isLive).count) online, "
                + "\(branches.filter(\.caughtUp).count) caught up both ways\n"
            for site in branches { out += notes(site) }
            for site in sites where site.peer.retiredAt != nil {
                out +=
                    "\(site.peer.site) retired at \(site.peer.retiredAt?.prefix(19) ?? ""): its records are with "
                    + "\(site.peer.successor?.rawValue ?? "?"), its credentials revoked\n"
            }
            for site in sites where site.peer.retiredAt == nil {
                if let at = site.peer.revokedAt { out += "\(site.peer.site) revoked at \(at.prefix(19))\n" }
                if let at = site.peer.disabledAt {
                    out += "\(site.peer.site) disabled at \(at.prefix(19)): 'branchsync site enable' lets it back\n"
                }
            }
            for hit in try store.limitHits() {
                out +=
                    "limit \(hit.name) reached \(hit.count) time(s), last at \(hit.lastAt.prefix(19)): "
                    + "\(hit.lastDetail.escapedForDisplay(limit: 160))\n"
            }
        } else if let hub = sites.first(where: { $0.peer.role == .hub }) {
            out += "hub:               \(hub.peer.site) at \(identity.hubAddress ?? "?")\n"
            out += "connection:        \(hub.connection), last seen \(PeerHealth.age(hub.lastSeenSecondsAgo)) ago\n"
            out += "last sync:         \(hub.peer.lastSyncAt ?? "never")\n"
            out += "waiting to go up:  \(lag(hub.toSite, hub.toSiteLagSeconds))\n"
            out += "waiting to come down: \(lag(hub.fromSite, hub.fromSiteLagSeconds)) (as of the last contact)\n"
            out += "caught up:         \(hub.notCaughtUpBecause.map { "no: \($0)" } ?? "yes")\n"
            out += "verified:          \(verified(hub))\n"
            out += "received in total: \(hub.peer.incomingDone)\n"
            if hub.peer.incomingRemaining > 0 {
                let total = hub.peer.incomingDone + hub.peer.incomingRemaining
                out +=
                    "bootstrap:         \(hub.peer.incomingDone) of about \(total) received; resumes where it stopped\n"
            }
            out += "clock skew:        \(skewText(hub))\n"
            out += notes(hub)
        } else {
            out += "hub:               \(identity.hubAddress ?? "not set") — never synced\n"
            out += "waiting to go up:  \(try store.pendingCount(for: identity.site, after: 0, clearance: nil))\n"
            out += "caught up:         no: never synced\n"
        }
        return out
    }

    /// The line above each refresh of `--watch`: when it was made (UTC) and how often.
    static func watchHeader(at iso: String, interval: Double) -> String {
        "refreshed \(Timestamp.readable(iso)) UTC, every \(Int(interval)) s "
            + "(Ctrl-C stops)\n"
    }

    /// `online`, `stale`, `offline` or `never`: the state without its date (the `seen` column has the age).
    static func shortConnection(_ site: PeerHealth) -> String {
        guard site.peer.stateSince != nil else { return "never" }
        if site.peer.online { return site.isLive ? "online" : "stale" }
        return "offline"
    }

    static func lag(_ count: Int64, _ seconds: Int64?) -> String {
        count == 0 ? "0" : "\(count) (\(PeerHealth.age(seconds)))"
    }

    static func verified(_ site: PeerHealth) -> String {
        guard let at = site.peer.verifiedAt else {
            return site.peer.lastVerifyResult.map { "never (\($0.prefix(24)))" } ?? "never"
        }
        return String(at.prefix(19)) + (site.verifiedSinceLastChange ? "" : " (changed since)")
    }

    static func issues(_ site: PeerHealth) -> String {
        var parts: [String] = []
        if site.issues.invalid > 0 { parts.append("FLAGGED \(site.issues.invalid) invalid") }
        if site.issues.conflicts > 0 { parts.append("\(site.issues.conflicts) conflict(s)") }
        let refused = site.issues.quarantined - site.issues.invalid
        if refused > 0 { parts.append("\(refused) refused") }
        if site.issues.held > 0 { parts.append("\(site.issues.held) held") }
        if skewWarning(site) { parts.append("clock skew") }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }

    /// Lines under the table for what an operator must act on.
    static func notes(_ site: PeerHealth) -> String {
        var out = ""
        let name = site.peer.site.rawValue
        if site.issues.invalid > 0 {
            out +=
                "\(name): FLAGGED: \(site.issues.invalid) causally invalid change(s) quarantined (forged or inconsistent); "
                + "inspect with 'branchsync quarantine list', then 'branchsync quarantine drop ID'\n"
        }
        if let result = site.peer.lastVerifyResult, result.hasPrefix("differ") {
            out += "\(name): last verify: \(result)\n"
        }
        if let regression = site.peer.lastRegression {
            out += "\(name): restore detected \(regression.escapedForDisplay(limit: 160))\n"
        }
        if skewWarning(site) { out += "\(name): clock skew \(skewText(site))\n" }
        if let error = site.peer.lastError, !site.isLive {
            out += "\(name): last error: \(error.escapedForDisplay(limit: 160))\n"
        }
        return out
    }

    static func skewText(_ site: PeerHealth) -> String {
        guard let skew = site.peer.clockSkewMilliseconds else { return "-" }
        return "\(skew) ms"
            + (skewWarning(site) ? " (WARNING: beyond \(SessionOptions().clockSkewWarning) ms)" : "")
    }

    static func json(_ store: NodeStore) throws -> String {
        let q = CanonicalJSON.quote
        func optional(_ value: Int64?) -> String { value.map { String($0) } ?? "null" }
        func text(_ value: String?) -> String { value.map { q($0.escapedForDisplay(limit: 400)) } ?? "null" }
        let counts = try store.counts()
        let sites = try sites(store)
        let entries = sites.map { site -> String in
            let peer = site.peer
            let fields: [(String, String)] = [
                ("site", q(peer.site.rawValue)), ("role", q(peer.role.rawValue)),
                ("clearance", q(peer.clearance.rawValue)),
                ("online", site.isLive ? "true" : "false"), ("state", q(site.connection)),
                ("stateSince", text(peer.stateSince)), ("lastSeen", text(peer.lastSeenAt)),
                ("lastSeenSecondsAgo", optional(site.lastSeenSecondsAgo)), ("lastSync", text(peer.lastSyncAt)),
                ("toSite", String(site.toSite)), ("toSiteLagSeconds", optional(site.toSiteLagSeconds)),
                ("fromSite", String(site.fromSite)), ("fromSiteLagSeconds", optional(site.fromSiteLagSeconds)),
                ("caughtUp", site.caughtUp ? "true" : "false"), ("notCaughtUpBecause", text(site.notCaughtUpBecause)),
                ("verifiedAt", text(peer.verifiedAt)),
                ("verifiedSinceLastChange", site.verifiedSinceLastChange ? "true" : "false"),
                ("verifiedRecords", optional(peer.verifiedRecords)), ("lastVerifyAt", text(peer.lastVerifyAt)),
                ("lastVerifyResult", text(peer.lastVerifyResult)),
                ("conflicts", String(site.issues.conflicts)), ("quarantined", String(site.issues.quarantined)),
                ("invalid", String(site.issues.invalid)), ("flagged", site.issues.invalid > 0 ? "true" : "false"),
                ("held", String(site.issues.held)), ("lastRegression", text(peer.lastRegression)),
                ("resyncPending", peer.resyncPending ? "true" : "false"),
                ("clockSkewMs", optional(peer.clockSkewMilliseconds)),
                ("clockSkewWarning", skewWarning(site) ? "true" : "false"),
                ("received", String(peer.incomingDone)), ("incomingRemaining", String(peer.incomingRemaining)),
                ("software", text(peer.peerSoftware)), ("lastError", text(peer.lastError)),
                ("retiredAt", text(peer.retiredAt)), ("successor", text(peer.successor?.rawValue)),
                ("disabledAt", text(peer.disabledAt)), ("revokedAt", text(peer.revokedAt)),
                ("settledCursor", String(peer.settledCursor)), ("staleSince", text(peer.staleSince)),
            ]
            return CanonicalJSON.object(fields)
        }
        return CanonicalJSON.object([
            ("site", q(store.identity.site.rawValue)), ("role", q(store.identity.role.rawValue)),
            ("customers", String(counts[.customers]?.live ?? 0)), ("documents", String(counts[.documents]?.live ?? 0)),
            ("lastSeq", String(try store.lastSeq())),
            ("openConflicts", String(sites.reduce(0) { $0 + $1.issues.conflicts })),
            ("quarantined", String(sites.reduce(0) { $0 + $1.issues.quarantined })),
            ("openLeads", String(try store.openLeadCount())),
            ("retentionDue", String(try store.retentionDueCount(before: Timestamp.today()))),
            ("recovering", try store.metadata(NodeStore.recoveringKey) != nil ? "true" : "false"),
            ("tombstones", try tombstonesJSON(store)),
            ("peers", CanonicalJSON.array(entries)),
            (
                "limitHits",
                CanonicalJSON.array(
                    try store.limitHits().map { hit in
                        CanonicalJSON.object([
                            ("name", q(hit.name)), ("count", String(hit.count)), ("lastAt", q(hit.lastAt)),
                            ("lastDetail", q(hit.lastDetail.escapedForDisplay(limit: 400))),
                        ])
                    })
            ),
        ]) + "\n"
    }
}
