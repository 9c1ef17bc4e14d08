/// What a hub's session enforces of ``HubLimits`` once a branch is logged in, and where it reports a hit (the
/// ``LimitLedger``, for the log and `status`).
struct HubSessionLimits: Sendable {
    /// Open quarantine rows a branch may have at most; a batch that would pass it is not applied.
    var quarantineQuota: Int
    /// Counts a hit of a limit, with what happened.
    var report: @Sendable (HubLimit, String) -> Void
}
