/// A hybrid logical clock reading: wall-clock milliseconds plus a logical counter for events within one millisecond
/// or while the wall clock is behind. Used only to order truly concurrent writes (DESIGN.md §5).
public struct HLCTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Milliseconds since the Unix epoch.
    public var wallMilliseconds: UInt64
    /// Distinguishes events that share `wallMilliseconds`.
    public var logical: UInt32

    public init(wallMilliseconds: UInt64, logical: UInt32) {
        self.wallMilliseconds = wallMilliseconds
        self.logical = logical
    }

    /// The zero reading, earlier than every real one.
    public static let zero = HLCTimestamp(wallMilliseconds: 0, logical: 0)

    public var description: String { "\(wallMilliseconds).\(logical)" }

    public static func < (lhs: HLCTimestamp, rhs: HLCTimestamp) -> Bool {
        (lhs.wallMilliseconds, lhs.logical) < (rhs.wallMilliseconds, rhs.logical)
    }
}
