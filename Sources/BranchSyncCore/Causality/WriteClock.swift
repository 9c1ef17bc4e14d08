/// Issues the stamps of one node's local writes so that causality stays visible in them (DESIGN.md §10, §12).
///
/// Three rules, each closing a way replicas could silently diverge:
/// - **No dot is ever reused.** A counter is strictly above every counter this node issued, above the floor a peer
///   reported holding (restore safety: a node restored from an older copy learns it at the next handshake), above
///   the record's own entry for this site, and at least the wall clock in milliseconds — so a node restored from a
///   plain file copy and written to offline, before any handshake, still issues fresh dots.
/// - **A write never lowers a version-vector entry**: the record's entry for this site only grows.
/// - **A write's stamp is above every field stamp already in the record**, whatever the HLC observed, so a write that
///   overwrote a value always orders after it, even a value stamped by a clock hours ahead that the HLC refused to
///   observe. Without this, merge order could decide between two concurrent overwrites.
///
/// A value: callers persist ``counter`` and ``clock`` with the writes they stamped.
public struct WriteClock: Sendable, Hashable {
    /// The site whose writes are stamped.
    public let site: SiteID
    /// The highest counter issued so far.
    public private(set) var counter: UInt64
    /// The highest counter of this site that a peer reported holding; the next counter is above it.
    public private(set) var counterFloor: UInt64
    /// The node's hybrid logical clock.
    public private(set) var clock: HybridLogicalClock

    /// The largest counter a write may get: counters are stored as SQLite integers (signed 64-bit).
    public static let maximumCounter = UInt64(Int64.max)

    public init(site: SiteID, counter: UInt64, counterFloor: UInt64 = 0, clock: HybridLogicalClock) {
        self.site = site
        self.counter = counter
        self.counterFloor = counterFloor
        self.clock = clock
    }

    /// Issues the stamp of a local write to `record` (`nil` for a new record).
    /// - Parameter wallMilliseconds: the current wall-clock time.
    /// - Throws: ``ValidationError`` when no counter is left below ``maximumCounter`` (only a corrupt or forged
    ///   record can bring a counter that high).
    public mutating func stamp(for record: RecordState?, wallMilliseconds: UInt64) throws(ValidationError) -> Stamp {
        let highest = max(counter, counterFloor, record?.versionVector[site] ?? 0)
        guard highest < Self.maximumCounter else {
            throw ValidationError(
                field: "counter",
                message: "site \(site) has no write counter left (\(highest) already used); the record or the "
                    + "node's metadata is corrupt")
        }
        counter = min(max(highest + 1, wallMilliseconds), Self.maximumCounter)
        var time = clock.now(wallMilliseconds: wallMilliseconds)
        if let newest = record?.newestFieldTime, newest >= time {
            // Above the record for this write only: the node's clock does not follow, so one record with a stamp
            // far ahead cannot drag every later write of this node along.
            time = HybridLogicalClock.successor(of: newest)
        }
        return Stamp(dot: Dot(site: site, counter: counter), time: time)
    }

    /// Takes a remote reading into account (see ``HybridLogicalClock/observe(_:wallMilliseconds:maximumDrift:)``).
    public mutating func observe(_ time: HLCTimestamp, wallMilliseconds: UInt64) {
        clock.observe(time, wallMilliseconds: wallMilliseconds)
    }

    /// Raises the counter floor to `floor` (a peer holds this site's writes up to it); never lowers it.
    public mutating func raiseFloor(to floor: UInt64) {
        counterFloor = max(counterFloor, min(floor, Self.maximumCounter))
    }
}
