import BranchSyncCore
import BranchSyncTestSupport
import Testing

@testable import BranchSyncStore

/// The hub's in-memory log window must send exactly what a query of SQLite sends: the same batches, the same
/// purges, the same pending counts, for any peer, clearance, echo floor and cursor it still covers.
@Suite struct RecentLogTests {
    @Test func batchesAndPendingCountsFromMemoryEqualThoseFromSQLite() throws {
        let seed = TestSeed.make()
        var random = SeededGenerator(seed: seed)
        let directory = TemporaryDirectory()
        let hub = try makeStore(directory, site: "hq", role: .hub)
        let head = try hub.lastSeq()
        let window = RecentLog(head: head, maximumBytes: 1 << 20, maximumEntries: 40)
        var ids: [RecordID] = []
        let classes: [Classification] = [.public, .internal, .confidential, .secret]
        for step in 0..<120 {
            if ids.isEmpty || Int.random(in: 0..<3, using: &random) == 0 {
                var values = customerValues
                values["code"] = String(110_000 + step)
                values["class"] = classes[Int.random(in: 0..<4, using: &random)].rawValue
                ids.append(try hub.create(.customers, values: values).id)
            } else {
                let id = ids[Int.random(in: 0..<ids.count, using: &random)]
                _ = try? hub.update(
                    id, changes: ["class": classes[Int.random(in: 0..<4, using: &random)].rawValue, "notes": "\(step)"])
            }
            if Int.random(in: 0..<4, using: &random) == 0 { try window.refresh(from: hub) }
        }
        try window.refresh(from: hub)
        let last = try hub.lastSeq()
        // Log positions are not dense (they follow the clock, DESIGN.md §12): compare at each one and just before.
        var positions: [Int64] = [head]
        try hub.forEachLogEntry(after: head, limit: 10_000) { entry in
            positions += [entry.seq - 1, entry.seq]
            return true
        }
        var compared = 0
        for peer in [try SiteID("bj01"), try SiteID("hq")] {
            for clearance in [nil, Classification.internal, .confidential] {
                for echoFloor in [Int64(0), last / 2, last] {
                    for cursor in positions {
                        guard
                            let fromMemory = window.batch(
                                for: peer, after: cursor, clearance: clearance, echoFloor: echoFloor, limit: 10,
                                maximumBytes: 4_000)
                        else { continue }
                        let fromSQLite = try hub.outboundBatch(
                            for: peer, after: cursor, clearance: clearance, echoFloor: echoFloor, limit: 10,
                            maximumBytes: 4_000)
                        let context =
                            "seed \(seed) (BRANCHSYNC_SEED): \(peer) \(clearance?.rawValue ?? "-") echo \(echoFloor) after \(cursor)"
                        #expect(fromMemory.upTo == fromSQLite.upTo, "\(context)")
                        #expect(fromMemory.encodedStates == fromSQLite.encodedStates, "\(context)")
                        #expect(fromMemory.purges == fromSQLite.purges, "\(context)")
                        #expect(fromMemory.reachedEnd == fromSQLite.reachedEnd, "\(context)")
                        let pendingMemory = window.pending(
                            for: peer, after: cursor, clearance: clearance, echoFloor: echoFloor)
                        let pendingSQLite = try hub.pending(
                            for: peer, after: cursor, clearance: clearance, echoFloor: echoFloor)
                        #expect(pendingMemory?.count == pendingSQLite.count, "\(context)")
                        #expect(pendingMemory?.oldestMilliseconds == pendingSQLite.oldestMilliseconds, "\(context)")
                        compared += 1
                    }
                }
            }
        }
        #expect(compared > 20, "the window covered too few cursors to compare")
        #expect(
            window.batch(
                for: try SiteID("bj01"), after: head, clearance: nil, echoFloor: 0, limit: 10, maximumBytes: 4_000)
                == nil, "a trimmed window claims positions it no longer holds")
    }

    /// The window takes what the hub's own connection wrote from memory (no reading back), and reads SQLite for
    /// what it cannot have: writes of another process in between, a write rolled back (alone, or inside another write
    /// within a group that commits), a group whose commit failed.
    /// Whatever the mix, it holds exactly the entries SQLite holds.
    @Test func entriesTakenFromTheWritersConnectionEqualTheStoredLog() throws {
        let seed = TestSeed.make()
        var random = SeededGenerator(seed: seed)
        let directory = TemporaryDirectory()
        let hub = try makeStore(directory, site: "hq", role: .hub)
        let otherProcess = try NodeStore.open(directory: directory.subdirectory("hq"), actor: tester)
        let window = RecentLog(head: try hub.lastSeq(), maximumBytes: 1 << 22, maximumEntries: 10_000)
        struct Injected: Error {}
        var ids: [RecordID] = []
        var code = 110_000
        func write(_ store: NodeStore) throws {
            if ids.isEmpty || Bool.random(using: &random) {
                var values = customerValues
                code += 1
                values["code"] = String(code)
                ids.append(try store.create(.customers, values: values).id)
            } else {
                _ = try? store.update(ids[Int.random(in: 0..<ids.count, using: &random)], changes: ["notes": "\(code)"])
            }
        }
        for step in 0..<400 {
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4: try write(hub)
            case 4: try write(otherProcess)
            case 5:
                // Saved, then rolled back: never stored, so never in the window.
                _ = try? hub.batch { writer in
                    var values = customerValues
                    values["code"] = "319999"
                    _ = try writer.create(.customers, values: values)
                    throw Injected()
                }
            case 6..<8:
                // A turn of the hub's loop: writes, the window refreshed inside the group, one commit.
                hub.beginGroup()
                for _ in 0..<Int.random(in: 1...4, using: &random) { try write(hub) }
                if Bool.random(using: &random) {
                    // A write inside another write that rolls back, while the group goes on and commits.
                    _ = try? hub.db.write {
                        try write(hub)
                        throw Injected()
                    }
                }
                try window.refreshIfBehind(hub)
                let fails = Int.random(in: 0..<3, using: &random) == 0
                if fails {
                    hub.groupAppliedIncoming = true
                    hub.faultInjector = { point in if point == .beforeGroupCommit { throw Injected() } }
                }
                do { try hub.commitGroup() } catch { window.reset() }
                hub.faultInjector = nil
            default:
                try window.refreshIfBehind(hub)
            }
            // Now and then (so that other writes pile up in between, as between the hub's turns): the window, brought
            // up to date, answers exactly what SQLite answers from its start.
            guard Int.random(in: 0..<3, using: &random) == 0 else { continue }
            try window.refresh(from: hub)
            guard window.last != .max else { continue }
            let fromSQLite = try hub.outboundBatch(
                for: try SiteID("bj01"), after: window.start, clearance: nil, echoFloor: 0, limit: 10_000,
                maximumBytes: 1 << 26)
            let fromMemory = window.batch(
                for: try SiteID("bj01"), after: window.start, clearance: nil, echoFloor: 0, limit: 10_000,
                maximumBytes: 1 << 26)
            #expect(fromMemory?.encodedStates == fromSQLite.encodedStates, "step \(step), seed \(seed)")
            #expect(fromMemory?.upTo == fromSQLite.upTo, "step \(step), seed \(seed)")
            if fromMemory?.encodedStates != fromSQLite.encodedStates { return }
        }
        #expect(window.entriesTakenFromWriter > 0, "the window never took an entry without reading SQLite")
    }

    /// A feed nobody takes stops at its bounds (entries, bytes of states) and then vouches for nothing: the window
    /// reads SQLite rather than take a feed with a hole.
    @Test func aFeedPastItsBoundsHandsNothingOver() {
        func entry(_ seq: Int64, bytes: Int) -> LogEntry {
            LogEntry(
                seq: seq, origin: "bj01", owner: "bj01", classification: .internal, id: "id\(seq)",
                state: [UInt8](repeating: 1, count: bytes), changedAt: seq)
        }
        var feed = LogFeed()
        feed.append([entry(101, bytes: 10), entry(102, bytes: 10)], after: 100)
        feed.append([entry(103, bytes: 10)], after: 102)
        #expect(feed.take(after: 100)?.map(\.seq) == [101, 102, 103])
        #expect(feed.take(after: 103)?.isEmpty == true, "an empty feed hands over nothing new")

        // Past its bytes, then past its entries: what it held is dropped, and what follows does not chain to the
        // window's position, so nothing is handed over (the window reads SQLite after its position either way).
        let half = LogFeed.maximumBytes / 2 + 1
        feed.append([entry(201, bytes: half)], after: 200)
        feed.append([entry(202, bytes: half)], after: 201)
        feed.append([entry(203, bytes: 1)], after: 202)
        #expect(feed.take(after: 200) == nil, "past its bytes")
        let many = Int64(LogFeed.maximumEntries)
        feed.append((1...many).map { entry(300 + $0, bytes: 0) }, after: 300)
        feed.append([entry(301 + many, bytes: 1)], after: 300 + many)
        #expect(feed.take(after: 300).map(\.isEmpty) ?? true, "past its entries")
        // A gap: the second write started after an entry the feed never saw.
        feed.append([entry(501, bytes: 1)], after: 500)
        feed.append([entry(503, bytes: 1)], after: 502)
        #expect(feed.take(after: 500) == nil)
    }

    /// After a failed group commit the window forgets everything, holds nothing until a refresh has read the stored
    /// head, and then serves what follows it again.
    @Test func aResetWindowHoldsNothingUntilItHasReadTheStoredHead() throws {
        let directory = TemporaryDirectory()
        let hub = try makeStore(directory, site: "hq", role: .hub)
        let window = RecentLog(head: try hub.lastSeq())
        _ = try hub.create(.customers, values: customerValues)
        try window.refresh(from: hub)
        let bj01 = try SiteID("bj01")
        #expect(
            window.batch(for: bj01, after: 0, clearance: .internal, echoFloor: 0, limit: 10, maximumBytes: 1 << 20)?
                .encodedStates.count == 1)
        window.reset()
        let head = try hub.lastSeq()
        for cursor in [0, head, head + 1_000] {
            #expect(
                window.batch(
                    for: bj01, after: cursor, clearance: .internal, echoFloor: 0, limit: 10, maximumBytes: 1 << 20)
                    == nil, "a reset window answered for cursor \(cursor)")
        }
        try window.refreshIfBehind(hub)
        var other = customerValues
        other["code"] = "310001"
        _ = try hub.create(.customers, values: other)
        try window.refreshIfBehind(hub)
        let batch = window.batch(
            for: bj01, after: head, clearance: .internal, echoFloor: 0, limit: 10, maximumBytes: 1 << 20)
        #expect(batch?.encodedStates.count == 1 && batch?.reachedEnd == true)
    }
}
