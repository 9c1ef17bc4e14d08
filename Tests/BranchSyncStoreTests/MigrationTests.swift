import BranchSyncCore
import BranchSyncTestSupport
import Foundation
import Testing

@testable import BranchSyncStore

@Suite struct MigrationTests {
    /// A node written before migrations 008–010 (no share lists, no retired sites, no retention column) opens under
    /// this build: the verify summaries are rebuilt with the new dimension and equal a recount from the records, and
    /// the retention dates of existing records are found.
    @Test func aDatabaseFromBeforeSharesAndRetentionDatesIsMigratedWithItsRecords() throws {
        let directory = TemporaryDirectory()
        let site = try SiteID("hq")
        var ids: [RecordID] = []
        do {
            let store = try makeStore(directory, site: "hq", role: .hub)
            for index in 0..<40 {
                var values = customerValues
                values["code"] = String(110_000 + index)
                if index % 3 == 0 { values[RecordSchema.retainUntilField] = "2020-0\(index % 9 + 1)-01" }
                ids.append(try store.create(.customers, values: values).id)
            }
            try store.delete(ids[1])
            // Back to the schema before 008: the old summaries (and their triggers), no new columns.
            try store.db.execute(
                """
                DROP TRIGGER IF EXISTS records_digest_insert; DROP TRIGGER IF EXISTS records_digest_delete;
                DROP TRIGGER IF EXISTS records_digest_update;
                DROP TABLE digest_buckets;
                CREATE TABLE digest_buckets (bucket INTEGER NOT NULL, owner TEXT NOT NULL, class TEXT NOT NULL,
                    records INTEGER NOT NULL, digest INTEGER NOT NULL, PRIMARY KEY (bucket, owner, class)) WITHOUT ROWID;
                CREATE TRIGGER records_digest_insert AFTER INSERT ON records BEGIN SELECT 1; END;
                CREATE TRIGGER records_digest_delete AFTER DELETE ON records BEGIN SELECT 1; END;
                CREATE TRIGGER records_digest_update AFTER UPDATE ON records BEGIN SELECT 1; END;
                DROP INDEX records_by_retain_until;
                ALTER TABLE records DROP COLUMN retain_until;
                ALTER TABLE records DROP COLUMN shared_with;
                ALTER TABLE peers DROP COLUMN retired_at;
                ALTER TABLE peers DROP COLUMN successor;
                DELETE FROM schema_migrations WHERE name IN ('008-record-shares', '009-retired-sites', '010-retention-dates',
                    '014-summaries-without-triggers');
                """)
        }
        let store = try NodeStore.open(directory: directory.subdirectory("hq"), actor: tester)
        #expect(store.identity.site == site)
        let summaries = try store.db.statement(
            "SELECT bucket, owner, class, shared_with, records, digest FROM digest_buckets WHERE records != 0 ORDER BY 1, 2, 3, 4"
        ).rows { "\($0.int(0)) \($0.text(1)) \($0.text(2)) '\($0.text(3))' \($0.int(4)) \($0.int(5))" }
        var recount: [String: (Int64, Int64)] = [:]
        try store.db.statement("SELECT bucket, owner, class, digest FROM records").forEachRow { row in
            let key = "\(row.int(0)) \(row.text(1)) \(row.text(2)) ''"
            let (count, digest) = recount[key] ?? (0, 0)
            recount[key] = (count + 1, digest ^ row.int(3))
        }
        let expected = recount.keys.sorted { a, b in
            let (x, y) = (a.split(separator: " "), b.split(separator: " "))
            return (Int(x[0]) ?? 0, String(x[1]), String(x[2])) < (Int(y[0]) ?? 0, String(y[1]), String(y[2]))
        }.map { key in "\(key) \(recount[key]?.0 ?? 0) \(recount[key]?.1 ?? 0)" }
        #expect(summaries == expected)
        let due = try store.retentionDue(before: "2026-01-01")
        #expect(due.count == 14 && due.first?.retainUntil == "2020-01-01", "\(due.map(\.retainUntil))")
        #expect(try store.retentionDueCount(before: "2026-01-01") == 14)
        // Writes after the migration keep the summaries current.
        try store.update(ids[0], changes: ["notes": "after the migration"])
        #expect(try store.peers().allSatisfy { $0.retiredAt == nil })
    }

    /// A destruction stored before 013 (its row said deleted = 1) is marked as one when the store opens: it is then
    /// never a collection candidate, and `check` finds the row consistent with its state.
    @Test func destructionsStoredBeforeTheyWereMarkedAreMarked() throws {
        let directory = TemporaryDirectory()
        var destroyed: RecordID?
        var deleted: RecordID?
        do {
            let store = try makeStore(directory, site: "hq", role: .hub)
            let document = try store.create(
                .documents,
                values: [
                    "title": "2015 framework contract", "kind": "market", "type": "contract",
                    "retainUntil": "2020-12-31",
                ])
            _ = try store.destroy(
                document.id, approval: DestructionApproval(reason: "retention ended", approvedBy: "li"))
            let customer = try store.create(.customers, values: customerValues)
            _ = try store.delete(customer.id)
            destroyed = document.id
            deleted = customer.id
            try store.db.execute(
                """
                UPDATE records SET deleted = 1 WHERE deleted = 2;
                DROP INDEX tombstones_by_seq;
                DELETE FROM schema_migrations WHERE name = '013-kept-destructions';
                """)
        }
        let store = try NodeStore.open(directory: directory.subdirectory("hq"), actor: tester)
        let marks = try store.db.statement("SELECT id, deleted FROM records WHERE deleted != 0 ORDER BY deleted").rows {
            "\($0.text(0)) \($0.int(1))"
        }
        #expect(marks == ["\(deleted?.description ?? "-") 1", "\(destroyed?.description ?? "-") 2"], "\(marks)")
        #expect(try store.check().problems.isEmpty)
        let round = try store.collectTombstones(minimumAgeMilliseconds: 0)
        #expect(round.collected == 1)
        let kept = try store.record(try #require(destroyed))
        #expect(kept?.isDestroyed == true, "a destruction was collected")
    }

    /// A customer purged before removals took their leads along left leads naming it, with the shared phone:
    /// opening the node under this build re-pairs the groups that have such a lead, so nothing of the purged
    /// customer stays and the customers still sharing the value are paired again.
    @Test func leadsOfCustomersPurgedBeforeTheFixAreRepaired() throws {
        let directory = TemporaryDirectory()
        var remaining: Set<RecordID> = []
        do {
            let store = try makeStore(directory, site: "bj01")
            var ids: [RecordID] = []
            for (code, credit) in [
                ("110001", "91110000802100433B"), ("110009", "91310000132200821H"), ("310001", "91330100716105852F"),
            ] {
                var values = customerValues
                values["phone"] = "13900000007"
                values["code"] = code
                values["creditCode"] = credit
                ids.append(try store.create(.customers, values: values).id)
            }
            ids.sort()
            // The oldest holder is every lead's anchor.
            #expect(try store.suspiciousLeads().count == 2)
            remaining = Set(ids.dropFirst())
            // What an earlier build did on a purge: the row goes, the leads stay.
            try store.db.execute(
                """
                DELETE FROM records WHERE id = '\(ids[0])';
                DELETE FROM schema_migrations WHERE name = '015-leads-of-removed-customers';
                """)
            #expect(try store.suspiciousLeads().count == 2)
        }
        let store = try NodeStore.open(directory: directory.subdirectory("bj01"), actor: tester)
        let leads = try store.suspiciousLeads()
        #expect(leads.count == 1)
        #expect(Set(leads.compactMap { $0.first?.id } + leads.compactMap { $0.second?.id }) == remaining)
        let named = try store.db.statement("SELECT first_id, second_id FROM leads").rows { [$0.text(0), $0.text(1)] }
        #expect(Set(named.flatMap { $0 }) == Set(remaining.map(\.description)), "\(named)")
    }
}
