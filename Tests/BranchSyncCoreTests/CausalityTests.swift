import BranchSyncTestSupport
import Testing

@testable import BranchSyncCore

@Suite struct VersionVectorTests {
    static let sites = try! ["a", "b", "c", "d"].map { try SiteID($0) }

    static func randomVector(_ generator: inout SeededGenerator) -> VersionVector {
        var counters: [SiteID: UInt64] = [:]
        for site in sites where Bool.random(using: &generator) {
            counters[site] = UInt64.random(in: 0...3, using: &generator)
        }
        return VersionVector(counters)
    }

    @Test func compareDetectsAllFourRelations() {
        let a = Self.sites[0]
        let b = Self.sites[1]
        let x = VersionVector([a: 1, b: 2])
        #expect(x.compare(to: VersionVector([a: 1, b: 2])) == .equal)
        #expect(x.compare(to: VersionVector([a: 2, b: 2])) == .before)
        #expect(x.compare(to: VersionVector([b: 2])) == .after)
        #expect(x.compare(to: VersionVector([a: 2, b: 1])) == .concurrent)
        #expect(VersionVector([a: 0]).isEmpty)
    }

    @Test func partialOrderAndJoinLaws() {
        let seed = TestSeed.make()
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<2000 {
            let x = Self.randomVector(&generator)
            let y = Self.randomVector(&generator)
            let z = Self.randomVector(&generator)
            // Reflexive, antisymmetric, transitive.
            #expect(x.compare(to: x) == .equal, "seed \(seed)")
            if x.dominatesOrEquals(y) && y.dominatesOrEquals(x) { #expect(x == y, "seed \(seed)") }
            if x.dominatesOrEquals(y) && y.dominatesOrEquals(z) { #expect(x.dominatesOrEquals(z), "seed \(seed)") }
            // compare is the mirror image from the other side.
            let mirrored: [CausalOrder: CausalOrder] = [
                .equal: .equal, .before: .after, .after: .before, .concurrent: .concurrent,
            ]
            #expect(mirrored[x.compare(to: y)] == y.compare(to: x), "seed \(seed)")
            // The merge is the least upper bound: commutative, associative, idempotent, dominates both.
            #expect(x.merged(with: y) == y.merged(with: x), "seed \(seed)")
            #expect(x.merged(with: y).merged(with: z) == x.merged(with: y.merged(with: z)), "seed \(seed)")
            #expect(x.merged(with: x) == x, "seed \(seed)")
            let join = x.merged(with: y)
            #expect(join.dominatesOrEquals(x) && join.dominatesOrEquals(y), "seed \(seed)")
            if z.dominatesOrEquals(x) && z.dominatesOrEquals(y) { #expect(z.dominatesOrEquals(join), "seed \(seed)") }
        }
    }
}

@Suite struct HybridLogicalClockTests {
    @Test func followsTheWallClockWhenItMovesForward() {
        var clock = HybridLogicalClock()
        #expect(clock.now(wallMilliseconds: 1000) == HLCTimestamp(wallMilliseconds: 1000, logical: 0))
        #expect(clock.now(wallMilliseconds: 1000) == HLCTimestamp(wallMilliseconds: 1000, logical: 1))
        #expect(clock.now(wallMilliseconds: 1005) == HLCTimestamp(wallMilliseconds: 1005, logical: 0))
    }

    @Test func survivesTheWallClockSteppingBack() {
        var clock = HybridLogicalClock()
        let before = clock.now(wallMilliseconds: 5000)
        let afterStep = clock.now(wallMilliseconds: 1000)
        #expect(afterStep > before)
        #expect(afterStep == HLCTimestamp(wallMilliseconds: 5000, logical: 1))
    }

    @Test func ordersAfterObservedRemoteTimes() {
        var clock = HybridLogicalClock(last: HLCTimestamp(wallMilliseconds: 100, logical: 0))
        let remote = HLCTimestamp(wallMilliseconds: 9000, logical: 4)
        clock.observe(remote, wallMilliseconds: 200)
        #expect(clock.now(wallMilliseconds: 200) > remote)
    }

    @Test func aReadingFarInTheFutureIsNotObserved() {
        var clock = HybridLogicalClock(last: HLCTimestamp(wallMilliseconds: 1_000, logical: 0))
        let wall: UInt64 = 1_000_000
        let tooFar = clock.observe(
            HLCTimestamp(wallMilliseconds: wall + HybridLogicalClock.maximumDrift + 1, logical: 0),
            wallMilliseconds: wall)
        #expect(!tooFar)
        let afterTooFar = clock.now(wallMilliseconds: wall)
        #expect(afterTooFar == HLCTimestamp(wallMilliseconds: wall, logical: 0))
        let withinDrift = clock.observe(
            HLCTimestamp(wallMilliseconds: wall + HybridLogicalClock.maximumDrift, logical: 0), wallMilliseconds: wall)
        #expect(withinDrift)
        let afterWithin = clock.now(wallMilliseconds: wall)
        #expect(afterWithin == HLCTimestamp(wallMilliseconds: wall + HybridLogicalClock.maximumDrift, logical: 1))
    }

    @Test func isStrictlyMonotonicUnderRandomClocks() {
        let seed = TestSeed.make()
        var generator = SeededGenerator(seed: seed)
        var clock = HybridLogicalClock()
        var previous = HLCTimestamp.zero
        var wall: UInt64 = 1_000_000
        for _ in 0..<10_000 {
            wall = UInt64(Int64(wall) + Int64.random(in: -50...60, using: &generator))
            if Bool.random(using: &generator) {
                clock.observe(
                    HLCTimestamp(wallMilliseconds: wall + UInt64.random(in: 0...100, using: &generator), logical: 3),
                    wallMilliseconds: wall)
            }
            let next = clock.now(wallMilliseconds: wall)
            #expect(next > previous, "seed \(seed)")
            previous = next
        }
    }
}
