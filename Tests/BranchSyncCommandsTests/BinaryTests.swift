import BranchSyncCore
import BranchSyncStore
import Foundation
import Testing

/// Runs of the built `branchsync` executable: real processes, real SQLite files.
@Suite struct BinaryTests {
    @Test func theBinaryPrintsToTheRightStreamsWithTheRightStatus() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("bj01")
        let initResult = try runBinary(["init", "--site", "bj01", "--role", "branch"], data: data)
        #expect(initResult.status == 0, "\(initResult.err)")
        let bad = try runBinary(
            ["customer", "add", "--code", "110001", "--name", "x", "--credit-code", "91110000802100433C"], data: data)
        #expect(bad.status == 3)
        #expect(bad.out.isEmpty)
        #expect(
            bad.err == "branchsync: error: credit code '91110000802100433C' has check character 'C', expected 'B'\n")
        let good = try runBinary(
            ["customer", "add", "--code", "110001", "--name", "x", "--credit-code", "91110000802100433B"], data: data)
        #expect(good.status == 0)
        #expect((try? RecordID(good.out.trimmingCharacters(in: .newlines))) != nil)
        let version = try runBinary(["--version"], data: data)
        #expect(version.out.hasPrefix("branchsync "))
    }

    /// A process killed (SIGKILL) in the middle of a write transaction, between the record row and the audit row,
    /// leaves neither: the record, its log entry and its audit row are all absent after restart, and the node
    /// keeps working.
    @Test(arguments: ["after-record-row", "before-meta-save"])
    func aWriteKilledMidTransactionLeavesNothingHalfDone(point: String) throws {
        let directory = TemporaryDirectory()
        let data = directory.file("bj01")
        _ = try runBinary(["init", "--site", "bj01", "--role", "branch"], data: data)
        let first = try runBinary(
            ["customer", "add", "--code", "110001", "--name", "甲", "--credit-code", "91110000802100433B"], data: data)
        #expect(first.status == 0)
        let killed = try runBinary(
            ["customer", "add", "--code", "440300", "--name", "乙", "--credit-code", "914403001922038216"], data: data,
            environment: ["BRANCHSYNC_TEST_CRASH_AT": point])
        #expect(killed.signal == SIGKILL)
        #expect(killed.out.isEmpty)

        let store = try NodeStore.open(directory: data, actor: AuditActor(user: "t", origin: "t"))
        #expect(try store.records(in: .customers).map { $0["code"] } == ["110001"])
        #expect(try store.changes(after: 0).count == 1)
        #expect(try store.auditTrail().map(\.action) == ["create", "init"])
        let after = try runBinary(
            ["customer", "add", "--code", "440300", "--name", "乙", "--credit-code", "914403001922038216"], data: data)
        #expect(after.status == 0, "\(after.err)")
        let state = try store.record(try RecordID(after.out.trimmingCharacters(in: .newlines)))
        let bj01 = try SiteID("bj01")
        let previous = try #require(try store.records(in: .customers).first { $0["code"] == "110001" })
        #expect((state?.versionVector[bj01] ?? 0) > previous.versionVector[bj01])
    }
}

@Suite struct DemoTests {
    /// The README's first command: a hub and three branches as processes; exits 0 only if everything converged.
    @Test func theDemoConvergesAndSaysSo() throws {
        let directory = TemporaryDirectory()
        let result = try runBinary(
            ["demo", "--dir", directory.file("demo"), "--timeout", "60"], data: directory.file("unused"))
        #expect(result.status == 0, "\(result.err)\n\(result.out)")
        #expect(result.out.contains("conflict #1 at hq on phone"))
        #expect(result.out.contains("3 site(s), 3 online, 3 caught up both ways"))
        #expect(result.out.contains("✓ sh01: 13 records identical byte for byte; 2 out of its scope never sent"))
        #expect(result.out.contains("✓ gz01: 15 records identical byte for byte; 0 out of its scope never sent"))
        #expect(result.out.contains("summary: 4 nodes, 15 records at the hub, 1 conflict detected and resolved"))
    }
}
