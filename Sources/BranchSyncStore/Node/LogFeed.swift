/// The change-log entries one connection wrote, in log order, kept for a ``RecentLog`` to take instead of reading
/// them back from SQLite (the hub's fan-out: each applied batch was read again, entry by entry, right after it was
/// written).
///
/// It never claims more than it holds: the entries are handed over only to a window whose newest position is the
/// log head just before them, or one of them. Any gap (another process wrote between two writes of this connection,
/// the feed overflowed, a group commit failed) makes ``take(after:)`` answer `nil`, and the window reads SQLite.
struct LogFeed {
    /// The log head just before the first entry; `nil` while the feed is empty and the next write sets it.
    private var after: Int64?
    private var entries: [LogEntry] = []
    /// Bytes of states held.
    private var bytes = 0
    /// Entries and bytes of states held at most before the feed gives up (a window that stopped taking them). The
    /// window takes the feed at every turn, and a turn writes far less; the states' bytes are mostly those of the
    /// batches received, shared, not copied.
    static let maximumEntries = 100_000
    static let maximumBytes = 64 << 20

    /// Adds the entries of one committed write (or one write of an open group) that started at log head `head`.
    /// A write that does not follow the last one held starts the feed afresh: the entries between are not here.
    mutating func append(_ written: [LogEntry], after head: Int64) {
        guard !written.isEmpty else { return }
        if entries.isEmpty || entries.last?.seq != head {
            after = head
            entries = []
            bytes = 0
        }
        let writtenBytes = written.reduce(0) { $0 + $1.state.count }
        guard entries.count + written.count <= Self.maximumEntries, bytes + writtenBytes <= Self.maximumBytes else {
            forget()
            return
        }
        entries += written
        bytes += writtenBytes
    }

    /// Makes the feed hold nothing it could hand over: what it held may not be stored (a failed group commit) or
    /// may not follow what a window holds.
    mutating func forget() {
        after = nil
        entries = []
        bytes = 0
    }

    /// What to hand to a window at `cursor`: the entries this connection wrote after it, when they follow `cursor`
    /// without a gap; none when the feed holds nothing (dropped entries included: the window reads them from SQLite
    /// anyway, as it reads every other process's writes after what it took); `nil` when the entries held do not follow
    /// `cursor`. Empties the feed either way.
    mutating func take(after cursor: Int64) -> [LogEntry]? {
        defer { forget() }
        guard let after else { return entries.isEmpty ? [] : nil }
        if after == cursor { return entries }
        guard after < cursor, let index = entries.firstIndex(where: { $0.seq == cursor }) else { return nil }
        return Array(entries[(index + 1)...])
    }
}
