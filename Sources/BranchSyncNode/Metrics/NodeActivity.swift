import BranchSyncCore
import Synchronization

/// What a running daemon knows that its database does not: changes applied since it started, whether its sync loop
/// is alive, whether a branch is connected now. The daemon's threads write it; the metrics endpoint reads it.
public final class NodeActivity: Sendable {
    private let applied = Mutex<[SiteID: Int64]>([:])
    /// Uptime (ms) of the loop's latest turn, or of the loop's start; 0 before it starts.
    private let lastTurn = Atomic<UInt64>(0)
    private let loopEnded = Atomic<Bool>(false)
    private let connected = Atomic<Bool>(false)

    public init() {}

    /// Counts `count` changes from `site` applied to this node's records.
    func noteApplied(_ count: Int, from site: SiteID) {
        guard count > 0 else { return }
        applied.withLock { $0[site, default: 0] += Int64(count) }
    }

    /// The sync loop is alive: called at every turn of the hub's session loop, and by a branch's client at every
    /// step of its session, at each stage of connecting and while it waits to retry.
    /// - Parameter now: the uptime in milliseconds (tests pass their own).
    func noteLoopAlive(now: UInt64 = Clock.uptimeMilliseconds()) {
        lastTurn.store(max(1, now), ordering: .relaxed)
    }

    /// Uptime (ms) when the loop last noted itself alive; 0 before it starts.
    var lastAliveUptime: UInt64 { lastTurn.load(ordering: .relaxed) }

    /// The sync loop ended and serves no one any more.
    func noteLoopEnded() {
        loopEnded.store(true, ordering: .relaxed)
    }

    /// A branch's session with its hub started (`true`) or ended (`false`).
    func noteConnected(_ value: Bool) {
        connected.store(value, ordering: .relaxed)
    }

    /// Changes applied since the daemon started, by the site they came from.
    public var appliedBySite: [SiteID: Int64] { applied.withLock { $0 } }

    /// Whether a branch has a session with its hub now.
    public var isConnected: Bool { connected.load(ordering: .relaxed) }

    /// Why the sync loop is not alive, or `nil` when it is: it never started, it ended, or (with `staleAfter`) its
    /// latest turn is more than that many seconds old.
    public func loopProblem(staleAfter: Double?) -> String? {
        loopProblem(staleAfter: staleAfter, now: Clock.uptimeMilliseconds())
    }

    /// ``loopProblem(staleAfter:)`` at uptime `now` (milliseconds).
    func loopProblem(staleAfter: Double?, now: UInt64) -> String? {
        if loopEnded.load(ordering: .relaxed) { return "the sync loop has ended" }
        let turn = lastTurn.load(ordering: .relaxed)
        guard turn > 0 else { return "the sync loop has not started" }
        guard let staleAfter else { return nil }
        let age = Double(now - min(turn, now)) / 1000
        return age > staleAfter ? "the sync loop has not turned for \(Int(age)) s" : nil
    }
}
