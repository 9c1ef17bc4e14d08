/// Identifies the write that last set a field: its dot and its HLC time.
///
/// Stamps are totally ordered by (time, site, counter); that order picks the winner of a true conflict.
public struct Stamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The write event.
    public var dot: Dot
    /// When the write happened, by the writer's hybrid logical clock.
    public var time: HLCTimestamp

    public init(dot: Dot, time: HLCTimestamp) {
        self.dot = dot
        self.time = time
    }

    public var description: String { "\(dot)@\(time)" }

    public static func < (lhs: Stamp, rhs: Stamp) -> Bool {
        if lhs.time != rhs.time { return lhs.time < rhs.time }
        return lhs.dot < rhs.dot
    }
}
