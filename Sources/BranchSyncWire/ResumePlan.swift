/// Where a session resumes, decided from the two `ResumeState`s of the handshake (Protocol.md §8.2).
///
/// Both sides compute the same plan from the same two messages (`WELCOME` carries the hub's state, `CURSOR` the
/// branch's), so they agree without another round trip. A node restored from an older copy of its database is
/// detected from what its peer remembers of it: positions and writes it had already acknowledged, or an incarnation
/// that changed. Then the cursors involved restart from 0 (a full, idempotent resend) and the no-echo rule is
/// suspended for the resend, because the restored side no longer holds what it once sent.
public struct ResumePlan: Sendable, Hashable {
    /// The branch went back in time: it no longer holds everything it had acknowledged or sent.
    public var branchRegressed: Bool
    /// The hub went back in time (or asked for a full resync: it is recovering from a restore).
    public var hubRegressed: Bool
    /// What gave each regression away, for the log and `status`.
    public var reasons: [String]
    /// Where the branch's log stream to the hub starts.
    public var branchStreamStart: UInt64
    /// Where the hub's log stream to the branch starts.
    public var hubStreamStart: UInt64

    /// The plan for a hub whose state is `hub` (sent in `WELCOME` with `flags`) and a branch whose state is
    /// `branch` (sent in `CURSOR`).
    public init(hub: ResumeState, branch: ResumeState, flags: UInt8) {
        var reasons: [String] = []
        func zero(_ incarnation: [UInt8]) -> Bool { incarnation.allSatisfy { $0 == 0 } }
        // The branch regressed if the hub remembers more of it than it has.
        if branch.cursor < hub.acked {
            reasons.append(
                "the branch has applied the hub's log up to \(branch.cursor), but had acknowledged \(hub.acked)")
        }
        if branch.logHead < hub.cursor {
            reasons.append("the branch's log ends at \(branch.logHead), but the hub had applied it up to \(hub.cursor)")
        }
        if !zero(hub.yourIncarnation) && hub.yourIncarnation != branch.incarnation {
            reasons.append("the branch's incarnation changed (it was restored)")
        }
        let branchRegressed = !reasons.isEmpty
        let branchReasons = reasons.count
        // The hub regressed if the branch remembers more of it than it has.
        if hub.cursor < branch.acked {
            reasons.append(
                "the hub has applied the branch's log up to \(hub.cursor), but had acknowledged \(branch.acked)")
        }
        if hub.logHead < branch.cursor {
            reasons.append("the hub's log ends at \(hub.logHead), but the branch had applied it up to \(branch.cursor)")
        }
        if !zero(branch.yourIncarnation) && branch.yourIncarnation != hub.incarnation {
            reasons.append("the hub's incarnation changed (it was restored)")
        }
        if flags & Welcome.fullResync != 0 {
            reasons.append("the hub is recovering from a restore and asked for a full resync")
        }
        let hubRegressed = reasons.count > branchReasons
        self.branchRegressed = branchRegressed
        self.hubRegressed = hubRegressed
        self.reasons = reasons
        hubStreamStart = hubRegressed ? 0 : branch.cursor
        branchStreamStart = hubRegressed || branchRegressed ? 0 : hub.cursor
    }

    /// Whether the hub must send the branch's own changes back too (the branch lost some of them).
    public var hubEchoesBranchChanges: Bool { branchRegressed }
    /// Whether the branch must send the hub's changes back too (the hub lost some of them).
    public var branchEchoesHubChanges: Bool { hubRegressed }
}
