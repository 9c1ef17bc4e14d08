import BranchSyncCore

/// The newest entries of this node's change log, kept in memory so that one change goes out to many sessions from
/// one read (the hub's fan-out: a write at one branch reaches every other, DESIGN.md §14). Covers the log positions
/// after ``start`` up to ``last`` without a gap; a session whose cursor is older reads SQLite instead.
///
/// Not `Sendable`: owned by the thread that runs the sessions and writes the log (the hub's session loop), which
/// calls ``refresh(from:)`` after each write of its own and when another process wrote.
public final class RecentLog {
    /// Entries oldest first; `nil` where a later entry of the same record replaced it (as in SQLite, where a
    /// record's row moves to the end of the log when it changes).
    private var entries: [LogEntry?] = []
    /// Where each held record's newest entry is.
    private var indexByRecord: [String: Int] = [:]
    private var first = 0
    private var bytes = 0
    /// Positions after this one are held (up to ``last``).
    public private(set) var start: Int64
    /// The newest position held.
    public private(set) var last: Int64
    /// Bytes of states kept at most, and entries at most.
    let maximumBytes: Int
    let maximumEntries: Int

    /// An empty window at the log's head: it fills as the log grows.
    public init(head: Int64, maximumBytes: Int = 16 << 20, maximumEntries: Int = 50_000) {
        start = head
        last = head
        self.maximumBytes = maximumBytes
        self.maximumEntries = maximumEntries
    }

    /// Entries taken from the writing connection's memory rather than read from SQLite.
    private(set) var entriesTakenFromWriter = 0

    /// Entry slots held now (replaced ones included, until trimmed).
    var count: Int { entries.count - first }

    /// Takes the entries written since ``last``, and drops the oldest beyond the limits. What `store`'s connection
    /// wrote comes from memory (``NodeStore/takeWrittenEntries(after:)``); SQLite is read for what it could not
    /// hand over and for what other processes wrote after it.
    public func refresh(from store: NodeStore) throws {
        if needsHead {
            let head = try store.lastSeq()
            start = head
            last = head
            needsHead = false
            _ = store.takeWrittenEntries(after: head)
            return
        }
        if let written = store.takeWrittenEntries(after: last) {
            for entry in written { add(entry) }
            entriesTakenFromWriter += written.count
            trim()
        }
        while true {
            let read = try store.forEachLogEntry(after: last, limit: 1_000) { entry in
                add(entry)
                return true
            }
            trim()
            if read < 1_000 { return }
        }
    }

    /// Appends `entry`, the newest of the log; an older entry of the same record is replaced.
    private func add(_ entry: LogEntry) {
        if let older = indexByRecord[entry.id], let replaced = entries[older] {
            bytes -= replaced.state.count
            entries[older] = nil
        }
        indexByRecord[entry.id] = entries.count
        entries.append(entry)
        bytes += entry.state.count
        last = entry.seq
    }

    /// Forgets every entry: a write this window may already hold was rolled back (a failed group commit), so no
    /// session may build a batch from entries that were never stored. Until the next refresh reads the stored head,
    /// the window holds nothing and every session reads SQLite.
    public func reset() {
        entries = []
        indexByRecord = [:]
        first = 0
        bytes = 0
        start = .max
        last = .max
        needsHead = true
    }

    /// Whether the window must learn the log's head before it holds anything (after ``reset()``).
    private var needsHead = false

    /// Reads the new entries if `store`'s connection wrote past ``last`` (cheap when it did not: no query).
    public func refreshIfBehind(_ store: NodeStore) throws {
        if needsHead || store.logHeadWrittenHere > last { try refresh(from: store) }
    }

    private func trim() {
        while count > 0 && (bytes > maximumBytes || count > maximumEntries) {
            if let entry = entries[first] {
                bytes -= entry.state.count
                start = entry.seq
                indexByRecord[entry.id] = nil
            }
            first += 1
        }
        // Gaps left by replaced entries are covered: `start` only needs to be below every position still held.
        if first > 4_096 && first * 2 > entries.count {
            entries.removeFirst(first)
            first = 0
            rebuildIndex()
        }
    }

    private func rebuildIndex() {
        indexByRecord = [:]
        for index in entries.indices { if let entry = entries[index] { indexByRecord[entry.id] = index } }
    }

    /// The index of the first entry after `cursor`, or `nil` when entries after `cursor` are no longer held.
    private func index(after cursor: Int64) -> Int? {
        guard cursor >= start else { return nil }
        var low = first
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if seq(at: middle) <= cursor { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The position of the entry at `index`, or of the nearest held entry before it (a replaced entry sorts where
    /// it stood).
    private func seq(at index: Int) -> Int64 {
        var probe = index
        while probe >= first {
            if let entry = entries[probe] { return entry.seq }
            probe -= 1
        }
        return start
    }

    /// The next batch for `peer` after `cursor`, built exactly as ``NodeStore/outboundBatch(for:after:clearance:echoFloor:limit:maximumBytes:)``
    /// builds it from SQLite; `nil` when the window no longer holds what comes after `cursor`.
    public func batch(
        for peer: SiteID, after cursor: Int64, clearance: Classification?, echoFloor: Int64, limit: Int,
        maximumBytes: Int
    ) -> OutboundBatch? {
        guard var index = index(after: cursor) else { return nil }
        var builder = OutboundBatchBuilder(after: cursor, maximumBytes: maximumBytes)
        var taken = 0
        while index < entries.count && taken < limit && !builder.isFull {
            if let entry = entries[index] {
                builder.add(entry, for: peer, clearance: clearance, echoFloor: echoFloor)
                taken += 1
            }
            index += 1
        }
        var batch = builder.batch
        batch.reachedEnd = index == entries.count
        return batch
    }

    /// What ``NodeStore/pending(for:after:clearance:echoFloor:)`` counts, from memory; `nil` when the window does
    /// not reach back to `cursor`.
    public func pending(for peer: SiteID, after cursor: Int64, clearance: Classification?, echoFloor: Int64)
        -> (count: Int64, oldestMilliseconds: Int64?)?
    {
        guard let from = index(after: cursor) else { return nil }
        var count: Int64 = 0
        var oldest: Int64?
        for case let entry? in entries[from...]
        where entry.delivery(to: peer, clearance: clearance, echoFloor: echoFloor) == .state {
            count += 1
            oldest = min(oldest ?? entry.changedAt, entry.changedAt)
        }
        return (count, oldest)
    }
}
