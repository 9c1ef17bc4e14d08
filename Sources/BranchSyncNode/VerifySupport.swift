import BranchSyncCore
import BranchSyncStore
import BranchSyncWire

/// A node's records as verify's source: all of them at a branch, one branch's scope at the hub.
struct StoreVerifySource: VerifySource {
    let digests: ReplicaDigests

    func summaries(_ paths: [VerifyPath]) throws -> [VerifyNodeSummary] {
        let found = try digests.summaries(of: paths)
        return paths.map { path in
            VerifyNodeSummary(path: path, records: found[path]?.records ?? 0, digest: found[path]?.digest ?? 0)
        }
    }

    func entries(_ paths: [VerifyPath]) throws -> [VerifyEntry] {
        try digests.entries(in: paths).map { VerifyEntry(id: $0.0, digest: UInt64(bitPattern: $0.1)) }
    }
}

/// One verify this node runs as initiator with its peer: a first round, and when it found differences (and repaired
/// them), a second round once both sides are caught up again (records in flight are expected to differ).
struct VerifyRun {
    var round: VerifyRound
    /// 1, or 2 for the retry.
    var attempt: Int
    /// When the run started (a verify asked for later needs another run).
    var startedAt: String
    /// This node's log head and applied cursor when the run started: what an identical result proves.
    var startSeq: Int64
    var startPeerSeq: Int64
    /// Records repaired by the first round.
    var repaired: Int
    /// Whether the round is waiting to start (the retry waits until both sides are caught up).
    var started: Bool
    /// Whether this run was asked for by an operator (logged at info level whatever it finds).
    var requested: Bool
}

/// When a session runs verify on its own (DESIGN.md §13): after bootstrap, after changes once both sides have been
/// caught up for a moment, periodically when nothing changes, and when an operator asks. Pure: fed times.
struct VerifySchedule {
    /// Seconds caught up after a change before verifying.
    let delay: Double
    /// Seconds between verifies without changes.
    let interval: Double
    /// When the last verify finished (monotonic milliseconds), `nil` before the first.
    private(set) var lastVerify: UInt64?
    /// Whether something changed on either side since the last verify.
    private(set) var changedSinceVerify = true
    /// Since when both sides have been caught up (monotonic milliseconds), `nil` when not.
    private(set) var caughtUpSince: UInt64?

    init(delay: Double, interval: Double) {
        self.delay = delay
        self.interval = interval
    }

    /// Something changed (a batch went either way).
    mutating func noteChange() {
        changedSinceVerify = true
        caughtUpSince = nil
    }

    /// Whether both sides are caught up now.
    mutating func noteCaughtUp(_ caughtUp: Bool, at now: UInt64) {
        if !caughtUp {
            caughtUpSince = nil
        } else if caughtUpSince == nil {
            caughtUpSince = now
        }
    }

    /// A verify finished.
    mutating func noteVerified(at now: UInt64) {
        lastVerify = now
        changedSinceVerify = false
    }

    /// Whether a verify is due now.
    func isDue(at now: UInt64) -> Bool {
        guard let since = caughtUpSince else { return false }
        if changedSinceVerify { return now >= since + UInt64(delay * 1000) }
        guard let lastVerify else { return true }
        return now >= lastVerify + UInt64(interval * 1000)
    }
}
