/// Tuning of a sync session. The defaults suit a branch office link; tests shorten the timers.
public struct SessionOptions: Sendable {
    /// Log entries scanned per `CHANGES` batch. Larger batches make fewer, larger transactions at the receiver: 4,000
    /// entries and 4 MiB pushed about 10 % and bootstrapped about 10 % faster than 1,000 and 1 MiB (BENCHMARKS.md,
    /// issue 10, seventh session).
    public var batchLimit = 4000
    /// Approximate payload bytes per batch.
    public var batchBytes = 4 << 20
    /// Unacknowledged batches in flight.
    public var window = 4
    /// Bytes of queued output above which no new batch is queued (the socket must drain first): bounds what a
    /// slow peer makes this node buffer.
    public var outputHighWater = 2 << 20
    /// Seconds between `PING`s.
    public var pingInterval: Double = 5
    /// Seconds without any byte from the peer before the session is declared dead.
    public var peerTimeout: Double = 20
    /// Seconds allowed for each handshake step.
    public var handshakeTimeout: Double = 10
    /// Seconds between checks for changes written by other processes (the CLI).
    public var localCheckInterval: Double = 0.5
    /// Seconds a new session waits for an old session of the same site to end before it is refused.
    public var duplicateSessionGrace: Double = 3
    /// Clock skew (milliseconds) reported as a warning in `status`.
    public var clockSkewWarning: Int64 = 5_000
    /// Seconds both sides must have been caught up, after a change, before a verify runs (DESIGN.md §13).
    public var verifyDelay: Double = 2
    /// Seconds between verifies when nothing changed (finds silent damage: a restored or edited database).
    public var verifyInterval: Double = 600
    /// The protocol versions this build speaks.
    public static let protocolVersion: UInt64 = 2
    /// The record schema version carried in the handshake; nodes with different versions refuse to sync.
    public static let schemaVersion: UInt64 = 1

    public init() {}
}
