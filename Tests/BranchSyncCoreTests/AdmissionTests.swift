import BranchSyncTestSupport
import Testing

@testable import BranchSyncCore

/// The hub's admission rules (DESIGN.md §10, Protocol.md §9.2), one test per way a state was shown to slip through.
@Suite struct AdmissionTests {
    let hq = try! SiteID("hq")
    let bj = try! SiteID("bj01")
    let sh = try! SiteID("sh01")
    static let now: UInt64 = 1_764_000_000_000
    let id = RecordID.version7(unixMilliseconds: 1_764_000_000_000, random: Array(repeating: 5, count: 10))

    func stamp(_ site: SiteID, _ counter: UInt64, at wall: UInt64 = AdmissionTests.now - 10_000) -> Stamp {
        Stamp(dot: Dot(site: site, counter: counter), time: HLCTimestamp(wallMilliseconds: wall, logical: 0))
    }

    /// bj01's customer as the hub and sh01 hold it.
    func held(class recordClass: Classification = .internal) -> RecordState {
        var state = RecordState(id: id, collection: .customers, owner: bj)
        state.applyLocalWrite(
            ["code": "110001", "name": "华信", "creditCode": "914403001922038216", "class": recordClass.rawValue],
            stamp: stamp(bj, 100))
        return state
    }

    func context(_ sender: SiteID, clearance: Classification = .internal, restore: RestoreKnowledge = .none)
        -> AdmissionContext
    {
        AdmissionContext(
            sender: sender, hub: hq, clearance: clearance, wallMilliseconds: Self.now, restore: restore)
    }

    func verdict(
        _ remote: RecordState, local: RecordState?, from sender: SiteID, clearance: Classification = .internal,
        restore: RestoreKnowledge = .none, lookup: [RecordID: RecordCollection] = [:]
    ) -> AdmissionVerdict {
        Admission.admit(
            remote, encoded: remote.encoded(), local: local,
            context: context(sender, clearance: clearance, restore: restore), lookup: { lookup[$0] })
    }

    func isInvalid(_ verdict: AdmissionVerdict, containing text: String) -> Bool {
        if case .invalid(let reason) = verdict { return reason.contains(text) }
        return false
    }

    func isRefused(_ verdict: AdmissionVerdict, containing text: String) -> Bool {
        if case .refuse(let reason) = verdict { return reason.contains(text) }
        return false
    }

    // MARK: Case 1: forged causal history

    @Test func aBranchCannotClaimWritesOfOtherSitesTheHubDoesNotHold() {
        var forged = held()
        forged.versionVector = VersionVector([bj: 1_000_000_000_000, hq: 1_000_000_000_000])
        forged.fields["name"] = FieldValue(value: "伪造", stamp: stamp(hq, 1_000_000_000_000))
        let result = verdict(forged, local: held(), from: sh)
        #expect(isInvalid(result, containing: "claiming writes of bj01 up to 1000000000000, but the hub holds 100"))
    }

    @Test func aFieldAttributedToAnotherSitesKnownWriteWithOtherContentIsInvalid() {
        var forged = held()
        forged.fields["name"] = FieldValue(value: "伪造", stamp: stamp(bj, 100, at: AdmissionTests.now - 5_000))
        #expect(
            isInvalid(verdict(forged, local: held(), from: sh), containing: "a write the hub holds with other content"))
    }

    @Test func inconsistentStatesAreInvalid() {
        // A field stamp the state's own vector does not cover.
        var uncovered = held()
        uncovered.fields["phone"] = FieldValue(value: "13800000000", stamp: stamp(sh, 900))
        #expect(
            isInvalid(verdict(uncovered, local: held(), from: sh), containing: "is not covered by the version vector"))
        // A stamp with counter 0.
        var zero = held()
        zero.fields["phone"] = FieldValue(value: "13800000000", stamp: stamp(sh, 0))
        #expect(isInvalid(verdict(zero, local: held(), from: sh), containing: "counter 0"))
        // A vector without the writer's entry: the delete that follows must still delete (LocalWriteRulesTests), and
        // the hub never takes the state in.
        var writerless = held()
        writerless.applyLocalWrite(["phone": "13800000000"], stamp: stamp(sh, 7))
        writerless.versionVector = VersionVector([bj: 100])
        #expect(isInvalid(verdict(writerless, local: held(), from: sh), containing: "not covered"))
        // No write of the owner at all.
        var ownerless = RecordState(id: id, collection: .customers, owner: bj)
        ownerless.applyLocalWrite(["name": "x"], stamp: stamp(sh, 3))
        #expect(isInvalid(verdict(ownerless, local: nil, from: sh), containing: "no write of its owner"))
        // Not a version 7 id (the nil UUID).
        var nilID = held()
        nilID.id = try! RecordID(bytes: Array(repeating: 0, count: 16))
        #expect(isInvalid(verdict(nilID, local: nil, from: bj), containing: "not a version 7 UUID"))
        // Bytes that are not the state's canonical encoding.
        let state = held()
        var bytes = state.encoded()
        bytes.append(0)
        #expect(
            isInvalid(
                Admission.admit(state, encoded: bytes, local: nil, context: context(bj), lookup: { _ in nil }),
                containing: "does not re-encode"))
    }

    // MARK: Case 8: remote states get the checks local writes get

    @Test func remoteStatesGetTheSameChecksAsLocalWrites() {
        var unknownEmpty = held()
        unknownEmpty.applyLocalWrite(["favouriteColour": ""], stamp: stamp(bj, 101))
        #expect(isInvalid(verdict(unknownEmpty, local: held(), from: bj), containing: "field 'favouriteColour'"))

        // A 10 MB field name, or "A" and 5 million combining marks (one character): refused by size, and the reason
        // does not copy them.
        var hugeName = held()
        hugeName.applyLocalWrite([String(repeating: "n", count: 10_000_000): "x"], stamp: stamp(bj, 101))
        let hugeVerdict = verdict(hugeName, local: held(), from: bj)
        #expect(isInvalid(hugeVerdict, containing: "bytes encoded; at most 1048576"))
        if case .invalid(let reason) = hugeVerdict { #expect(reason.utf8.count < 300) }
        var longName = held()
        longName.applyLocalWrite([String(repeating: "n", count: 100_000): "x"], stamp: stamp(bj, 101))
        let longVerdict = verdict(longName, local: held(), from: bj)
        #expect(isInvalid(longVerdict, containing: "that customers do not have"))
        if case .invalid(let reason) = longVerdict { #expect(reason.utf8.count < 300) }

        var combining = held()
        combining.applyLocalWrite(
            ["notes": "A" + String(repeating: "\u{301}", count: 5_000_000)], stamp: stamp(bj, 101))
        #expect(isInvalid(verdict(combining, local: held(), from: bj), containing: "bytes encoded"))
        var marks = held()
        marks.applyLocalWrite(["notes": "A" + String(repeating: "\u{301}", count: 5_000)], stamp: stamp(bj, 101))
        #expect(isInvalid(verdict(marks, local: held(), from: bj), containing: "notes is 10001 bytes; at most 8000"))

        for (count, reason) in [(100_000, "bytes encoded"), (1_000, "that customers do not have")] {
            var manyFields = held()
            var changes: [String: String] = [:]
            for index in 0..<count { changes["f\(index)"] = "" }
            manyFields.applyLocalWrite(changes, stamp: stamp(bj, 101))
            #expect(isInvalid(verdict(manyFields, local: held(), from: bj), containing: reason))
        }

        var badPhone = held()
        badPhone.applyLocalWrite(["phone": "12345"], stamp: stamp(bj, 101))
        #expect(isRefused(verdict(badPhone, local: held(), from: bj), containing: "is neither a mobile number"))
    }

    @Test func documentReferencesMustNameACustomer() {
        let other = RecordID.version7(unixMilliseconds: 7, random: Array(repeating: 3, count: 10))
        var document = RecordState(
            id: RecordID.version7(unixMilliseconds: 9, random: Array(repeating: 4, count: 10)), collection: .documents,
            owner: bj)
        document.applyLocalWrite(
            ["title": "合同", "kind": "market", "type": "contract", "customerId": other.description],
            stamp: stamp(bj, 7))
        #expect(
            isRefused(
                verdict(document, local: nil, from: bj, lookup: [other: .documents]), containing: "that is a document"))
        if case .hold(_, let awaiting) = verdict(document, local: nil, from: bj) {
            #expect(awaiting == other)
        } else {
            Issue.record("a reference to an unknown record must wait for it")
        }
        if case .admit = verdict(document, local: nil, from: bj, lookup: [other: .customers]) {
        } else {
            Issue.record("a reference to a customer must be admitted")
        }
    }

    // MARK: Future stamps

    @Test func ownWritesStampedFarAheadAreAdmittedButReStampedByTheHub() throws {
        for ahead in [2 * 3_600_000, 30 * 365 * 86_400_000] as [UInt64] {
            var edited = held()
            edited.applyLocalWrite(["phone": "13800000000"], stamp: stamp(sh, 200, at: Self.now + ahead))
            guard case .admit(let admitted) = verdict(edited, local: held(), from: sh) else {
                Issue.record("an honest edit with a fast clock must be admitted")
                continue
            }
            #expect(admitted.restamp == ["phone"])
            var hubClock = WriteClock(site: hq, counter: 40, clock: HybridLogicalClock())
            let hubStamp = try hubClock.stamp(for: admitted.state, wallMilliseconds: Self.now)
            let written = Compensation.write(
                content: admitted.state, dominating: edited, restamp: admitted.restamp, stamp: hubStamp)
            #expect(written["phone"] == "13800000000")
            #expect(written.fields["phone"]?.stamp == hubStamp)
            #expect(written.versionVector.compare(to: edited.versionVector) == .after)
            #expect(Admission.inconsistency(of: written, encoded: written.encoded()) == nil)
            // The branch converges to it, and the far-future stamp is gone for good.
            #expect(try RecordMerge.merge(local: edited, remote: written).state == written)
        }
        // Within the tolerance the state is taken as it is.
        var slightlyAhead = held()
        slightlyAhead.applyLocalWrite(["phone": "13800000000"], stamp: stamp(sh, 200, at: Self.now + 30_000))
        if case .admit(let admitted) = verdict(slightlyAhead, local: held(), from: sh) {
            #expect(!admitted.needsRestamp && admitted.state == slightlyAhead)
        } else {
            Issue.record("a write 30 s ahead is within the tolerance")
        }
    }

    // MARK: Case 4 and 6: authority

    @Test func onlyTheOwnerChangesTheClassOrDeletes() {
        var reclassified = held(class: .confidential)
        reclassified.applyLocalWrite(["class": "public"], stamp: stamp(sh, 200))
        #expect(
            isRefused(
                verdict(reclassified, local: held(class: .confidential), from: sh, clearance: .confidential),
                containing: "only the owner bj01 or the hub changes the class"))
        var deleted = held()
        deleted.applyLocalDelete(stamp: stamp(sh, 200))
        #expect(
            isRefused(verdict(deleted, local: held(), from: sh), containing: "only the owner bj01 or the hub deletes"))
        var ownerDeleted = held()
        ownerDeleted.applyLocalDelete(stamp: stamp(bj, 200))
        if case .admit = verdict(ownerDeleted, local: held(), from: bj) {} else { Issue.record("the owner deletes") }
        var secretAttempt = held()
        secretAttempt.applyLocalWrite(["class": "secret"], stamp: stamp(sh, 200))
        #expect(isRefused(verdict(secretAttempt, local: held(), from: sh), containing: "changes the class"))
        // A new record in someone else's name claims its owner's first write, which the hub does not hold: forged.
        #expect(isInvalid(verdict(held(), local: nil, from: sh), containing: "claiming writes of bj01 up to 100"))
        // Outside the sender's clearance.
        var peek = held(class: .confidential)
        peek.applyLocalWrite(["notes": "看看"], stamp: stamp(sh, 200))
        #expect(isRefused(verdict(peek, local: held(class: .confidential), from: sh), containing: "may not change"))
    }

    /// Decisions (a cleared suspicious-customer lead) are the hub's: a branch that makes one, or changes the hub's,
    /// is refused, so a buggy or hostile branch cannot clear a lead for the whole group.
    @Test func aBranchNeitherMakesNorChangesADecision() {
        let values = [
            "lead": "phone", "value": "13900000001", "firstCustomer": id.description, "secondCustomer": id.description,
            "verdict": "cleared", "reason": "ok", "decidedBy": "wang",
        ]
        var made = RecordState(id: id, collection: .decisions, owner: bj)
        made.applyLocalWrite(values, stamp: stamp(bj, 1))
        #expect(isRefused(verdict(made, local: nil, from: bj), containing: "decisions are made at the hub"))
        var hubs = RecordState(id: id, collection: .decisions, owner: hq)
        hubs.applyLocalWrite(values, stamp: stamp(hq, 1))
        var changed = hubs
        changed.applyLocalWrite(["reason": "不是"], stamp: stamp(bj, 5))
        #expect(isRefused(verdict(changed, local: hubs, from: bj), containing: "decisions are made at the hub"))
        if case .unchanged = verdict(hubs, local: hubs, from: bj) {} else { Issue.record("an echo is no change") }
    }

    /// A destruction dominates every write, so no compensating write could undo one: a non-owner's destruction is
    /// invalid (quarantined, never merged), also when hidden behind a tombstone stamp of the owner the hub holds.
    /// The owner's is admitted, and a later update from an offline branch is absorbed by the destroyed record.
    @Test func onlyTheOwnerOrTheHubDestroysAndADestroyedRecordAbsorbsLaterUpdates() {
        var forged = held()
        forged.applyLocalDestruction(stamp: stamp(sh, 50))
        #expect(isInvalid(verdict(forged, local: held(), from: sh), containing: "sh01 destroyed it"))
        var ownerDeleted = held()
        ownerDeleted.applyLocalDelete(stamp: stamp(bj, 200))
        var flipped = ownerDeleted
        flipped.deletion?.isDestruction = true
        flipped = flipped.normalizedDestruction()
        #expect(isInvalid(verdict(flipped, local: ownerDeleted, from: sh), containing: "destroyed it"))

        var destroyed = held()
        destroyed.applyLocalDestruction(stamp: stamp(bj, 200))
        guard case .admit(let admitted) = verdict(destroyed, local: held(), from: bj) else {
            Issue.record("the owner's destruction is admitted")
            return
        }
        #expect(admitted.state == destroyed)
        var offlineEdit = held()
        offlineEdit.applyLocalWrite(["notes": "离线修改"], stamp: stamp(sh, 60))
        guard case .admit(let absorbed) = verdict(offlineEdit, local: destroyed, from: sh) else {
            Issue.record("an update reaching a destroyed record is absorbed, not refused")
            return
        }
        #expect(absorbed.state.isDestroyed && absorbed.state["notes"] == nil)
        #expect(absorbed.state.versionVector[sh] == 60)
    }

    /// Sharing beyond a record's class is the hub's decision: a branch that writes the share list (to give itself or
    /// another site a confidential record) is refused, on a new record as on one the hub holds. The hub's share
    /// lets the named site hold and change the record.
    @Test func onlyTheHubSharesAndASharedSiteMayChangeTheRecord() {
        var selfShared = held(class: .confidential)
        selfShared.applyLocalWrite([RecordState.sharedWithField: "sh01"], stamp: stamp(bj, 150))
        #expect(
            isRefused(
                verdict(selfShared, local: held(class: .confidential), from: bj), containing: "only the hub shares"))
        var shared = held(class: .confidential)
        shared.applyLocalWrite([RecordState.sharedWithField: "sh01"], stamp: stamp(hq, 160))
        #expect(Scope.mayHold(shared, site: sh, clearance: .internal))
        #expect(!Scope.mayHold(held(class: .confidential), site: sh, clearance: .internal))
        var edited = shared
        edited.applyLocalWrite(["notes": "拜访"], stamp: stamp(sh, 10))
        if case .admit = verdict(edited, local: shared, from: sh) {
        } else {
            Issue.record("a shared site may change it")
        }
        var notShared = held(class: .confidential)
        notShared.applyLocalWrite(["notes": "拜访"], stamp: stamp(sh, 10))
        #expect(isRefused(verdict(notShared, local: held(class: .confidential), from: sh), containing: "scope"))
        var secretShared = held(class: .secret)
        secretShared.applyLocalWrite([RecordState.sharedWithField: "sh01"], stamp: stamp(hq, 160))
        #expect(!Scope.mayHold(secretShared, site: sh, clearance: .confidential), "no share reaches a secret record")
    }

    /// Handing a retired site's records on is the hub's: a branch that names itself custodian (to gain the owner's
    /// rights) is refused. After the hub's handover the custodian deletes as the owner would, and the old owner not.
    @Test func onlyTheHubHandsARecordToACustodianWhoThenActsAsItsOwner() {
        var seized = held(class: .confidential)
        seized.applyLocalWrite([RecordState.custodianField: "sh01"], stamp: stamp(sh, 10))
        #expect(
            isRefused(
                verdict(seized, local: held(class: .confidential), from: sh, clearance: .confidential),
                containing: "only the hub hands"))
        var handed = held(class: .confidential)
        handed.applyLocalWrite([RecordState.custodianField: "sh01"], stamp: stamp(hq, 170))
        #expect(handed.custodian == sh && Scope.mayHold(handed, site: sh, clearance: .internal))
        var deleted = handed
        deleted.applyLocalDelete(stamp: stamp(sh, 20))
        if case .admit = verdict(deleted, local: handed, from: sh) {} else { Issue.record("the custodian deletes") }
        var byOldOwner = handed
        byOldOwner.applyLocalDelete(stamp: stamp(bj, 300))
        #expect(
            isRefused(
                verdict(byOldOwner, local: handed, from: bj, clearance: .confidential),
                containing: "only the owner sh01"))
    }

    /// Found in review: a destruction the hub refused for another reason (outside the sender's scope, an unauthorised
    /// class change riding along) was answered with a compensating write that merged the refused tombstone, and so
    /// destroyed the record at the hub and everywhere. Every state that would newly destroy a record and fails any
    /// rule is invalid; decisions and register entries are never destroyed; while the hub recovers it waits.
    @Test func aRefusedDestructionIsInvalidAndNeverCompensated() {
        var outOfScope = held(class: .secret)
        outOfScope.applyLocalDestruction(stamp: stamp(sh, 50))
        #expect(isInvalid(verdict(outOfScope, local: held(class: .secret), from: sh), containing: "destroy"))
        var withClass = held()
        withClass.applyLocalWrite(["class": "public"], stamp: stamp(sh, 40))
        withClass.applyLocalDestruction(stamp: stamp(sh, 50))
        #expect(isInvalid(verdict(withClass, local: held(), from: sh), containing: "destroy"))
        var ownerReclassified = held()
        ownerReclassified.applyLocalDestruction(stamp: stamp(bj, 150))
        if case .admit = verdict(ownerReclassified, local: held(), from: bj) {
        } else {
            Issue.record("the owner's destruction is admitted")
        }
        var decision = RecordState(id: id, collection: .decisions, owner: hq)
        decision.applyLocalWrite(
            [
                "lead": "phone", "value": "13900000001", "firstCustomer": id.description,
                "secondCustomer": id.description, "verdict": "cleared", "reason": "ok", "decidedBy": "wang",
            ], stamp: stamp(hq, 1))
        var destroyedDecision = decision
        destroyedDecision.applyLocalDestruction(stamp: stamp(bj, 5))
        #expect(
            isInvalid(verdict(destroyedDecision, local: decision, from: bj), containing: "only customers and documents")
        )
        var relayed = held()
        relayed.applyLocalDestruction(stamp: stamp(bj, 150))
        guard case .hold = verdict(relayed, local: held(), from: sh, restore: .recovering) else {
            Issue.record("a destruction waits while the hub recovers")
            return
        }
    }

    /// Found in review: a destroyed record kept only its class, so a record handed to a successor or shared with a
    /// site fell back to its original owner's scope when destroyed, and those sites got a purge they ignored instead
    /// of the destruction. The custodian and the share list stay with the tombstone.
    @Test func aDestroyedRecordKeepsWhoMayHoldIt() {
        var handed = held(class: .confidential)
        handed.applyLocalWrite(
            [RecordState.custodianField: "sh01", RecordState.sharedWithField: "gz01"], stamp: stamp(hq, 170))
        var destroyed = handed
        destroyed.applyLocalDestruction(stamp: stamp(hq, 180))
        #expect(destroyed.custodian == sh && destroyed.sharedWith == ["gz01"] && destroyed["name"] == nil)
        #expect(Scope.mayHold(destroyed, site: sh, clearance: .internal))
        #expect(Scope.mayHold(destroyed, site: try! SiteID("gz01"), clearance: .internal))
        #expect(Admission.inconsistency(of: destroyed, encoded: destroyed.encoded()) == nil)
        var bySuccessor = handed
        bySuccessor.applyLocalDestruction(stamp: stamp(sh, 20))
        if case .admit = verdict(bySuccessor, local: handed, from: sh) {
        } else {
            Issue.record("the custodian destroys")
        }
    }

    /// The destruction register is append-only: an entry is neither changed nor deleted once written.
    @Test func aDestructionRegisterEntryIsNeverChangedOrDeleted() {
        var entry = RecordState(id: id, collection: .destructions, owner: bj)
        entry.applyLocalWrite(
            [
                "recordId": id.description, "recordCollection": "documents", "recordOwner": "bj01", "title": "t",
                "contentSha256": String(repeating: "a", count: 64), "destroyedBy": "zhao", "approvedBy": "li",
                "early": "no", "destroyedAt": "2026-11-24T10:00:00.000Z", "reason": "retention ended",
            ], stamp: stamp(bj, 1))
        if case .admit = verdict(entry, local: nil, from: bj) {} else { Issue.record("a new entry is admitted") }
        var changed = entry
        changed.applyLocalWrite(["reason": "改"], stamp: stamp(bj, 5))
        #expect(isRefused(verdict(changed, local: entry, from: bj), containing: "append-only"))
        var deleted = entry
        deleted.applyLocalDelete(stamp: stamp(bj, 6))
        #expect(isRefused(verdict(deleted, local: entry, from: bj), containing: "append-only"))
    }

    /// Found by the hub model (seed 17570682898757064353): a non-owner deletes its copy of a record the owner had
    /// deleted (a third site's later delete was taken in, then the hub brought the record back). The sender's merged
    /// tombstone shows the owner's stamp, the latest one it knows, so judging by the shown stamp let the delete through;
    /// the sender's own dot in the tombstone's context gives it away.
    @Test func aNonOwnersDeleteHiddenBehindTheOwnersTombstoneStampIsRefused() {
        let gz = try! SiteID("gz01")
        var ownerDeleted = held()
        ownerDeleted.applyLocalDelete(stamp: stamp(bj, 200, at: Self.now - 5_000))
        var atHub = ownerDeleted
        atHub.applyLocalDelete(stamp: stamp(gz, 7, at: Self.now - 3_000))  // taken in: it changed nothing
        atHub.applyLocalWrite(["notes": "恢复"], stamp: stamp(hq, 300, at: Self.now - 2_000))
        #expect(!atHub.isDeleted)
        var attempt = ownerDeleted
        attempt.applyLocalDelete(stamp: stamp(sh, 50, at: Self.now - 8_000))
        #expect(attempt.deletion?.stamp.dot.site == bj, "the merged tombstone shows the owner's stamp")
        #expect(isRefused(verdict(attempt, local: atHub, from: sh), containing: "sh01 deleted it"))
    }

    /// An audit block is append-only and well formed; its stamps are never re-stamped, however far ahead (a re-stamp
    /// would be a hub write the site audits and ships again, without end: found by the chaos test).
    @Test func anAuditBlockIsWrittenOnceWellFormedAndNeverReStamped() {
        let hash = String(repeating: "a", count: 64)
        func block(_ entries: String, first: String = "1", last: String = "1", at wall: UInt64 = AdmissionTests.now)
            -> RecordState
        {
            var state = RecordState(id: id, collection: .auditBlocks, owner: bj)
            state.applyLocalWrite(
                ["firstEntry": first, "lastEntry": last, "entries": entries, "class": "secret"],
                stamp: stamp(bj, 1, at: wall))
            return state
        }
        let line = AuditLine(
            seq: 1, at: "2026-11-24T10:00:00.000Z", actor: "王", origin: "cli@bj", action: "create",
            collection: "customers", recordID: "", detail: "fields:\tcode\nname", previousHash: hash, hash: hash)
        #expect((try? AuditLine.decodeBlock(line.encoded)) == [line])
        let hoursAhead = block(line.encoded, at: Self.now + 3 * 3_600_000)
        guard case .admit(let admitted) = verdict(hoursAhead, local: nil, from: bj) else {
            Issue.record("a well-formed block is admitted")
            return
        }
        #expect(admitted.restamp.isEmpty)
        var changed = hoursAhead
        changed.applyLocalWrite(["entries": line.encoded + "x"], stamp: stamp(bj, 2))
        #expect(isRefused(verdict(changed, local: hoursAhead, from: bj), containing: "append-only"))
        var deleted = hoursAhead
        deleted.applyLocalDelete(stamp: stamp(bj, 2))
        #expect(isRefused(verdict(deleted, local: hoursAhead, from: bj), containing: "append-only"))
        #expect(isRefused(verdict(block("1\tnot an entry"), local: nil, from: bj), containing: "not an audit entry"))
        #expect(isRefused(verdict(block(line.encoded, last: "2"), local: nil, from: bj), containing: "holds 1"))
        var notSecret = block(line.encoded)
        notSecret.applyLocalWrite(["class": "public"], stamp: stamp(bj, 2))
        #expect(isRefused(verdict(notSecret, local: nil, from: bj), containing: "class 'public' is not one of: secret"))
    }

    /// Found by the hub model: the owner deletes with its clock hours ahead, a later write brings the record back, and
    /// another site deletes it again. The tombstone keeps the later-timed stamp, the owner's, so judging the delete by
    /// its stamp let a non-owner's delete through.
    @Test func aNonOwnersDeleteOfARecordBroughtBackIsRefusedWhateverItsTombstoneStamp() {
        var revived = held()
        revived.applyLocalDelete(stamp: stamp(bj, 150, at: Self.now + 3_600_000))
        revived.applyLocalWrite(["notes": "恢复"], stamp: stamp(hq, 160))
        #expect(!revived.isDeleted)
        var deleted = revived
        deleted.applyLocalDelete(stamp: stamp(sh, 200))
        #expect(deleted.deletion?.stamp.dot.site == bj, "the tombstone shows the later-timed delete")
        #expect(
            isRefused(verdict(deleted, local: revived, from: sh), containing: "only the owner bj01 or the hub deletes"))
        var byOwner = revived
        byOwner.applyLocalDelete(stamp: stamp(bj, 200))
        if case .admit = verdict(byOwner, local: revived, from: bj) {} else { Issue.record("the owner deletes again") }
    }

    @Test func aRefusalIsAnsweredWithAWriteTheSenderConvergesTo() throws {
        let local = held()
        var refused = local
        refused.applyLocalWrite(["class": "secret", "notes": "改"], stamp: stamp(sh, 200))
        var hubClock = WriteClock(site: hq, counter: 40, clock: HybridLogicalClock())
        let hubStamp = try hubClock.stamp(for: local, wallMilliseconds: Self.now)
        let compensation = Compensation.refusal(of: refused, local: local, sender: sh, stamp: hubStamp)
        #expect(compensation.classification == .internal)
        #expect(compensation["notes"] == nil)
        #expect(compensation.versionVector.compare(to: refused.versionVector) == .after)
        // The sender converges even after editing the record again before the compensation arrives.
        var further = refused
        further.applyLocalWrite(["contact": "王"], stamp: stamp(sh, 201))
        let merged = try RecordMerge.merge(local: further, remote: compensation).state
        #expect(merged.classification == .internal && merged["notes"] == nil && merged["contact"] == "王")
        // A refused delete leaves the record alive wherever it meets the compensation.
        var deleted = local
        deleted.applyLocalDelete(stamp: stamp(sh, 300))
        let undelete = Compensation.refusal(of: deleted, local: local, sender: sh, stamp: hubStamp)
        #expect(!undelete.isDeleted)
        #expect(try !RecordMerge.merge(local: deleted, remote: undelete).state.isDeleted)
        // The compensation restores a value, it does not write a new one: an edit the owner made concurrently (and
        // later) still wins over it at the hub.
        var ownerEdit = local
        ownerEdit.applyLocalWrite(["notes": "业主更新"], stamp: stamp(bj, 150, at: Self.now - 1_000))
        #expect(try RecordMerge.merge(local: compensation, remote: ownerEdit).state["notes"] == "业主更新")
        #expect(try RecordMerge.merge(local: ownerEdit, remote: compensation).state["notes"] == "业主更新")
        // A refused new record becomes a tombstone there.
        let tombstone = Compensation.refusal(of: local, local: nil, sender: sh, stamp: hubStamp)
        #expect(tombstone.isDeleted && tombstone["name"] == nil && tombstone.classification == .internal)
        #expect(try RecordMerge.merge(local: local, remote: tombstone).state.isDeleted)
    }

    @Test func reusingADotTheHubHoldsIsRefused() {
        var hubHas = held()
        hubHas.applyLocalWrite(["phone": "13800000000"], stamp: stamp(sh, 200))
        var reused = held()
        reused.applyLocalWrite(["notes": "恢复后写的"], stamp: stamp(sh, 200))
        #expect(isRefused(verdict(reused, local: hubHas, from: sh), containing: "restored from an older copy"))
    }

    // MARK: A restored hub

    /// A claim the hub cannot check is forged unless the hub knows (by proof) that it was restored; then it is taken
    /// in while every branch resends.
    @Test func aClaimTheHubCannotCheckIsForgedOrTakenInByWhatItKnowsOfItsRestore() {
        var relayed = held()
        relayed.applyLocalWrite(["notes": "bj01 later"], stamp: stamp(bj, 150))
        relayed.applyLocalWrite(["contact": "hq wrote"], stamp: stamp(hq, 400))
        relayed.applyLocalWrite(["phone": "13800000000"], stamp: stamp(sh, 10))
        #expect(isInvalid(verdict(relayed, local: held(), from: sh), containing: "claiming writes of bj01 up to 150"))
        if case .admit(let admitted) = verdict(relayed, local: held(), from: sh, restore: .recovering) {
            #expect(admitted.state == relayed)
        } else {
            Issue.record("a recovering hub takes in what branches resend")
        }
        // A claim taken in while recovering that is stamped years ahead (a forged hub write, say) is re-stamped by
        // the hub, so it cannot pin anyone's clock there.
        var ahead = held()
        ahead.applyLocalWrite(["notes": "来自未来"], stamp: stamp(hq, 400, at: Self.now + 10 * 365 * 86_400_000))
        if case .admit(let admitted) = verdict(ahead, local: held(), from: sh, restore: .recovering) {
            #expect(admitted.restamp == ["notes"])
            #expect(admitted.state.fields["notes"]!.stamp.time.wallMilliseconds <= Self.now)
        } else {
            Issue.record("a recovering hub takes the claim in, re-stamped")
        }
        // Content that contradicts a write the hub does hold is forged whatever the hub knows.
        var contradicting = held()
        contradicting.fields["name"] = FieldValue(value: "改", stamp: stamp(bj, 100, at: Self.now - 1))
        #expect(
            isInvalid(
                verdict(contradicting, local: held(), from: sh, restore: .recovering),
                containing: "a write the hub holds with other content"))
    }
}
