/// Backs off failed logins, per source address and per site (DESIGN.md §14): the first few failures are free, each
/// one after doubles the wait before the next attempt is even read, up to a maximum. A success clears the site and
/// the address. Pure: the caller passes the time. Memory is bounded by ``Policy/maximumEntries``.
struct AuthThrottle {
    struct Policy {
        /// Failures allowed before any wait.
        var freeFailures = 5
        /// The wait after the first failure beyond the free ones (milliseconds); it doubles with each failure.
        var baseDelayMilliseconds: UInt64 = 1_000
        /// The longest wait (milliseconds).
        var maximumDelayMilliseconds: UInt64 = 60_000
        /// An entry with no failure for this long is forgotten (milliseconds).
        var forgetAfterMilliseconds: UInt64 = 600_000
        /// Addresses and sites remembered at most, each; the oldest are forgotten first.
        var maximumEntries = 100_000
    }

    private struct Entry {
        var failures: Int
        var blockedUntil: UInt64
        var lastFailure: UInt64
    }

    let policy: Policy
    private var byAddress: [String: Entry] = [:]
    private var bySite: [String: Entry] = [:]

    init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// How long (milliseconds) a login from `address` for `site` must still wait, or `nil` when it may proceed.
    func retryAfter(address: String, site: String?, now: UInt64) -> UInt64? {
        let until = max(byAddress[address]?.blockedUntil ?? 0, site.flatMap { bySite[$0]?.blockedUntil } ?? 0)
        return until > now ? until - now : nil
    }

    /// Notes a failed login (wrong proof, unknown site).
    mutating func recordFailure(address: String, site: String?, now: UInt64) {
        Self.fail(&byAddress, address, now: now, policy: policy)
        if let site { Self.fail(&bySite, site, now: now, policy: policy) }
    }

    /// Notes a successful login: its site and address start afresh.
    mutating func recordSuccess(address: String, site: String) {
        byAddress[address] = nil
        bySite[site] = nil
    }

    /// How many addresses and sites are made to wait now.
    func blockedCount(now: UInt64) -> (addresses: Int, sites: Int) {
        (byAddress.values.filter { $0.blockedUntil > now }.count, bySite.values.filter { $0.blockedUntil > now }.count)
    }

    private static func fail(_ table: inout [String: Entry], _ key: String, now: UInt64, policy: Policy) {
        if table[key] == nil && table.count >= policy.maximumEntries { forgetOldest(&table, now: now, policy: policy) }
        var entry = table[key] ?? Entry(failures: 0, blockedUntil: 0, lastFailure: now)
        if now > entry.lastFailure + policy.forgetAfterMilliseconds { entry.failures = 0 }
        entry.failures += 1
        entry.lastFailure = now
        let beyond = entry.failures - policy.freeFailures
        if beyond > 0 {
            let delay = policy.baseDelayMilliseconds << UInt64(min(beyond - 1, 30))
            entry.blockedUntil = now + min(delay, policy.maximumDelayMilliseconds)
        }
        table[key] = entry
    }

    /// Drops entries idle past the horizon; if the table is still full, the half with the oldest failures.
    private static func forgetOldest(_ table: inout [String: Entry], now: UInt64, policy: Policy) {
        table = table.filter { now <= $0.value.lastFailure + policy.forgetAfterMilliseconds }
        guard table.count >= policy.maximumEntries else { return }
        let keep = table.sorted { $0.value.lastFailure > $1.value.lastFailure }.prefix(policy.maximumEntries / 2)
        table = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
    }
}
