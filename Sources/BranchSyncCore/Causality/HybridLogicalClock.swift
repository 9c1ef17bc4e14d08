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
    /// - Parameters:
    ///   - remote: a reading carried by a change from another site.
    ///   - wallMilliseconds: the current wall-clock time.
    public mutating func observe(_ remote: HLCTimestamp, wallMilliseconds: UInt64) {
        let newest = max(last, remote)
        if wallMilliseconds > newest.wallMilliseconds {
            last = HLCTimestamp(wallMilliseconds: wallMilliseconds, logical: 0)
        } else {
            last = newest
        }
    }

    private static func successor(of time: HLCTimestamp) -> HLCTimestamp {
        if time.logical == UInt32.max {
            return HLCTimestamp(wallMilliseconds: time.wallMilliseconds + 1, logical: 0)
        }
        return HLCTimestamp(wallMilliseconds: time.wallMilliseconds, logical: time.logical + 1)
    }
}
