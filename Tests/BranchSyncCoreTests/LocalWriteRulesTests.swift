import BranchSyncTestSupport
import Testing

@testable import BranchSyncCore

/// The rules that keep causality visible in local writes (DESIGN.md §10, §12): no dot reused, no vector entry
/// lowered, every write stamped above what it overwrote.
@Suite struct LocalWriteRulesTests {
    let x1 = try! SiteID("x1")
    let y1 = try! SiteID("y1")
    let z1 = try! SiteID("z1")
    let id = RecordID.version7(unixMilliseconds: 1_700_000_000_000, random: Array(repeating: 9, count: 10))
    static let now: UInt64 = 1_700_000_000_000
    static let hour: UInt64 = 3_600_000

    func clock(_ site: SiteID, counter: UInt64 = 0) -> WriteClock {
        WriteClock(site: site, counter: counter, clock: HybridLogicalClock())
    }

    /// Issue 6, case 1 (second half): a record whose vector claims 10^12 writes of this site must not make the
    /// site's next write look older than what the record holds.
    @Test func aWriteNeverLowersTheRecordsEntryForItsSite() throws {
        var record = RecordState(id: id, collection: .customers, owner: x1)
        record.applyLocalWrite(
            ["name": "甲"],
            stamp: Stamp(
                dot: Dot(site: x1, counter: 1_000_000_000_000), time: HLCTimestamp(wallMilliseconds: 1, logical: 0)))
        var writer = clock(x1, counter: 7)
        let stamp = try writer.stamp(for: record, wallMilliseconds: 5_000)
        #expect(stamp.dot.counter == 1_000_000_000_001)
        let before = record.versionVector
        record.applyLocalWrite(["name": "乙"], stamp: stamp)
        #expect(record.versionVector[x1] == 1_000_000_000_001)
        #expect(record.versionVector.compare(to: before) == .after)
        // A stamp below the entry (a caller's bug) still does not lower it.
        record.applyLocalWrite(
            ["phone": "13800000000"], stamp: Stamp(dot: Dot(site: x1, counter: 3), time: stamp.time))
        #expect(record.versionVector[x1] == 1_000_000_000_001)
    }

    @Test func countersFollowTheWallClockSoARestoredCopyNeverReusesADot() throws {
        var live = clock(x1)
        let first = try live.stamp(for: nil, wallMilliseconds: Self.now)
        let second = try live.stamp(for: nil, wallMilliseconds: Self.now)
        #expect(first.dot.counter == Self.now && second.dot.counter == Self.now + 1)
        // A copy taken before those writes, restored a minute later, written to before any handshake.
        var restored = clock(x1, counter: 12)
        let afterRestore = try restored.stamp(for: nil, wallMilliseconds: Self.now + 60_000)
        #expect(afterRestore.dot.counter > second.dot.counter)
        // The floor a peer reports lifts counters above what the peer holds, whatever the wall clock says.
        var behind = clock(x1, counter: 12)
        behind.raiseFloor(to: Self.now + 500)
        #expect(try behind.stamp(for: nil, wallMilliseconds: 10).dot.counter == Self.now + 501)
    }

    @Test func anExhaustedCounterIsAnErrorNotACrash() {
        var record = RecordState(id: id, collection: .customers, owner: x1)
        record.applyLocalWrite(
            ["name": "甲"],
            stamp: Stamp(dot: Dot(site: x1, counter: WriteClock.maximumCounter), time: HLCTimestamp.zero))
        var writer = clock(x1)
        #expect(throws: ValidationError.self) { try writer.stamp(for: record, wallMilliseconds: Self.now) }
        var saturated = HLCTimestamp(wallMilliseconds: UInt64.max, logical: UInt32.max)
        saturated = HybridLogicalClock.successor(of: saturated)
        #expect(saturated == HLCTimestamp(wallMilliseconds: UInt64.max, logical: UInt32.max))
    }

    @Test func aWriteIsStampedAboveEveryStampInTheRecordEvenOneTheClockDidNotObserve() throws {
        var record = RecordState(id: id, collection: .customers, owner: x1)
        let future = HLCTimestamp(wallMilliseconds: Self.now + 2 * Self.hour, logical: 3)
        record.applyLocalWrite(["name": "甲"], stamp: Stamp(dot: Dot(site: x1, counter: 5), time: future))
        var writer = clock(y1)
        writer.observe(future, wallMilliseconds: Self.now)  // beyond the drift guard: not observed
        let stamp = try writer.stamp(for: record, wallMilliseconds: Self.now)
        #expect(stamp.time > future)
        // The node's clock does not follow that record: its other writes keep real times (a record stamped years
        // ahead must not pin every later write of the node there).
        #expect(try writer.stamp(for: nil, wallMilliseconds: Self.now).time.wallMilliseconds == Self.now)
        // The same record again: above its newest stamp once more.
        record.applyLocalWrite(["name": "乙"], stamp: stamp)
        #expect(try writer.stamp(for: record, wallMilliseconds: Self.now).time > stamp.time)
    }

    /// Issue 6, case 2: x1's clock is two hours ahead. It writes "a"; y1 overwrites with "c"; z1, which saw neither,
    /// writes "b" later in real time. Every replica must end with "c" (it saw "a", and beats the concurrent "b"),
    /// whatever order the three states arrive in.
    @Test func anOverwriteOfAFutureStampedValueWinsInEveryMergeOrder() throws {
        var sites = [x1, y1, z1].map { SimulatedSite(site: $0, wall: Self.now) }
        sites[0] = SimulatedSite(site: x1, wall: Self.now, offset: 2 * Int64(Self.hour))
        var generator = SeededGenerator(seed: 1)
        var base = RecordState(id: id, collection: .customers, owner: y1)
        base.applyLocalWrite(["name": "初始"], stamp: try sites[1].nextStamp(for: nil, &generator))
        for index in sites.indices { try sites[index].receive(base) }

        var a = base
        a.applyLocalWrite(["name": "a"], stamp: try sites[0].nextStamp(for: a, &generator))
        try sites[1].receive(a)
        var c = sites[1].records[id]!
        c.applyLocalWrite(["name": "c"], stamp: try sites[1].nextStamp(for: c, &generator))
        sites[2].wall += 40  // z1 writes after y1 in real time
        var b = base
        b.applyLocalWrite(["name": "b"], stamp: try sites[2].nextStamp(for: b, &generator))

        let orders = [[a, b, c], [a, c, b], [b, a, c], [b, c, a], [c, a, b], [c, b, a]]
        var results: [String] = []
        for order in orders {
            var replica = SimulatedSite(site: try SiteID("fresh"), wall: Self.now)
            try replica.receive(base)
            for state in order { try replica.receive(state) }
            results.append(replica.records[id]?["name"] ?? "?")
        }
        #expect(results == Array(repeating: "c", count: orders.count), "results per merge order: \(results)")
    }

    @Test func aDeleteCoversEveryFieldEvenOfAnInconsistentState() {
        var record = RecordState(id: id, collection: .customers, owner: x1)
        record.applyLocalWrite(
            ["name": "甲"],
            stamp: Stamp(dot: Dot(site: x1, counter: 4), time: HLCTimestamp(wallMilliseconds: 9, logical: 0)))
        // A field stamped by a write the vector does not include (as a forged state would carry).
        record.fields["phone"] = FieldValue(
            value: "13800000000", stamp: Stamp(dot: Dot(site: z1, counter: 77), time: HLCTimestamp.zero))
        record.applyLocalDelete(
            stamp: Stamp(dot: Dot(site: x1, counter: 5), time: HLCTimestamp(wallMilliseconds: 10, logical: 0)))
        #expect(record.isDeleted)
        #expect(record.versionVector[z1] == 77)
    }

    /// Issue 6, case 7: `e` + U+0301 and `é` are different field names as bytes (ascending, so the old decoder took
    /// them) but one key for a Swift dictionary. The state must be refused, not collapsed.
    @Test func canonicallyEquivalentFieldNamesAreRefused() throws {
        let hex =
            "0101890a5dac96774bbcceb302099a80570104626a30310104626a30310100020365cc81017804626a30310180d095ffbc3100"
            + "02c3a9017904626a30310180d095ffbc3100"
        let bytes = stride(from: 0, to: hex.count, by: 2).map { offset -> UInt8 in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
        #expect {
            _ = try RecordState(decoding: bytes)
        } throws: { error in
            "\(error)".contains("canonically equivalent")
        }
        // Values differing only by normalisation are different values too.
        let stamp = Stamp(dot: Dot(site: x1, counter: 1), time: HLCTimestamp.zero)
        #expect(FieldValue(value: "e\u{301}", stamp: stamp) != FieldValue(value: "é", stamp: stamp))
    }

    /// A node restored from an older copy issues counters above everything it issued before (no dot reuse), so its
    /// next write's vector claims, for its own entry, writes it lost. The merge must not let that claim erase them:
    /// a field the lost write set keeps the lost write's (newer) value, whichever side the merge starts from.
    @Test func aWriteMadeAfterARestoreDoesNotEraseTheWritesTheCopyLacked() throws {
        var generator = SeededGenerator(seed: 7)
        var node = SimulatedSite(site: x1, wall: Self.now)
        var copy = RecordState(id: id, collection: .customers, owner: x1)
        copy.applyLocalWrite(["name": "初始", "notes": "n0"], stamp: try node.nextStamp(for: nil, &generator))
        let restoredClock = node.clock
        // After the copy: a write the hub acknowledged.
        var acknowledged = copy
        acknowledged.applyLocalWrite(
            ["notes": "n1 (acknowledged)"], stamp: try node.nextStamp(for: acknowledged, &generator))
        // The copy is put back; the node writes another field before it reconnects.
        node.clock = restoredClock
        node.wall += 60_000
        var afterRestore = copy
        afterRestore.applyLocalWrite(["phone": "13800000000"], stamp: try node.nextStamp(for: afterRestore, &generator))
        #expect(afterRestore.versionVector.compare(to: acknowledged.versionVector) == .after)
        for (local, remote) in [(acknowledged, afterRestore), (afterRestore, acknowledged)] {
            let merged = try RecordMerge.merge(local: local, remote: remote).state
            #expect(merged["notes"] == "n1 (acknowledged)", "the acknowledged write was erased")
            #expect(merged["phone"] == "13800000000")
        }
        // The same for a restored hub that writes the record again before its branches resend.
        var hubCopy = copy
        var hub = SimulatedSite(site: y1, wall: Self.now)
        hubCopy.applyLocalWrite(["contact": "c0"], stamp: try hub.nextStamp(for: hubCopy, &generator))
        let hubClock = hub.clock
        var relayed = hubCopy
        relayed.applyLocalWrite(
            ["contact": "c1 (held by a branch)"], stamp: try hub.nextStamp(for: relayed, &generator))
        hub.clock = hubClock
        hub.wall += 60_000
        var rewritten = hubCopy
        rewritten.applyLocalWrite(["industry": "制造"], stamp: try hub.nextStamp(for: rewritten, &generator))
        for (local, remote) in [(rewritten, relayed), (relayed, rewritten)] {
            let merged = try RecordMerge.merge(local: local, remote: remote).state
            #expect(merged["contact"] == "c1 (held by a branch)" && merged["industry"] == "制造")
        }
    }
}
