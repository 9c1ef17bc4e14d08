import BranchSyncCore
import BranchSyncStore
import Foundation

/// Reads the numbers the metrics endpoint serves: from the node's database with the read queries `status` uses
/// (``PeerHealth``), and from the daemon's ``NodeActivity`` for what the database does not hold. A rendered scrape is
/// served again for ``scrapeReuseMilliseconds``, so clients scraping in a loop (or many at once) cause at most one
/// collection a second. `/metrics` and `/healthz` read on connections of their own, so a health check never waits
/// behind a slow collection.
final class MetricsCollector: @unchecked Sendable {
    // @unchecked: `cached` and `collections` are touched only inside `scrapeConnection.with`, which holds that
    // connection's lock; everything else is immutable.
    private let scrapeConnection: CollectorConnection
    private let healthConnection: CollectorConnection
    private var cached: (body: String, uptime: UInt64)?
    private var collections = 0
    private let role: NodeRole
    private let activity: NodeActivity
    private let registry: SessionRegistry?
    private let software: String
    private let uptime: @Sendable () -> UInt64

    /// The hub's session loop turns every 100 ms; one silent for this long is stuck.
    static let hubLoopStaleAfterSeconds = 30.0
    /// A branch's loop notes itself alive at every step of a session (a ping interval apart at most), at every stage
    /// of connecting (each bounded by the handshake timeout) and while it waits to retry; one silent for this long is
    /// stuck (inside a session, or in a store call that does not return).
    static let branchLoopStaleAfterSeconds = 60.0
    /// How long a rendered scrape is served again instead of collecting afresh.
    static let scrapeReuseMilliseconds: UInt64 = 1_000

    /// - Parameter uptime: the monotonic clock in milliseconds (tests pass their own).
    init(
        directory: String, role: NodeRole, activity: NodeActivity, registry: SessionRegistry?, software: String,
        uptime: @escaping @Sendable () -> UInt64 = { Clock.uptimeMilliseconds() }
    ) {
        scrapeConnection = CollectorConnection(directory: directory)
        healthConnection = CollectorConnection(directory: directory)
        self.role = role
        self.activity = activity
        self.registry = registry
        self.software = software
        self.uptime = uptime
    }

    /// How long the sync loop of a node with `role` may go without noting itself alive before it counts as stuck.
    static func loopStaleAfter(role: NodeRole) -> Double {
        switch role {
        case .hub: hubLoopStaleAfterSeconds
        case .branch: branchLoopStaleAfterSeconds
        }
    }

    /// The `/metrics` body: the one rendered less than ``scrapeReuseMilliseconds`` ago, else a fresh collection.
    /// - Throws: ``StorageError`` when the database cannot be opened or read.
    func scrape() throws -> String {
        try scrapeConnection.with { store in
            let now = uptime()
            if let cached, now >= cached.uptime, now - cached.uptime < Self.scrapeReuseMilliseconds {
                return cached.body
            }
            collections += 1
            let body = MetricsRenderer.render(try families(store, now: Date()))
            cached = (body, now)
            return body
        }
    }

    /// Collections run by ``scrape()`` so far.
    var collectionCount: Int { (try? scrapeConnection.with { _ in collections }) ?? 0 }

    /// Runs `body` while holding the connection scrapes use, as a slow collection does (for tests).
    func whileCollecting(_ body: () -> Void) throws {
        try scrapeConnection.with { _ in body() }
    }

    /// Whether the node is healthy (its database answers, its sync loop is alive), with one line per check.
    func health() -> (healthy: Bool, report: String) {
        var lines: [String] = []
        var healthy = true
        do {
            let head = try healthConnection.with { try $0.lastSeq() }
            lines.append("store: ok (log at seq \(head))")
        } catch {
            healthy = false
            lines.append("store: \(String(describing: error).escapedForDisplay(limit: 300))")
        }
        if let problem = activity.loopProblem(staleAfter: Self.loopStaleAfter(role: role)) {
            healthy = false
            lines.append("sync loop: \(problem)")
        } else {
            lines.append("sync loop: ok")
        }
        return (healthy, ([healthy ? "ok" : "unhealthy"] + lines).joined(separator: "\n"))
    }

    private func families(_ store: NodeStore, now: Date) throws -> [MetricFamily] {
        let identity = store.identity
        let peers = try store.peerHealth(now: now)
        var info = MetricFamily(
            "branchsync_info", .gauge, help: "This node's site, role and BranchSync version (always 1).")
        info.add(
            [("site", identity.site.rawValue), ("role", identity.role.rawValue), ("version", software)], 1 as Double)
        var records = MetricFamily(
            "branchsync_records", .gauge, help: "Records held, by collection, live or deleted (tombstones).")
        let counts = try store.counts()
        for collection in RecordCollection.allCases {
            let count = counts[collection] ?? (0, 0)
            records.add([("collection", collection.rawValue), ("state", "live")], Int64(count.live))
            records.add([("collection", collection.rawValue), ("state", "deleted")], Int64(count.deleted))
        }
        var conflicts = MetricFamily(
            "branchsync_conflicts_open", .gauge, help: "Open conflicts, by the site whose change met a local one.")
        var quarantined = MetricFamily(
            "branchsync_quarantine_open", .gauge,
            help: "Open quarantine rows (changes refused or causally invalid), by the site that sent them.")
        var invalid = MetricFamily(
            "branchsync_quarantine_invalid", .gauge,
            help: "Of the open quarantine rows, the causally invalid ones (the site is flagged), by site.")
        var held = MetricFamily(
            "branchsync_quarantine_held", .gauge,
            help: "Changes held until a record they refer to arrives, by the site that sent them.")
        var applied = MetricFamily(
            "branchsync_changes_applied_total", .counter,
            help: "Changes received from the site and applied to this node's records since the daemon started.")
        let appliedBySite = activity.appliedBySite
        for peer in peers {
            let site = [("site", peer.peer.site.rawValue)]
            conflicts.add(site, Int64(peer.issues.conflicts))
            quarantined.add(site, Int64(peer.issues.quarantined))
            invalid.add(site, Int64(peer.issues.invalid))
            held.add(site, Int64(peer.issues.held))
            applied.add(site, appliedBySite[peer.peer.site] ?? 0)
        }
        var descriptors = MetricFamily(
            "branchsync_open_fds", .gauge, help: "File descriptors open in the daemon (/proc/self/fd).")
        if let count = DescriptorLimit.inUse() { descriptors.add([], Int64(count)) }
        var descriptorLimit = MetricFamily(
            "branchsync_max_fds", .gauge, help: "The daemon's file descriptor limit (soft RLIMIT_NOFILE).")
        descriptorLimit.add([], Double(DescriptorLimit.current))
        var families = [info, records, conflicts, quarantined, invalid, held, applied, descriptors, descriptorLimit]
        switch identity.role {
        case .hub: families += hubFamilies(peers.filter(\.isServedBranch)) + (try collectionFamilies(store))
        case .branch: families += try branchFamilies(store, hub: peers.first { $0.peer.role == .hub })
        }
        return families
    }

    /// Tombstone collection at the hub (Protocol.md §9.7): what waits and what went.
    private func collectionFamilies(_ store: NodeStore) throws -> [MetricFamily] {
        let status = try store.tombstoneCollectionStatus()
        var waiting = MetricFamily(
            "branchsync_tombstones_waiting", .gauge,
            help: "Deleted records the hub keeps until every counted site has caught up past them.")
        waiting.add([], status.waiting)
        var collected = MetricFamily(
            "branchsync_tombstones_collected_total", .counter, help: "Tombstones collected since the hub was created.")
        collected.add([], status.collectedTotal)
        return [waiting, collected]
    }

    /// One sample of each per-site metric for every branch the hub serves.
    private func hubFamilies(_ sites: [PeerHealth]) -> [MetricFamily] {
        var online = MetricFamily(
            "branchsync_site_online", .gauge,
            help: "1 while the site has a session and was heard from in the last "
                + "\(PeerHealth.staleAfterSeconds) s, else 0.")
        var lagChanges = MetricFamily(
            "branchsync_site_lag_changes", .gauge,
            help: "Changes waiting: to_site = this hub's changes the site has not acknowledged; from_site = what the "
                + "site last said it has for the hub.")
        var lagSeconds = MetricFamily(
            "branchsync_site_lag_seconds", .gauge,
            help: "Age in seconds of the oldest change waiting in that direction (0 when none waits).")
        var lastSeen = MetricFamily(
            "branchsync_site_last_seen_seconds", .gauge,
            help: "When the site was last heard from, as a Unix timestamp in seconds (absent if never).")
        var verify = MetricFamily(
            "branchsync_site_last_verify_identical", .gauge,
            help: "The last verify with the site: 1 replicas identical, 0 records still differ (absent if none yet).")
        var stale = MetricFamily(
            "branchsync_site_stale", .gauge,
            help: "1 for a site silent past the GC horizon: it holds nothing back and resyncs in full when it returns.")
        var caughtUp = MetricFamily(
            "branchsync_site_caught_up", .gauge,
            help: "1 when the site is caught up both ways and verified since the last change, as status says.")
        for site in sites {
            let label = ("site", site.peer.site.rawValue)
            online.add([label], site.isLive)
            for (direction, count, age) in [
                ("to_site", site.toSite, site.toSiteLagSeconds), ("from_site", site.fromSite, site.fromSiteLagSeconds),
            ] {
                Self.addWaiting(count, oldestSeconds: age, [label, ("direction", direction)], &lagChanges, &lagSeconds)
            }
            if let seen = site.lastSeen { lastSeen.add([label], seen.timeIntervalSince1970.rounded(.down)) }
            if let identical = site.lastVerifyIdentical { verify.add([label], identical) }
            caughtUp.add([label], site.caughtUp)
            stale.add([label], site.peer.staleSince != nil)
        }
        var sessions = MetricFamily(
            "branchsync_sessions_open", .gauge, help: "Branch sessions open on this hub now.")
        sessions.add([], Int64(registry?.connectedSites.count ?? 0))
        return [online, lagChanges, lagSeconds, lastSeen, verify, caughtUp, stale, sessions]
    }

    /// One direction's changes waiting, and the age of the oldest of them: 0 when none waits, absent when unknown.
    private static func addWaiting(
        _ count: Int64, oldestSeconds age: Int64?, _ labels: [(String, String)], _ changes: inout MetricFamily,
        _ seconds: inout MetricFamily
    ) {
        changes.add(labels, count)
        if count == 0 {
            seconds.add(labels, 0 as Int64)
        } else if let age {
            seconds.add(labels, age)
        }
    }

    /// The branch's view of its hub.
    private func branchFamilies(_ store: NodeStore, hub: PeerHealth?) throws -> [MetricFamily] {
        var connected = MetricFamily(
            "branchsync_hub_connected", .gauge, help: "1 while this branch has a session with its hub, else 0.")
        connected.add([], activity.isConnected)
        var pending = MetricFamily(
            "branchsync_hub_pending_changes", .gauge,
            help: "Changes waiting: to_hub = this branch's changes the hub has not acknowledged; from_hub = what the "
                + "hub last said it has for this branch.")
        var pendingSeconds = MetricFamily(
            "branchsync_hub_pending_seconds", .gauge,
            help: "Age in seconds of the oldest change waiting in that direction (0 when none waits).")
        var lastSync = MetricFamily(
            "branchsync_hub_last_sync_seconds", .gauge,
            help: "When a batch was last applied either way, as a Unix timestamp in seconds (absent if never).")
        if let hub {
            for (direction, count, age) in [
                ("to_hub", hub.toSite, hub.toSiteLagSeconds), ("from_hub", hub.fromSite, hub.fromSiteLagSeconds),
            ] {
                Self.addWaiting(count, oldestSeconds: age, [("direction", direction)], &pending, &pendingSeconds)
            }
            if let at = hub.lastSync { lastSync.add([], at.timeIntervalSince1970.rounded(.down)) }
        } else {
            // Never synced: everything written here waits to go up.
            let site = store.identity.site
            pending.add([("direction", "to_hub")], try store.pendingCount(for: site, after: 0, clearance: nil))
            pending.add([("direction", "from_hub")], 0 as Int64)
        }
        return [connected, pending, pendingSeconds, lastSync]
    }
}

/// A database connection of the collector's own, used by one caller at a time, opened on first use and dropped after
/// a failure (so the next use opens it afresh).
private final class CollectorConnection: @unchecked Sendable {
    // @unchecked: `store` is touched only under `lock`.
    private let lock = NSLock()
    private var store: NodeStore?
    private let directory: String

    init(directory: String) {
        self.directory = directory
    }

    func with<T>(_ body: (NodeStore) throws -> T) throws -> T {
        try lock.withLock {
            let opened =
                try store ?? NodeStore.open(directory: directory, actor: AuditActor(user: "metrics", origin: "daemon"))
            store = opened
            do { return try body(opened) } catch {
                store = nil
                throw error
            }
        }
    }
}
