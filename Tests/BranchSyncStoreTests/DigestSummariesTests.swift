import BranchSyncCore
import BranchSyncTestSupport
import Foundation
import Testing

@testable import BranchSyncStore

/// The verify summaries (`digest_buckets`) are summed by each write transaction and stored before it commits: after
/// any mix of writes, rolled-back writes and removals they equal a recount from the records.
@Suite struct DigestSummariesTests {
    private func recount(_ store: NodeStore) throws -> [String] {
        var counted: [String: (Int64, Int64)] = [:]
        try store.db.statement("SELECT bucket, owner, class, shared_with, digest FROM records").forEachRow { row in
            let key = "\(row.int(0)) \(row.text(1)) \(row.text(2)) '\(row.text(3))'"
            let (count, digest) = counted[key] ?? (0, 0)
            counted[key] = (count + 1, digest ^ row.int(4))
        }
        return counted.filter { $0.value != (0, 0) }.map { "\($0.key) \($0.value.0) \($0.value.1)" }.sorted()
    }

    private func summaries(_ store: NodeStore) throws -> [String] {
        try store.db.statement(
            "SELECT bucket, owner, class, shared_with, records, digest FROM digest_buckets WHERE records != 0 OR digest != 0"
        ).rows { "\($0.int(0)) \($0.text(1)) \($0.text(2)) '\($0.text(3))' \($0.int(4)) \($0.int(5))" }.sorted()
    }

    private struct Abandoned: Error {}

    /// Seeded (`BRANCHSYNC_SEED` replays): creates, updates that move a record to another class or share list,
    /// deletions, purges, whole batches rolled back and group writes rolled back alone.
    @Test func summariesEqualARecountAfterEveryKindOfWrite() throws {
        let seed = TestSeed.make()
        var random = SeededGenerator(seed: seed)
        let directory = TemporaryDirectory()
        let hub = try makeHub(directory, enrolling: ["bj01", "sh01"])
        let classes = ["public", "internal", "confidential", "secret"]
        var live: [RecordID] = []
        var code = 200_000
        func newDocument(_ writer: LocalWriter) throws {
            let document = try writer.create(
                .documents,
                values: [
                    "title": "report \(code)", "kind": "administrative", "type": "report",
                    "class": classes[Int.random(in: 0..<4, using: &random)],
                ])
            code += 1
            live.append(document.id)
        }
        for step in 0..<60 {
            let action = Int.random(in: 0..<7, using: &random)
            do {
                switch action {
                case 0:
                    try hub.batch { writer in
                        for _ in 0..<Int.random(in: 1...20, using: &random) { try newDocument(writer) }
                    }
                case 1 where !live.isEmpty:
                    let id = live[Int.random(in: 0..<live.count, using: &random)]
                    _ = try hub.update(id, changes: ["class": classes[Int.random(in: 0..<4, using: &random)]])
                case 2 where !live.isEmpty:
                    let id = live[Int.random(in: 0..<live.count, using: &random)]
                    _ = try hub.batch { writer in
                        try writer.update(id, changes: ["class": "confidential"])
                        return try writer.share(id, with: try SiteID(Bool.random(using: &random) ? "bj01" : "sh01"))
                    }
                case 3 where !live.isEmpty:
                    let id = live.remove(at: Int.random(in: 0..<live.count, using: &random))
                    _ = try hub.delete(id)
                case 4 where !live.isEmpty:
                    let id = live.remove(at: Int.random(in: 0..<live.count, using: &random))
                    if let state = try hub.record(id) { try hub.db.write { try hub.removeRecord(state) } }
                case 5:
                    // A whole batch rolled back: none of its records, nor their part of the summaries, stays.
                    let before = live
                    do {
                        try hub.batch { writer in
                            for _ in 0..<5 { try newDocument(writer) }
                            throw Abandoned()
                        }
                    } catch is Abandoned { live = before }
                default:
                    // A group whose second write fails and is rolled back alone (a savepoint), then commits.
                    hub.beginGroup()
                    try hub.batch { writer in try newDocument(writer) }
                    let before = live
                    do {
                        try hub.batch { writer in
                            try newDocument(writer)
                            throw Abandoned()
                        }
                    } catch is Abandoned { live = before }
                    try hub.commitGroup()
                }
            } catch let error as StorageError where error.code == .invalidOperation {
                // Sharing a record already shared with that site: refused, nothing written.
            }
            #expect(try summaries(hub) == recount(hub), "seed \(seed), step \(step), action \(action)")
        }
        #expect(try hub.check().problems.isEmpty, "seed \(seed)")
    }

    /// A full disk in the middle of a batch: SQLite rolls the whole transaction back. A caller that catches each
    /// row's error and goes on (as an import does for bad rows) must not get later rows committed one by one
    /// outside it, nor summaries counting rows that are gone.
    @Test func aFullDiskMidBatchStoresNothingOfTheBatch() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory, site: "hq", role: .hub)
        _ = try store.create(.documents, values: ["title": "before", "kind": "administrative", "type": "fax"])
        let pages = try store.db.statement("PRAGMA page_count").firstRow { $0.int(0) } ?? 0
        try store.db.execute("PRAGMA max_page_count = \(pages + 2)")
        var failures: [String] = []
        #expect(throws: StorageError.self) {
            try store.batch { writer in
                for index in 0..<400 {
                    do {
                        try writer.create(
                            .documents,
                            values: [
                                "title": "report \(index)", "kind": "administrative", "type": "report",
                                "body": String(repeating: "条款", count: 200),
                            ])
                    } catch { failures.append("\(error)") }
                }
            }
        }
        #expect(!failures.isEmpty)
        try store.db.execute("PRAGMA max_page_count = 1073741823")
        #expect(try store.records(in: .documents).map { $0["title"] } == ["before"])
        #expect(try summaries(store) == recount(store))
        #expect(try store.check().problems.isEmpty)
    }

    /// A restore replaces rows wholesale (the full backup, then each incremental one merged in by key, then what the
    /// last inventory lacks dropped): the summaries are recomputed from the records it ends with.
    @Test func aRebuildRecomputesSummariesFromTheRecords() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory, site: "hq", role: .hub)
        for index in 0..<30 {
            _ = try store.create(
                .documents, values: ["title": "fax \(index)", "kind": "administrative", "type": "fax"])
        }
        let expected = try recount(store)
        try store.db.execute("UPDATE digest_buckets SET records = records + 1, digest = 7")
        #expect(try summaries(store) != expected)
        try store.db.write { try DigestSummaries.rebuild(store.db) }
        #expect(try summaries(store) == expected)
    }
}
