/// A hybrid logical clock (Kulkarni et al., 2014) that never goes backwards, even when the wall clock does.
///
/// The clock is a value: callers persist ``last`` with the writes it stamped and feed in wall-clock readings,
/// so the core stays free of I/O.
public struct HybridLogicalClock: Sendable, Hashable {
    /// The latest reading issued or observed.
    public private(set) var last: HLCTimestamp

    /// A clock that resumes after `last`.
    public init(last: HLCTimestamp = .zero) {
        self.last = last
    }

    /// Issues a reading for a local event, strictly after every reading issued or observed so far.
    /// - Parameter wallMilliseconds: the current wall-clock time.
    public mutating func now(wallMilliseconds: UInt64) -> HLCTimestamp {
        if wallMilliseconds > last.wallMilliseconds {
            last = HLCTimestamp(wallMilliseconds: wallMilliseconds, logical: 0)
        } else {
            last = Self.successor(of: last)
        }
        return last
    }

    /// Takes a remote reading into account so that later local readings order after it.
    ///
    /// A reading more than `maximumDrift` milliseconds ahead of the wall clock is ignored, so one site with a wrong
    /// clock cannot drag every other site's clock into the future. That is safe for BranchSync: causality between
    /// writes is decided by version vectors, the clock only orders truly concurrent writes.
    /// - Parameters:
    ///   - remote: a reading carried by a change from another site.
    ///   - wallMilliseconds: the current wall-clock time.
    ///   - maximumDrift: how far ahead of the wall clock a reading may be and still be observed.
    /// - Returns: whether the reading was observed.
    @discardableResult
    public mutating func observe(
        _ remote: HLCTimestamp, wallMilliseconds: UInt64, maximumDrift: UInt64 = HybridLogicalClock.maximumDrift
    ) -> Bool {
        let (limit, overflow) = wallMilliseconds.addingReportingOverflow(maximumDrift)
        guard overflow || remote.wallMilliseconds <= limit else { return false }
        let newest = max(last, remote)
        if wallMilliseconds > newest.wallMilliseconds {
            last = HLCTimestamp(wallMilliseconds: wallMilliseconds, logical: 0)
        } else {
            last = newest
        }
        return true
    }

    /// One minute: remote readings further ahead than this are not observed. The same bound as the hub's tolerance
    /// for future stamps (``Admission/futureStampTolerance``): a clock that observed further would stamp its own writes
    /// ahead of real time and let a fast site win conflicts through it.
    public static let maximumDrift: UInt64 = 60_000

    /// The next reading after `time`. Saturates at the largest representable reading instead of overflowing: such
    /// a reading only comes from a corrupt or forged state, and a stuck clock is better than a crash.
    public static func successor(of time: HLCTimestamp) -> HLCTimestamp {
        if time.logical < UInt32.max {
            return HLCTimestamp(wallMilliseconds: time.wallMilliseconds, logical: time.logical + 1)
        }
        guard time.wallMilliseconds < UInt64.max else { return time }
        return HLCTimestamp(wallMilliseconds: time.wallMilliseconds + 1, logical: 0)
    }
}
