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
    /// The hub asked for a full resync because this site was silent past its GC horizon (`WELCOME` flags bit 1,
    /// Protocol.md §9.7): both logs are sent again from the start, the branch's with the hub's changes (so its copies
    /// of records collected meanwhile reach the hub and are forgotten), but nothing went back in time.
    public var staleResync: Bool
    /// Where the branch's log stream to the hub starts.
    public var branchStreamStart: UInt64
    /// Where the hub's log stream to the branch starts.
    public var hubStreamStart: UInt64

    /// The plan for a hub whose state is `hub` (sent in `WELCOME` with `flags`) and a branch whose state is
    /// `branch` (sent in `CURSOR`).
    public init(hub: ResumeState, branch: ResumeState, flags: UInt8) {
        let branchReasons = Self.regressions(of: branch, "branch", rememberedBy: hub, "hub")
        let branchRegressed = !branchReasons.isEmpty
        var reasons = branchReasons + Self.regressions(of: hub, "hub", rememberedBy: branch, "branch")
        let staleResync = flags & Welcome.staleSite != 0
        if flags & Welcome.fullResync != 0 && !staleResync {
            reasons.append("the hub is recovering from a restore and asked for a full resync")
        }
        let hubRegressed = reasons.count > branchReasons.count
        self.branchRegressed = branchRegressed
        self.hubRegressed = hubRegressed
        self.staleResync = staleResync
        self.reasons = reasons
        hubStreamStart = hubRegressed || staleResync ? 0 : branch.cursor
        branchStreamStart = hubRegressed || branchRegressed || staleResync ? 0 : hub.cursor
    }

    /// Why `side` (called `name`) went back in time: `other` remembers more of it than it has, or saw another
    /// incarnation of it. The same three checks hold for the branch judged by the hub and for the hub judged by the
    /// branch.
    private static func regressions(
        of side: ResumeState, _ name: String, rememberedBy other: ResumeState, _ otherName: String
    ) -> [String] {
        var reasons: [String] = []
        if side.cursor < other.acked {
            reasons.append(
                "the \(name) has applied the \(otherName)'s log up to \(side.cursor), but had acknowledged \(other.acked)"
            )
        }
        if side.logHead < other.cursor {
            reasons.append(
                "the \(name)'s log ends at \(side.logHead), but the \(otherName) had applied it up to \(other.cursor)")
        }
        let known = !other.yourIncarnation.allSatisfy { $0 == 0 }
        if known && other.yourIncarnation != side.incarnation {
            reasons.append("the \(name)'s incarnation changed (it was restored)")
        }
        return reasons
    }

    /// Whether the hub must send the branch's own changes back too (the branch lost some of them).
    public var hubEchoesBranchChanges: Bool { branchRegressed }
    /// Whether the branch must send the hub's changes back too (the hub lost some of them).
    public var branchEchoesHubChanges: Bool { hubRegressed || staleResync }
}
