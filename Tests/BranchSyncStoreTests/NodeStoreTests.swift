import BranchSyncCore
import BranchSyncCrypto
import BranchSyncTestSupport
import Foundation
import Testing

@testable import BranchSyncStore

let tester = AuditActor(user: "tester", origin: "test@localhost")

func makeStore(_ directory: TemporaryDirectory, site: String = "bj01", role: NodeRole = .branch) throws -> NodeStore {
    try NodeStore.initialize(
        directory: directory.subdirectory(site), identity: NodeIdentity(site: try SiteID(site), role: role),
        actor: tester)
}

/// A hub `hq` with `sites` enrolled as internal branches (placeholder verifiers: no session logs in).
func makeHub(_ directory: TemporaryDirectory, enrolling sites: [String]) throws -> NodeStore {
    let hub = try makeStore(directory, site: "hq", role: .hub)
    for site in sites {
        try hub.enroll(
            site: try SiteID(site), clearance: .internal, storedKey: Array(repeating: 1, count: 32),
            serverKey: Array(repeating: 2, count: 32))
    }
    return hub
}

let customerValues = ["code": "110001", "name": "北京华信科技有限公司", "creditCode": "91110000802100433B"]

@Suite struct NodeStoreTests {
    @Test func initializeThenReopenKeepsIdentity() throws {
        let directory = TemporaryDirectory()
        _ = try NodeStore.initialize(
            directory: directory.subdirectory("bj01"),
            identity: NodeIdentity(site: try SiteID("bj01"), role: .branch, hubAddress: "127.0.0.1:7700"), actor: tester
        )
        let reopened = try NodeStore.open(directory: directory.subdirectory("bj01"), actor: tester)
        #expect(
            reopened.identity == NodeIdentity(site: try SiteID("bj01"), role: .branch, hubAddress: "127.0.0.1:7700"))
        #expect(throws: StorageError.self) {
            _ = try NodeStore.initialize(
                directory: directory.subdirectory("bj01"), identity: NodeIdentity(site: try SiteID("x"), role: .hub),
                actor: tester)
        }
    }

    @Test func whatAPeerSaysIsStoredOnOneLineOfBoundedLength() throws {
        let directory = TemporaryDirectory()
        let hub = try makeStore(directory, site: "hq", role: .hub)
        let site = try SiteID("sh01")
        try hub.enroll(site: site, clearance: .internal, storedKey: [1], serverKey: [2])
        let forged = "branch 1.0\nsh01  online  caught up" + String(repeating: "x", count: 1_000_000)
        try hub.recordSessionStart(site, software: forged, clockSkewMilliseconds: 0)
        let software = try #require(try hub.peer(site)?.peerSoftware)
        #expect(!software.contains("\n") && software.count <= NodeStore.maximumPeerTextLength + 1)
        try hub.recordSessionEnd(site, error: "peer said BYE: " + forged)
        let error = try #require(try hub.peer(site)?.lastError)
        #expect(!error.contains("\n") && error.count <= NodeStore.maximumErrorLength + 1)
    }

    @Test func openingAnEmptyDirectorySaysToRunInit() throws {
        let directory = TemporaryDirectory()
        do {
            _ = try NodeStore.open(directory: directory.path, actor: tester)
            Issue.record("opened a directory without a node")
        } catch let error as StorageError {
            #expect(error.code == .notInitialized)
            #expect(error.message.contains("branchsync init"))
        }
    }

    @Test func createWritesRecordLogEntryAndAuditRow() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let state = try store.create(.customers, values: customerValues)
        #expect(state["category"] == "general")
        #expect(state.classification == .internal)
        #expect(state.versionVector.counters.keys.map(\.rawValue) == ["bj01"])
        #expect(try store.record(state.id) == state)
        let log = try store.changes(after: 0)
        let head = try store.lastSeq()
        #expect(log.count == 1 && log.first?.seq == head)
        #expect(log.first?.state == state)
        let audit = try store.auditTrail(AuditFilter(recordID: state.id))
        #expect(audit.map(\.action) == ["create"])
        #expect(audit.first?.actor == "tester")
        #expect(audit.first?.origin == "test@localhost")
        #expect(!store.hasActiveStatements)
    }

    @Test func customerCodesAreUniqueAmongLiveCustomers() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let first = try store.create(.customers, values: customerValues)
        do {
            try store.create(.customers, values: customerValues)
            Issue.record("duplicate code accepted")
        } catch let error as ValidationError {
            #expect(error.message == "customer code 110001 is already used by customer \(first.id) (北京华信科技有限公司)")
        }
        try store.delete(first.id)
        try store.create(.customers, values: customerValues)
    }

    @Test func updatesMoveTheRecordToTheEndOfTheLogAndNoOpsWriteNothing() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let a = try store.create(.customers, values: customerValues)
        var other = customerValues
        other["code"] = "310001"
        let b = try store.create(.customers, values: other)
        let result = try store.update(a.id, changes: ["phone": "13812345678"])
        #expect(result.changed == ["phone"])
        #expect(try store.changes(after: 0).map(\.state.id) == [b.id, a.id])
        let head = try store.lastSeq()
        let unchanged = try store.update(a.id, changes: ["phone": "13812345678"])
        #expect(unchanged.changed.isEmpty)
        #expect(try store.lastSeq() == head)
        #expect(throws: ValidationError.self) { try store.update(a.id, changes: ["phone": "12345"]) }
        #expect(throws: ValidationError.self) { try store.update(a.id, changes: ["code": "310001"]) }
    }

    @Test func deletedRecordsAreTombstonesThatRefuseUpdates() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let state = try store.create(.customers, values: customerValues)
        let deleted = try store.delete(state.id)
        #expect(deleted.isDeleted)
        #expect(try store.records(in: .customers).isEmpty)
        #expect(try store.records(in: .customers, includeDeleted: true).count == 1)
        do {
            try store.update(state.id, changes: ["name": "x"])
            Issue.record("updated a deleted record")
        } catch let error as StorageError {
            #expect(error.code == .invalidOperation)
        }
        #expect(throws: StorageError.self) { try store.delete(state.id) }
        #expect(try store.auditTrail(AuditFilter(recordID: state.id)).map(\.action) == ["delete", "create"])
    }

    @Test func documentsLinkToExistingCustomersAndStoreAttachments() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let customer = try store.create(.customers, values: customerValues)
        let bytes = Array("报价单 v1".utf8)
        let document = try store.create(
            .documents,
            values: [
                "title": "2027 年报价", "kind": "market", "type": "quotation", "customerId": customer.id.description,
            ],
            attachment: Attachment(name: "/tmp/quote.pdf", bytes: bytes))
        #expect(document["attachmentName"] == "quote.pdf")
        #expect(document["attachmentSha256"] == SHA256.hexDigest(bytes))
        #expect(document["attachmentSize"] == String(bytes.count))
        #expect(try store.blob(sha256: SHA256.hexDigest(bytes)) == bytes)
        let unknown = RecordID.version7(unixMilliseconds: 1, random: Array(repeating: 0, count: 10))
        #expect(throws: ValidationError.self) {
            try store.create(
                .documents, values: ["title": "x", "kind": "market", "type": "fax", "customerId": unknown.description])
        }
        #expect(throws: ValidationError.self) {
            try store.create(
                .documents, values: ["title": "x", "kind": "market", "type": "fax", "attachmentSha256": "00"])
        }
    }

    @Test func attachmentsAreLimitedTo8MiB() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let big = [UInt8](repeating: 7, count: LocalWriter.maximumAttachmentBytes + 1)
        do {
            try store.create(
                .documents, values: ["title": "扫描件", "kind": "administrative", "type": "fax"],
                attachment: Attachment(name: "scan.tif", bytes: big))
            Issue.record("a 8 MiB + 1 attachment was accepted")
        } catch let error as ValidationError {
            #expect(error.message == "scan.tif is 8388609 bytes; attachments may be at most 8 MiB")
        }
        #expect(try store.records(in: .documents).isEmpty)
    }

    @Test func aListingOfMoreRecordsThanTheLimitIsRefusedNotBuilt() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        try store.batch { writer in
            for index in 0..<20 {
                try writer.create(
                    .documents, values: ["title": "报告\(index)", "kind": "market", "type": "report"])
            }
        }
        let digests = ReplicaDigests(store: store, scope: .all)
        #expect(try digests.entries(in: [[]], atMost: 20)?.count == 20)
        #expect(try digests.entries(in: [[]], atMost: 19) == nil)
        let buckets = (0...255).map { [UInt8($0)] }
        #expect(try digests.entries(in: buckets, atMost: 19) == nil)
        #expect(
            try digests.entries(in: buckets, atMost: 20)?.map(\.0).sorted()
                == digests.entries(in: [[]]).map(\.0).sorted())
    }

    /// A hub's proof of a log position holds while its history reaches that position in that epoch, and shows a
    /// restore once the database is an older copy (Protocol.md §8.2), whether or not the restored hub wrote since.
    @Test func positionProofsShowWhenTheHubsHistoryWentBack() throws {
        let directory = TemporaryDirectory()
        let hubDirectory = directory.subdirectory("hq")
        var hub = try makeStore(directory, site: "hq", role: .hub)
        try hub.create(.customers, values: customerValues)
        let early = try #require(try hub.positionProof(for: try hub.lastSeq()))
        #expect(try hub.checkPositionProof(early) == .held)
        #expect(try hub.positionProof(for: try hub.lastSeq() + 1) == nil, "a position not issued yet")
        try hub.checkpoint()
        let copy = directory.subdirectory("copy")
        try FileManager.default.copyItem(atPath: hubDirectory, toPath: copy)

        // Another process writes on: a later proof, in a new epoch.
        hub = try NodeStore.open(directory: hubDirectory, actor: tester)
        try hub.create(.customers, values: ["code": "110002", "name": "乙", "creditCode": "91110000802100433B"])
        let late = try #require(try hub.positionProof(for: try hub.lastSeq()))
        #expect(late.epoch != early.epoch)
        #expect(try hub.checkPositionProof(late) == .held && hub.checkPositionProof(early) == .held)

        try FileManager.default.removeItem(atPath: hubDirectory)
        try FileManager.default.copyItem(atPath: copy, toPath: hubDirectory)
        hub = try NodeStore.open(directory: hubDirectory, actor: tester)
        guard case .lost = try hub.checkPositionProof(late) else {
            Issue.record("a proof from the lost history must show the restore")
            return
        }
        #expect(try hub.checkPositionProof(early) == .held)
        // Written to after the restore (positions past the lost ones): still shown.
        for index in 0..<3 {
            try hub.create(
                .customers, values: ["code": "11001\(index)", "name": "丙", "creditCode": "91110000802100433B"])
        }
        guard case .lost = try hub.checkPositionProof(late) else {
            Issue.record("writes after the restore must not hide it")
            return
        }
        // Once the hub recovers from that restore, the same lost history (a branch restored from an old copy of its
        // own, or a proof kept back to replay) starts nothing.
        #expect(try hub.startRecovery(provenBy: try SiteID("bj01"), proof: late, reason: "test"))
        guard case .recovered = try hub.checkPositionProof(late) else {
            Issue.record("a history already recovered from is not a new restore")
            return
        }
        var altered = early
        altered.mac[0] ^= 1
        guard case .invalid = try hub.checkPositionProof(altered) else {
            Issue.record("an altered proof is not the hub's")
            return
        }
        #expect(try makeStore(directory, site: "bj01").positionProof(for: 1) == nil, "branches prove nothing")
    }

    @Test func countersAndClockSurviveReopen() throws {
        let directory = TemporaryDirectory()
        var store = try makeStore(directory)
        let first = try store.create(.customers, values: customerValues)
        store = try NodeStore.open(directory: directory.subdirectory("bj01"), actor: tester)
        let second = try store.update(first.id, changes: ["notes": "重要客户"]).state
        #expect(second.fields["notes"]!.stamp.dot.counter > first.fields["name"]!.stamp.dot.counter)
        #expect(second.fields["notes"]!.stamp > first.fields["name"]!.stamp)
    }
}

@Suite struct WriteAtomicityTests {
    /// A write interrupted between its statements (after the record row, before the audit row; or before the
    /// counter is saved) leaves neither half: no record, no log entry, no audit row, no used counter value.
    @Test(arguments: [FaultPoint.afterRecordRow, FaultPoint.beforeMetaSave])
    func interruptedWriteLeavesNothing(at point: FaultPoint) throws {
        struct Interrupted: Error {}
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        // A stopped wall clock, so counters and log positions only move by writes.
        store.wallClock = { 1_000 }
        let kept = try store.create(.customers, values: customerValues)
        let auditBefore = try store.auditTrail().count
        let counterBefore = try store.metadata("counter")
        let headBefore = try store.lastSeq()
        store.faultInjector = { if $0 == point { throw Interrupted() } }
        var other = customerValues
        other["code"] = "310001"
        #expect(throws: Interrupted.self) { try store.create(.customers, values: other) }
        #expect(throws: Interrupted.self) { try store.update(kept.id, changes: ["name": "改名"]) }
        store.faultInjector = nil
        #expect(try store.records(in: .customers) == [kept])
        #expect(try store.changes(after: 0).map(\.seq) == [headBefore])
        #expect(try store.auditTrail().count == auditBefore)
        #expect(try store.metadata("counter") == counterBefore)
        let next = try store.create(.customers, values: other)
        #expect(next.versionVector[try SiteID("bj01")] == kept.versionVector[try SiteID("bj01")] + 1)
        #expect(!store.hasActiveStatements)
    }

    @Test func aFailingRowRollsBackItsWholeBatch() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        #expect(throws: ValidationError.self) {
            try store.batch { writer in
                try writer.create(.customers, values: customerValues)
                try writer.create(.customers, values: customerValues)
            }
        }
        #expect(try store.records(in: .customers).isEmpty)
        #expect(try store.lastSeq() == 0)
    }
}

@Suite struct ApplyTests {
    @Test func remoteStatesReplicateIdempotently() throws {
        let directory = TemporaryDirectory()
        let branch = try makeStore(directory, site: "bj01")
        let hub = try makeStore(directory, site: "hq", role: .hub)
        let created = try branch.create(.customers, values: customerValues)
        let first = try hub.apply(try branch.changes(after: 0).map(\.state), from: try SiteID("bj01"))
        #expect(first.applied == 1)
        #expect(try hub.record(created.id) == created)
        #expect(try hub.changes(after: 0).first?.origin == "bj01")
        // Applied as a branch applies its hub's changes: no entry, the record's own story is in the origin's trail.
        #expect(try hub.auditTrail().filter { $0.action == "apply" }.isEmpty)
        let again = try hub.apply([created], from: try SiteID("bj01"))
        #expect(again.applied == 0 && again.unchanged == 1)
        #expect(try hub.changes(after: 0).count == 1)
        #expect(try hub.allRecords().map(\.canonicalJSON) == branch.allRecords().map(\.canonicalJSON))
    }

    @Test func concurrentEditsConvergeAndTheConflictIsRecordedOnBothSides() throws {
        let directory = TemporaryDirectory()
        let branch = try makeStore(directory, site: "bj01")
        let hub = try makeStore(directory, site: "hq", role: .hub)
        let bj01 = try SiteID("bj01")
        let hq = try SiteID("hq")
        let created = try branch.create(.customers, values: customerValues)
        try hub.apply([created], from: bj01)
        try branch.update(created.id, changes: ["phone": "13811112222", "notes": "分行备注"])
        try hub.update(created.id, changes: ["phone": "010-88889999"])
        let fromBranch = try branch.record(created.id)!
        let fromHub = try hub.record(created.id)!
        let atHub = try hub.apply([fromBranch], from: bj01)
        let atBranch = try branch.apply([fromHub], from: hq)
        #expect(try hub.record(created.id) == branch.record(created.id))
        #expect(try hub.record(created.id)?["notes"] == "分行备注")
        #expect(atHub.conflicts == 1)
        #expect(atBranch.conflicts == 1)
        let recorded = try hub.conflicts()
        #expect(recorded.count == 1)
        #expect(recorded.first?.field == "phone")
        #expect(Set([recorded.first!.keptValue, recorded.first!.lostValue]) == ["13811112222", "010-88889999"])
        #expect(recorded.first?.status == "open")
        // The merged state differs from both inputs, so the hub must send it on, also to bj01.
        #expect(try hub.changes(after: 0).last?.origin == "hq")
    }

    /// A site whose clock is years ahead cannot drag this node's clock along: local writes keep real times.
    @Test func aFarFutureStampDoesNotPoisonTheLocalClock() throws {
        let directory = TemporaryDirectory()
        let hub = try makeStore(directory, site: "hq", role: .hub)
        let skewed = try SiteID("bj01")
        let future = Timestamp.nowMilliseconds() + 10 * 365 * 24 * 3_600_000
        var state = RecordState(
            id: RecordID.version7(unixMilliseconds: 1, random: Array(repeating: 3, count: 10)), collection: .customers,
            owner: skewed)
        state.applyLocalWrite(
            customerValues,
            stamp: Stamp(dot: Dot(site: skewed, counter: 1), time: HLCTimestamp(wallMilliseconds: future, logical: 0)))
        try hub.apply([state], from: skewed)
        var other = customerValues
        other["code"] = "310001"
        let local = try hub.create(.customers, values: other)
        let written = try #require(local.fields["name"]?.stamp.time.wallMilliseconds)
        #expect(written < Timestamp.nowMilliseconds() + 1000)
        // The skewed site's record still replicated unchanged.
        #expect(try hub.record(state.id) == state)
    }

    @Test func aStateThatIsNotTheSameRecordIsQuarantinedAndNothingIsWritten() throws {
        let directory = TemporaryDirectory()
        let branch = try makeStore(directory, site: "bj01")
        let created = try branch.create(.customers, values: customerValues)
        var forged = created
        forged.owner = try SiteID("sh01")
        forged.applyLocalWrite(
            ["notes": "x"], stamp: Stamp(dot: Dot(site: try SiteID("sh01"), counter: 1), time: .zero))
        let result = try branch.apply([forged], from: try SiteID("sh01"))
        #expect(result.quarantined == 1 && result.applied == 0)
        #expect(try branch.record(created.id) == created)
        #expect(try branch.quarantined().first?.kind == "invalid")
    }
}

@Suite struct ConflictResolutionTests {
    func conflicted() throws -> (TemporaryDirectory, NodeStore, NodeStore, RecordID) {
        let directory = TemporaryDirectory()
        let branch = try makeStore(directory, site: "bj01")
        let hub = try makeStore(directory, site: "hq", role: .hub)
        let created = try branch.create(.customers, values: customerValues)
        try hub.apply([created], from: try SiteID("bj01"))
        try hub.update(created.id, changes: ["phone": "010-88889999"])
        try branch.update(created.id, changes: ["phone": "13811112222"])
        try hub.apply([try branch.record(created.id)!], from: try SiteID("bj01"))
        return (directory, branch, hub, created.id)
    }

    @Test(arguments: [("local", "010-88889999"), ("remote", "13811112222")])
    func takingASideWritesItAsANewDominatingVersion(side: String, expected: String) throws {
        let (_, branch, hub, id) = try conflicted()
        let conflict = try #require(try hub.conflicts().first)
        let before = try hub.record(id)!
        let resolved = try hub.resolveConflict(conflict.id, with: side == "local" ? .local : .remote)
        #expect(resolved["phone"] == expected)
        #expect(resolved.versionVector.compare(to: before.versionVector) == .after)
        #expect(try hub.conflict(id: conflict.id)?.status == "resolved")
        #expect(try hub.conflict(id: conflict.id)?.resolution?.hasSuffix(expected) == true)
        #expect(throws: StorageError.self) { try hub.resolveConflict(conflict.id, with: .local) }
        // The resolution replicates and wins at the branch too.
        try branch.apply([resolved], from: try SiteID("hq"))
        #expect(try branch.record(id)?["phone"] == expected)
    }

    /// `--take kept|lost` name the columns `conflicts list` shows, whichever side was local.
    @Test(arguments: [true, false])
    func takingTheKeptOrTheLostValue(kept: Bool) throws {
        let (_, _, hub, id) = try conflicted()
        let conflict = try #require(try hub.conflicts().first)
        let resolved = try hub.resolveConflict(conflict.id, with: kept ? .kept : .lost)
        #expect(resolved["phone"] == (kept ? conflict.keptValue : conflict.lostValue))
        #expect(try hub.record(id)?["phone"] == resolved["phone"])
    }

    /// A delete concurrent with an update: `--take kept` keeps the record, `--take lost` deletes it, and
    /// `local`/`remote` follow the side that deleted, even when the surviving field's value reads "deleted".
    @Test(arguments: ["kept", "lost", "local", "remote"])
    func aDeleteVersusUpdateConflictIsResolvedBySide(take: String) throws {
        let directory = TemporaryDirectory()
        let branch = try makeStore(directory, site: "bj01")
        let hub = try makeStore(directory, site: "hq", role: .hub)
        let created = try branch.create(.customers, values: customerValues)
        try hub.apply([created], from: try SiteID("bj01"))
        try hub.update(created.id, changes: ["notes": "deleted"])
        _ = try branch.delete(created.id)
        try hub.apply([try #require(try branch.record(created.id))], from: try SiteID("bj01"))
        let conflict = try #require(try hub.conflicts().first { $0.kind == .deleteVersusUpdate })
        #expect(conflict.keptValue == "deleted" && conflict.lostValue == "deleted", "\(conflict)")
        let resolution: NodeStore.Resolution =
            take == "kept" ? .kept : take == "lost" ? .lost : take == "local" ? .local : .remote
        let resolved = try hub.resolveConflict(conflict.id, with: resolution)
        // The hub updated (its side is kept); the branch's delete is the lost side.
        let deletes = take == "lost" || take == "remote"
        #expect(resolved.isDeleted == deletes, "\(take)")
        #expect(try hub.record(created.id)?.isDeleted == deletes)
    }

    @Test func settingANewValueIsValidated() throws {
        let (_, _, hub, id) = try conflicted()
        let conflict = try #require(try hub.conflicts().first)
        #expect(throws: ValidationError.self) { try hub.resolveConflict(conflict.id, with: .value("12345")) }
        #expect(try hub.conflict(id: conflict.id)?.status == "open")
        try hub.resolveConflict(conflict.id, with: .value("021-66667777"))
        #expect(try hub.record(id)?["phone"] == "021-66667777")
    }
}

@Suite struct DiskFullTests {
    /// SQLite reports SQLITE_FULL when the file cannot grow (here capped with max_page_count, as a full disk would).
    /// The write fails with an operator message, its batch rolls back whole, and what was committed stays.
    @Test func aFullDiskFailsTheWriteCleanlyAndKeepsWhatWasCommitted() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let kept = try store.create(.customers, values: customerValues)
        let pages = try store.db.statement("PRAGMA page_count").firstRow { $0.int(0) } ?? 0
        try store.db.execute("PRAGMA max_page_count = \(pages + 2)")
        var failure: StorageError?
        do {
            try store.batch { writer in
                for index in 0..<5000 {
                    try writer.create(
                        .customers,
                        values: [
                            "code": String(310_000 + index), "name": String(repeating: "大", count: 150),
                            "creditCode": "91310000132200821H",
                        ])
                }
            }
        } catch let error as StorageError {
            failure = error
        }
        let error = try #require(failure)
        #expect(error.isDiskFull)
        #expect(error.description.hasPrefix("the disk is full ("))
        #expect(error.description.hasSuffix("); free space in the data directory and retry"))
        #expect(try store.records(in: .customers) == [kept])
        #expect(try store.changes(after: 0).count == 1)
        // A remote batch is all or nothing too: its cursor does not move, so the sender resends it later.
        let peerStore = try makeStore(directory, site: "sh01")
        var remote: [RecordState] = []
        for index in 0..<2000 {
            remote.append(
                try peerStore.create(
                    .customers,
                    values: [
                        "code": String(440_000 + index), "name": String(repeating: "广", count: 150),
                        "creditCode": "914403001922038216",
                    ]))
        }
        #expect(throws: StorageError.self) { try store.apply(remote, from: try SiteID("sh01")) }
        #expect(try store.records(in: .customers).count == 1)
        try store.db.execute("PRAGMA max_page_count = 1073741823")
        try store.apply(remote, from: try SiteID("sh01"))
        #expect(try store.records(in: .customers).count == 2001)
    }
}

@Suite struct PurgeTests {
    /// A purge never drops a local change the hub has not applied yet: the record is kept until the hub's cursor
    /// passes the change, then removed.
    @Test func aPurgeWaitsForTheHubToHaveTheLocalChange() throws {
        let directory = TemporaryDirectory()
        let branch = try makeStore(directory, site: "bj01")
        let owner = try makeStore(directory, site: "sh01")
        let hq = try SiteID("hq")
        var values = customerValues
        values["code"] = "310001"
        let foreign = try owner.create(.customers, values: values)
        try branch.apply([foreign], from: hq)
        let untouched = try owner.create(.customers, values: customerValues)
        try branch.apply([untouched], from: hq)
        try branch.update(foreign.id, changes: ["notes": "分行备注"])
        let editSeq = try branch.lastSeq()

        #expect(try branch.purge([foreign.id, untouched.id], from: hq, peerApplied: editSeq - 1) == 1)
        #expect(try branch.record(untouched.id) == nil)
        #expect(try branch.record(foreign.id)?["notes"] == "分行备注")
        #expect(try branch.completePendingPurges(peerApplied: editSeq - 1) == 0)
        #expect(try branch.record(foreign.id) != nil)
        #expect(try branch.completePendingPurges(peerApplied: editSeq) == 1)
        #expect(try branch.record(foreign.id) == nil)
        #expect(try branch.auditTrail(AuditFilter(recordID: foreign.id)).first?.action == "purge")
        // Own records are never purged.
        let own = try branch.create(
            .customers, values: ["code": "110002", "name": "x", "creditCode": "91110000802100433B"])
        #expect(try branch.purge([own.id], from: hq, peerApplied: .max) == 0)
        #expect(try branch.record(own.id) != nil)
    }
}

/// Group commit (the hub's session loop): the writes of one turn commit together, each still atomic on its own.
@Suite struct GroupCommitTests {
    struct Interrupted: Error {}

    static func values(_ code: String) -> [String: String] {
        var values = customerValues
        values["code"] = code
        return values
    }

    @Test func theWritesOfAGroupCommitTogetherAndAFailedOneTakesOnlyItselfBack() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let reader = try NodeStore.open(directory: directory.subdirectory("bj01"), actor: tester)
        store.beginGroup()
        let first = try store.create(.customers, values: Self.values("110001"))
        store.faultInjector = { if $0 == .beforeMetaSave { throw Interrupted() } }
        #expect(throws: Interrupted.self) { try store.create(.customers, values: Self.values("110002")) }
        store.faultInjector = nil
        let third = try store.create(.customers, values: Self.values("110003"))
        #expect(try reader.records(in: .customers).isEmpty, "another connection saw writes before the commit")
        #expect(try store.commitGroup())
        #expect(try reader.records(in: .customers).map(\.id).sorted() == [first.id, third.id].sorted())
        #expect(
            try reader.changes(after: 0).map(\.state.id) == [first.id, third.id], "the failed write left a log entry")
        #expect(!store.hasActiveStatements)
    }

    @Test func aGroupWhoseCommitFailsStoresNothingAndTheNextGroupContinuesFromWhatIsStored() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let kept = try store.create(.customers, values: Self.values("110001"))
        let head = try store.lastSeq()
        store.beginGroup()
        _ = try store.create(.customers, values: Self.values("110002"))
        // Log positions are at least the wall clock in milliseconds, so the next one is head + 1 or later.
        let written = try store.lastSeq()
        #expect(store.logHeadWrittenHere > head && store.logHeadWrittenHere == written)
        store.groupAppliedIncoming = true
        store.faultInjector = { if $0 == .beforeGroupCommit { throw Interrupted() } }
        #expect(throws: Interrupted.self) { try store.commitGroup() }
        store.faultInjector = nil
        #expect(try store.records(in: .customers) == [kept])
        #expect(store.logHeadWrittenHere == head, "the connection still believes in a rolled-back log position")
        store.beginGroup()
        let next = try store.create(.customers, values: Self.values("110003"))
        #expect(try store.commitGroup())
        #expect(try store.changes(after: head).map(\.state.id) == [next.id])
        #expect(try store.record(next.id) != nil)
    }

    @Test func aGroupThatOnlyReadsLocksNothingAndCommitsNothing() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let other = try NodeStore.open(directory: directory.subdirectory("bj01"), actor: tester)
        store.beginGroup()
        _ = try store.records(in: .customers)
        // Another connection writes while the group is open: it would wait out the busy handler if the group held
        // the write lock.
        _ = try other.create(.customers, values: Self.values("110001"))
        #expect(try store.commitGroup() == false)
    }
}

/// A daemon's session connections leave checkpoints to a background thread: their commits do not copy the log into
/// the database file (and sync it) on the way of a change to its peer.
@Suite struct CheckpointTests {
    /// Writes `count` customers in transactions of 100 and returns the pages the log holds afterwards.
    static func logPages(deferring: Bool, count: Int) throws -> (logPages: Int, copiedPages: Int) {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        if deferring { try store.deferCheckpoints() }
        var written = 0
        while written < count {
            try store.batch { writer in
                for index in written..<(written + 100) {
                    var values = customerValues
                    values["code"] = String(110_000 + index)
                    values["notes"] = String(repeating: "客户备注", count: 100)
                    _ = try writer.create(.customers, values: values)
                }
            }
            written += 100
        }
        let checkpointer = try NodeStore.open(directory: directory.subdirectory("bj01"), actor: tester)
        return try checkpointer.checkpointPassively()
    }

    @Test func aDeferringConnectionLeavesTheLogToTheBackgroundCheckpoint() throws {
        let deferred = try Self.logPages(deferring: true, count: 3_000)
        let automatic = try Self.logPages(deferring: false, count: 3_000)
        // SQLite's default checkpoints inside a commit once the log passes 1,000 pages.
        #expect(deferred.logPages > 2_000, "the deferring connection checkpointed itself: \(deferred)")
        #expect(automatic.logPages < deferred.logPages / 2, "\(automatic) vs \(deferred)")
        #expect(deferred.copiedPages == deferred.logPages, "the background checkpoint did not copy everything")
    }
}
