import BranchSyncTestSupport
import Testing

@testable import BranchSyncCore

@Suite struct RecordMergeTests {
    let a = try! SiteID("bj01")
    let b = try! SiteID("sh01")
    let id = RecordID.version7(unixMilliseconds: 1, random: Array(repeating: 1, count: 10))

    func stamp(_ site: SiteID, _ counter: UInt64, _ wall: UInt64) -> Stamp {
        Stamp(dot: Dot(site: site, counter: counter), time: HLCTimestamp(wallMilliseconds: wall, logical: 0))
    }

    func base() -> RecordState {
        var state = RecordState(id: id, collection: .customers, owner: a)
        state.applyLocalWrite(["name": "华信", "phone": "13800000000"], stamp: stamp(a, 1, 100))
        return state
    }

    @Test func newRecordIsTakenWhole() throws {
        let outcome = try RecordMerge.merge(local: nil, remote: base())
        #expect(outcome.state == base())
        #expect(outcome.changesLocal && outcome.equalsRemote && outcome.remoteRelation == nil)
    }

    @Test func dominatedStatesAreSkippedAndDominatingOnesTaken() throws {
        var newer = base()
        newer.applyLocalWrite(["name": "华信科技"], stamp: stamp(b, 1, 200))
        let skip = try RecordMerge.merge(local: newer, remote: base())
        #expect(!skip.changesLocal && skip.state == newer && skip.remoteRelation == .before)
        let take = try RecordMerge.merge(local: base(), remote: newer)
        #expect(take.changesLocal && take.state == newer && take.remoteRelation == .after && take.conflicts.isEmpty)
        let same = try RecordMerge.merge(local: newer, remote: newer)
        #expect(!same.changesLocal && same.remoteRelation == .equal)
    }

    @Test func concurrentEditsOfDifferentFieldsBothSurvive() throws {
        var left = base()
        left.applyLocalWrite(["name": "华信科技"], stamp: stamp(a, 2, 200))
        var right = base()
        right.applyLocalWrite(["phone": "13911112222"], stamp: stamp(b, 1, 150))
        let outcome = try RecordMerge.merge(local: left, remote: right)
        #expect(outcome.remoteRelation == .concurrent)
        #expect(outcome.conflicts.isEmpty)
        #expect(outcome.state["name"] == "华信科技")
        #expect(outcome.state["phone"] == "13911112222")
        #expect(outcome.state.versionVector == VersionVector([a: 2, b: 1]))
        #expect(try RecordMerge.merge(local: right, remote: left).state == outcome.state)
    }

    @Test func concurrentEditsOfTheSameFieldKeepTheLaterAndReportTheOther() throws {
        var left = base()
        left.applyLocalWrite(["phone": "13911112222"], stamp: stamp(a, 2, 200))
        var right = base()
        right.applyLocalWrite(["phone": "13733334444"], stamp: stamp(b, 1, 300))
        let outcome = try RecordMerge.merge(local: left, remote: right)
        #expect(outcome.state["phone"] == "13733334444")
        #expect(
            outcome.conflicts == [
                MergeConflict(
                    recordID: id, kind: .field, field: "phone",
                    kept: FieldValue(value: "13733334444", stamp: stamp(b, 1, 300)),
                    lost: FieldValue(value: "13911112222", stamp: stamp(a, 2, 200)))
            ])
        let mirrored = try RecordMerge.merge(local: right, remote: left)
        #expect(mirrored.state == outcome.state)
        #expect(mirrored.conflicts == outcome.conflicts)
    }

    @Test func equalTimesAreBrokenBySiteID() throws {
        var left = base()
        left.applyLocalWrite(["name": "甲"], stamp: stamp(a, 2, 500))
        var right = base()
        right.applyLocalWrite(["name": "乙"], stamp: stamp(b, 2, 500))
        #expect(try RecordMerge.merge(local: left, remote: right).state["name"] == "乙")  // "sh01" > "bj01"
        #expect(try RecordMerge.merge(local: right, remote: left).state["name"] == "乙")
    }

    @Test func updateWinsOverConcurrentDeleteAndIsReported() throws {
        var deleted = base()
        deleted.applyLocalDelete(stamp: stamp(a, 2, 200))
        #expect(deleted.isDeleted)
        var updated = base()
        updated.applyLocalWrite(["phone": "13911112222"], stamp: stamp(b, 1, 150))
        for (local, remote) in [(deleted, updated), (updated, deleted)] {
            let outcome = try RecordMerge.merge(local: local, remote: remote)
            #expect(!outcome.state.isDeleted)
            #expect(outcome.state["phone"] == "13911112222")
            #expect(outcome.conflicts.map(\.kind) == [.deleteVersusUpdate])
            #expect(outcome.conflicts.first?.lost == FieldValue(value: "deleted", stamp: stamp(a, 2, 200)))
        }
    }

    @Test func deleteAfterSeeingTheUpdateWins() throws {
        var updated = base()
        updated.applyLocalWrite(["phone": "13911112222"], stamp: stamp(b, 1, 150))
        var deleted = updated
        deleted.applyLocalDelete(stamp: stamp(a, 2, 200))
        let outcome = try RecordMerge.merge(local: updated, remote: deleted)
        #expect(outcome.state.isDeleted && outcome.conflicts.isEmpty)
    }

    @Test func aWriteAfterDeleteRestoresTheRecord() {
        var state = base()
        state.applyLocalDelete(stamp: stamp(a, 2, 200))
        state.applyLocalWrite([:], stamp: stamp(a, 3, 300))
        #expect(!state.isDeleted)
    }

    @Test func mismatchedIdentityIsRefused() {
        var other = base()
        other.owner = b
        #expect(throws: ValidationError.self) { _ = try RecordMerge.merge(local: base(), remote: other) }
    }
}

@Suite struct MergeConvergenceTests {
    /// For random histories of 2–5 sites, delivering every emitted state to fresh replicas in random orders, with
    /// duplicates, leaves every replica byte-identical, and equal to the sites themselves after a full exchange.
    /// Half the rounds run with every site's clock off by up to three hours either way.
    @Test(arguments: 0..<40)
    func replicasConvergeWhateverTheDeliveryOrder(round: Int) throws {
        let seed = TestSeed.make()
        var generator = SeededGenerator(seed: seed)
        let siteCount = Int.random(in: 2...5, using: &generator)
        var simulation = try Simulation(
            siteCount: siteCount, recordCount: Int.random(in: 1...3, using: &generator), steps: 120,
            deletes: round % 2 == 0, skewedClocks: round % 4 >= 2, destroys: round % 8 < 2, generator: &generator)

        var reference: [RecordID: [UInt8]]?
        for _ in 0..<4 {
            var replica = SimulatedSite(site: try SiteID("fresh"), wall: 0)
            var deliveries = simulation.emitted + simulation.emitted.prefix(Int.random(in: 0...20, using: &generator))
            deliveries.shuffle(using: &generator)
            for state in deliveries { try replica.receive(state) }
            let bytes = replica.records.mapValues { $0.encoded() }
            if let reference {
                #expect(bytes == reference, "replicas diverged; seed \(seed)")
            } else {
                reference = bytes
            }
        }
        // Full exchange among the sites themselves.
        for _ in 0..<2 {
            for index in simulation.sites.indices {
                for other in simulation.sites.indices where other != index {
                    for state in simulation.sites[other].records.values { try simulation.sites[index].receive(state) }
                }
            }
        }
        for site in simulation.sites {
            #expect(site.records.mapValues { $0.encoded() } == reference, "site \(site.site) diverged; seed \(seed)")
        }
        // A destruction anywhere wins everywhere: the converged record is destroyed and holds no value but its class.
        for id in Set(simulation.emitted.filter(\.isDestroyed).map(\.id)) {
            let final = simulation.sites.first?.records[id]
            #expect(final?.isDestroyed == true, "a destroyed record came back; seed \(seed)")
            #expect(final?.fields.keys.allSatisfy(RecordState.isScopeField) == true, "seed \(seed)")
        }
    }

    /// A destruction dominates an update made concurrently (a branch that was offline), in either order, and the
    /// merge reports no conflict: a conflict row would keep the wiped value.
    @Test func aDestructionWinsOverAConcurrentUpdateAndKeepsNoValue() throws {
        let owner = try SiteID("bj01")
        let other = try SiteID("sh01")
        var base = RecordState(
            id: RecordID.version7(unixMilliseconds: 1, random: Array(repeating: 1, count: 10)),
            collection: .documents, owner: owner)
        base.applyLocalWrite(
            ["title": "t", "body": "secret", "class": "internal"],
            stamp: Stamp(dot: Dot(site: owner, counter: 1), time: HLCTimestamp(wallMilliseconds: 10, logical: 0)))
        var destroyed = base
        destroyed.applyLocalDestruction(
            stamp: Stamp(dot: Dot(site: owner, counter: 2), time: HLCTimestamp(wallMilliseconds: 20, logical: 0)))
        var edited = base
        edited.applyLocalWrite(
            ["body": "later secret"],
            stamp: Stamp(dot: Dot(site: other, counter: 1), time: HLCTimestamp(wallMilliseconds: 99, logical: 0)))
        let one = try RecordMerge.merge(local: destroyed, remote: edited)
        let two = try RecordMerge.merge(local: edited, remote: destroyed)
        #expect(one.state == two.state && one.state.isDestroyed)
        #expect(one.conflicts.isEmpty && two.conflicts.isEmpty)
        #expect(one.state.fields.keys.sorted() == ["class"] && one.state.deletion?.context == one.state.versionVector)
        #expect(one.state.versionVector[other] == 1)
        #expect(Admission.inconsistency(of: one.state, encoded: one.state.encoded()) == nil)
        #expect(try RecordState(decoding: one.state.encoded()) == one.state)
    }

    /// Every maximal write (no later write to the field saw it) that lost is reported as a conflict at some site,
    /// unless another concurrent write carried the very same value. Forty random histories, half with clocks hours
    /// apart; across them some losing writes must have been checked, or the test checked nothing.
    @Test func everyLosingValueOfATrueConflictIsReported() throws {
        var checked = 0
        for round in 0..<40 {
            let seed = TestSeed.make()
            var generator = SeededGenerator(seed: seed)
            var simulation = try Simulation(
                siteCount: Int.random(in: 2...5, using: &generator), recordCount: 2, steps: 100, deletes: false,
                skewedClocks: round % 2 == 1, generator: &generator)
            for _ in 0..<2 {
                for index in simulation.sites.indices {
                    for other in simulation.sites.indices.shuffled(using: &generator) where other != index {
                        for state in simulation.sites[other].records.values {
                            try simulation.sites[index].receive(state)
                        }
                    }
                }
            }
            let final = simulation.sites[0].records
            let reported = Set(simulation.sites.flatMap { $0.conflicts }.map { $0.lost.stamp })
            for write in simulation.writes {
                let sameField = simulation.writes.filter { $0.record == write.record && $0.field == write.field }
                let isMaximal = !sameField.contains { $0.stamp != write.stamp && $0.context.covers(write.stamp.dot) }
                guard isMaximal, let winner = final[write.record]?.fields[write.field], winner.stamp != write.stamp
                else { continue }
                let sharedValue = sameField.contains { $0.stamp != write.stamp && $0.value == write.value }
                guard !sharedValue else { continue }
                checked += 1
                #expect(
                    reported.contains(write.stamp),
                    "losing write \(write.stamp) of \(write.field) not reported; seed \(seed)")
            }
        }
        #expect(checked > 0, "no losing write was produced in 40 histories: the check checked nothing")
    }

    @Test(arguments: [false, true])
    func mergeIsCommutativeAssociativeAndIdempotentOnEmittedStates(skewedClocks: Bool) throws {
        let seed = TestSeed.make()
        var generator = SeededGenerator(seed: seed)
        let simulation = try Simulation(
            siteCount: 4, recordCount: 1, steps: 150, deletes: true, skewedClocks: skewedClocks,
            generator: &generator)
        let states = simulation.emitted
        func merge(_ x: RecordState, _ y: RecordState) throws -> RecordState {
            try RecordMerge.merge(local: x, remote: y).state
        }
        for _ in 0..<500 {
            let x = states.randomElement(using: &generator)!
            let y = states.randomElement(using: &generator)!
            let z = states.randomElement(using: &generator)!
            #expect(try merge(x, y) == merge(y, x), "commutativity; seed \(seed)")
            #expect(try merge(merge(x, y), z) == merge(x, merge(y, z)), "associativity; seed \(seed)")
            #expect(try merge(x, x) == x, "idempotence; seed \(seed)")
        }
    }
}
