import BranchSyncCore
import Dispatch
import Synchronization

/// Decodes and checks a batch's received states (``ReceivedState``) on a thread of its own while the writer applies
/// them, so that work (about a third of applying a batch) runs on the other core.
///
/// The states are checked in chunks, each by whichever thread claims it first: the helper thread claims them in order,
/// and the writer claims the chunk it needs next if the helper has not reached it yet (a busy machine that gives the
/// helper no core costs the writer nothing but the claim). The checks are deterministic, so who makes them changes
/// nothing; the writer still applies every state in the order received.
final class ReceivedStateChecker: Sendable {
    /// States per chunk: enough that claiming one costs little, few enough that the writer starts at once.
    static let chunkSize = 32
    private let states: [[UInt8]]
    private let chunkCount: Int
    /// The first chunk nobody has claimed.
    private let nextChunk = Atomic<Int>(0)
    /// Chunks the helper checked and the writer has not taken yet.
    private let checked = Mutex<[Int: [ReceivedState]]>([:])
    /// Signalled when the helper has checked a chunk.
    private let ready: [DispatchSemaphore]

    /// Starts checking `states` ahead of the writer (a batch of one chunk is left to the writer alone).
    init(_ states: [[UInt8]]) {
        self.states = states
        chunkCount = (states.count + Self.chunkSize - 1) / Self.chunkSize
        ready = (0..<chunkCount).map { _ in DispatchSemaphore(value: 0) }
        guard chunkCount > 1 else { return }
        DispatchQueue.global(qos: .userInitiated).async { [self] in checkAhead() }
    }

    /// Every state, checked, in the order received, each handed to `body` as soon as it is checked.
    func forEach(_ body: (ReceivedState) throws -> Void) rethrows {
        // A failure (the batch is refused) leaves the helper nothing more to claim.
        defer { nextChunk.store(chunkCount, ordering: .releasing) }
        for chunk in 0..<chunkCount {
            for state in take(chunk) { try body(state) }
        }
    }

    private func take(_ chunk: Int) -> [ReceivedState] {
        // Every earlier chunk is claimed, so the first unclaimed one is `chunk` unless the helper claimed it.
        if nextChunk.compareExchange(expected: chunk, desired: chunk + 1, ordering: .acquiringAndReleasing).exchanged {
            return check(chunk)
        }
        ready[chunk].wait()
        return checked.withLock { $0.removeValue(forKey: chunk) } ?? check(chunk)
    }

    private func checkAhead() {
        while true {
            let chunk = nextChunk.add(1, ordering: .acquiringAndReleasing).oldValue
            guard chunk < chunkCount else { return }
            let states = check(chunk)
            checked.withLock { $0[chunk] = states }
            ready[chunk].signal()
        }
    }

    private func check(_ chunk: Int) -> [ReceivedState] {
        let start = chunk * Self.chunkSize
        return states[start..<min(start + Self.chunkSize, states.count)].map { ReceivedState(bytes: $0) }
    }
}
