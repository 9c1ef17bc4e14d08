import BranchSyncCore
import BranchSyncTestSupport
import Foundation
import Synchronization
import Testing

@testable import BranchSyncStore

/// A batch's states are checked on another thread while the writer applies them: the writer must still get every
/// state, checked exactly as it would check it itself, in the order received.
@Suite struct ReceivedStateCheckerTests {
    /// Random batches of real states, broken states and garbage, of sizes around the chunk size: what the writer gets
    /// is, state by state and in order, what `ReceivedState(bytes:)` makes of the bytes.
    @Test(arguments: [0, 1, 31, 32, 33, 64, 65, 1_000])
    func theWriterGetsEveryStateCheckedInOrder(size: Int) throws {
        let seed = TestSeed.make()
        var generator = SeededGenerator(seed: seed)
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let written = try store.batch { writer in
            try (0..<40).map { index in
                var values = customerValues
                values["code"] = String(format: "1101%02d", index)
                return try writer.create(.customers, values: values).encoded()
            }
        }
        let batch: [[UInt8]] = (0..<size).map { _ in
            var bytes = written.randomElement(using: &generator) ?? []
            switch Int.random(in: 0..<4, using: &generator) {
            case 0: bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= 0xFF
            case 1:
                bytes = (0..<Int.random(in: 0..<40, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            default: break
            }
            return bytes
        }
        var got: [String] = []
        ReceivedStateChecker.forEach(batch) { got.append(describe($0)) }
        #expect(got == batch.map { describe(ReceivedState(bytes: $0)) }, "seed \(seed)")
    }

    /// A writer that stops part way (the batch failed) neither waits for nor gets the states after it.
    @Test func aWriterThatStopsGetsNothingMore() throws {
        let garbage: [[UInt8]] = (0..<500).map { [UInt8($0 % 256)] }
        struct Stop: Error {}
        var taken = 0
        #expect(throws: Stop.self) {
            try ReceivedStateChecker.forEach(garbage) { _ in
                taken += 1
                if taken == 70 { throw Stop() }
            }
        }
        #expect(taken == 70)
    }

    /// While the writer is held on the first state, the helper checks at most ``ReceivedStateChecker/lookahead``
    /// chunks beyond the writer's own: a batch of millions of tiny states is never decoded whole in memory.
    @Test func theHelperStaysAFewChunksAhead() {
        let chunk = ReceivedStateChecker.chunkSize
        let bound = (ReceivedStateChecker.lookahead + 1) * chunk
        let (taken, checked) = Self.holdingTheWriterAtTheFirstState(chunks: 1_000) { checks in
            // The helper reaches its bound quickly, then must stop there: give it time to run past it, if it would.
            // It makes `lookahead` claims before the writer frees one: chunks 1–4 when the writer claimed the first
            // chunk itself (160 checks in all), chunks 0–3 when the helper got there first (128).
            #expect(eventually(timeout: 10) { checks() >= ReceivedStateChecker.lookahead * chunk })
            let deadline = Date().addingTimeInterval(0.3)
            while Date() < deadline && checks() <= bound { usleep(1_000) }
            #expect(checks() <= bound, "the helper ran ahead of the writer")
        }
        #expect(taken == 1_000 * chunk)
        #expect(checked == 1_000 * chunk)
    }

    /// Runs a batch of `chunks` chunks of one-byte states through the checker, counting the checks, and holds the
    /// writer at the batch's first state while `held` runs with the count so far.
    /// - Returns: the states the writer took, and the checks made in all.
    private static func holdingTheWriterAtTheFirstState(chunks: Int, _ held: (_ checks: () -> Int) -> Void) -> (
        taken: Int, checks: Int
    ) {
        let checks = Atomic<Int>(0)
        var taken = 0
        ReceivedStateChecker.forEach(
            Array(repeating: [0], count: chunks * ReceivedStateChecker.chunkSize),
            checkOne: {
                checks.add(1, ordering: .relaxed)
                return ReceivedState(bytes: $0)
            }
        ) { _ in
            taken += 1
            if taken == 1 { held { checks.load(ordering: .relaxed) } }
        }
        return (taken, checks.load(ordering: .relaxed))
    }

    /// The helper gets a thread even while every worker of Dispatch's global queues is blocked (other work of the
    /// process, tests side by side): it checks ahead instead of waiting behind them.
    @Test func theHelperRunsWhileTheGlobalQueuesAreBlocked() {
        let release = DispatchSemaphore(value: 0)
        let blockers = 2 * ProcessInfo.processInfo.activeProcessorCount + 8
        let blocked = Atomic<Int>(0)
        for _ in 0..<blockers {
            DispatchQueue.global(qos: .userInitiated).async {
                blocked.add(1, ordering: .relaxed)
                release.wait()
            }
        }
        defer { for _ in 0..<blockers { release.signal() } }
        _ = eventually(timeout: 2) { blocked.load(ordering: .relaxed) >= ProcessInfo.processInfo.activeProcessorCount }
        let chunk = ReceivedStateChecker.chunkSize
        let (taken, _) = Self.holdingTheWriterAtTheFirstState(chunks: 4) { checks in
            // Only the helper can check the chunks after the writer's.
            #expect(eventually(timeout: 5) { checks() > chunk }, "the helper never ran")
        }
        #expect(taken == 4 * chunk)
    }

    private func describe(_ received: ReceivedState) -> String {
        switch received {
        case .decoded(let checked):
            return "decoded \(checked.bytes) \(checked.state.id) \(String(describing: checked.inconsistency)) "
                + String(describing: checked.valuesProblem)
        case .undecodable(let bytes, let error): return "undecodable \(bytes) \(error)"
        }
    }
}
