import BranchSyncCore
import Foundation

/// What `status` claims about one peer, each claim derived from stored facts so it can be checked:
/// "caught up" holds only for a peer that is connected and heard from recently, has nothing pending either way, and
/// was verified identical after the last change on either side.
public struct PeerHealth: Sendable {
    public var peer: PeerRecord
    /// Changes this node has that the peer has not acknowledged, and how long the oldest has waited (seconds).
    public var toSite: Int64
    public var toSiteLagSeconds: Int64?
    /// Changes the peer last said it has for this node, and how long the oldest had waited (seconds).
    public var fromSite: Int64
    public var fromSiteLagSeconds: Int64?
    /// When anything was last heard from the peer.
    public var lastSeen: Date?
    /// Seconds since anything was heard from the peer.
    public var lastSeenSecondsAgo: Int64?
    /// When a batch was last applied either way.
    public var lastSync: Date?
    public var issues: PeerIssues
    /// This node's log head now.
    public var logHead: Int64

    /// A session whose last heartbeat is older than this is stale.
    public static let staleAfterSeconds: Int64 = 30

    init(peer: PeerRecord, store: NodeStore, issues: PeerIssues, now: Date) throws {
        self.peer = peer
        self.issues = issues
        let clearance = store.identity.role == .hub ? peer.clearance : nil
        let nowMilliseconds = Int64(now.timeIntervalSince1970 * 1000)
        let pending = try store.pending(
            for: peer.site, after: peer.ackedCursor, clearance: clearance, echoFloor: peer.echoFloor)
        toSite = pending.count
        toSiteLagSeconds = pending.oldestMilliseconds.map { max(0, nowMilliseconds - $0) / 1000 }
        fromSite = peer.peerPending
        fromSiteLagSeconds = fromSite > 0 ? peer.peerPendingAgeMilliseconds.map { max(0, $0) / 1000 } : nil
        lastSeen = peer.lastSeenAt.flatMap(Self.parse)
        lastSeenSecondsAgo = lastSeen.map { Int64(now.timeIntervalSince($0)) }
        lastSync = peer.lastSyncAt.flatMap(Self.parse)
        logHead = try store.lastSeq()
    }

    /// Connected and heard from within ``staleAfterSeconds``.
    public var isLive: Bool {
        peer.online && (lastSeenSecondsAgo.map { $0 <= Self.staleAfterSeconds } ?? false)
    }

    /// A branch this hub serves: enrolled, neither retired nor revoked (`status` lists these).
    public var isServedBranch: Bool {
        peer.role == .branch && peer.retiredAt == nil && peer.revokedAt == nil
    }

    /// What the last verify with the peer found: `true` identical, `false` replicas that still differ, `nil` when
    /// none has finished yet.
    public var lastVerifyIdentical: Bool? {
        peer.lastVerifyResult.map { !$0.hasPrefix("differ") }
    }

    /// Verified identical, and nothing changed on either side since.
    public var verifiedSinceLastChange: Bool {
        guard peer.verifiedAt != nil, let seq = peer.verifiedSeq, let peerSeq = peer.verifiedPeerSeq else {
            return false
        }
        return seq >= logHead && peerSeq >= peer.appliedCursor
    }

    /// Why the peer is not caught up, or `nil` when it is.
    public var notCaughtUpBecause: String? {
        if peer.lastSyncAt == nil { return "never synced" }
        if !peer.online { return "offline" }
        if !isLive { return "no heartbeat for \(lastSeenSecondsAgo.map { "\($0) s" } ?? "a while")" }
        if toSite > 0 { return "\(toSite) change(s) to send" }
        if fromSite > 0 { return "\(fromSite) change(s) to receive" }
        if lastVerifyIdentical == false { return "verify found differences" }
        if !verifiedSinceLastChange { return "not verified since the last change" }
        return nil
    }

    public var caughtUp: Bool { notCaughtUpBecause == nil }

    /// `online`, `stale`, `offline since …`, `never connected`.
    public var connection: String {
        guard let since = peer.stateSince else { return "never connected" }
        if peer.online { return isLive ? "online" : "stale" }
        return "offline since \(since.prefix(19))"
    }

    static func parse(_ iso: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: iso)
    }

    /// Seconds as `42s`, `7m`, `3h`, `2d`.
    public static func age(_ seconds: Int64?) -> String {
        guard let seconds else { return "-" }
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<7_200: return "\(seconds / 60)m"
        case ..<172_800: return "\(seconds / 3_600)h"
        default: return "\(seconds / 86_400)d"
        }
    }
}

extension NodeStore {
    /// The health of every peer, as `status` shows it.
    public func peerHealth(now: Date = Date()) throws -> [PeerHealth] {
        let issues = try openIssuesByPeer()
        return try peers().map {
            try PeerHealth(peer: $0, store: self, issues: issues[$0.site.rawValue] ?? PeerIssues(), now: now)
        }
    }

    /// The health of one peer.
    public func health(of site: SiteID, now: Date = Date()) throws -> PeerHealth? {
        guard let peer = try peer(site) else { return nil }
        return try PeerHealth(
            peer: peer, store: self, issues: openIssuesByPeer()[site.rawValue] ?? PeerIssues(), now: now)
    }
}
