import Foundation

/// Seeds for randomized tests: `BRANCHSYNC_SEED` replays a failure, otherwise a fresh random seed. Tests print the
/// seed in every failure message, so any failure can be replayed with `BRANCHSYNC_SEED=… swift test --filter …`.
public enum TestSeed {
    /// The seed to use for one randomized test (or one round of it).
    public static func make() -> UInt64 {
        if let text = ProcessInfo.processInfo.environment["BRANCHSYNC_SEED"], let seed = UInt64(text) { return seed }
        return UInt64.random(in: 0...UInt64.max)
    }

    /// Whether a seed was given to replay (`BRANCHSYNC_SEED`).
    public static var isReplay: Bool {
        ProcessInfo.processInfo.environment["BRANCHSYNC_SEED"].flatMap(UInt64.init) != nil
    }

    /// Whether the long randomized modes were asked for (`BRANCHSYNC_LONG=1`).
    public static var long: Bool {
        ProcessInfo.processInfo.environment["BRANCHSYNC_LONG"].map { $0 != "0" && !$0.isEmpty } ?? false
    }
}
