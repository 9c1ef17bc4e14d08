import BranchSyncCore
import Dispatch
import Synchronization

/// Decodes and checks a batch's received states (``ReceivedState``) on a thread of its own while the writer applies
/// them, so that work (a quarter to a third of applying a batch) runs on the other core.
///
/// The states are checked in chunks, each by whichever thread claims it first: the helper thread claims them in order,
/// at most ``lookahead`` chunks ahead of the writer (a batch of millions of tiny hostile states is never decoded whole
/// in memory), and the writer claims the chunk it needs next if the helper has not reached it yet. The checks are
/// deterministic, so who makes them changes nothing; the writer still applies every state in the order received.
final class ReceivedStateChecker: Sendable {
    /// States per chunk: enough that claiming one costs little, few enough that the writer starts at once.
    static let chunkSize = 32
    /// Chunks checked beyond the one the writer is applying, at most.
    static let lookahead = 4
    private let states: [[UInt8]]
    private let checkOne: @Sendable ([UInt8]) -> ReceivedState
    private let chunkCount: Int
    /// The first chunk nobody has claimed.
    private let nextChunk = Atomic<Int>(0)
    /// Chunks the helper checked and the writer has not taken yet.
    private let checked = Mutex<[Int: [ReceivedState]]>([:])
    /// Signalled each time the helper has checked a chunk.
    private let checkedOne = DispatchSemaphore(value: 0)
    /// Claims the helper may still make: ``lookahead``, plus one for every chunk the writer has applied.
    private let room = DispatchSemaphore(value: lookahead)

    /// Hands every state of `states`, checked, to `body` in the order received, checking ahead on another thread (a
    /// batch of one chunk is checked by the writer alone).
    /// - Parameter checkOne: how one state is checked (tests count the calls).
    static func forEach(
        _ states: [[UInt8]], checkOne: @escaping @Sendable ([UInt8]) -> ReceivedState = { ReceivedState(bytes: $0) },
        _ body: (ReceivedState) throws -> Void
    ) rethrows {
        try ReceivedStateChecker(states, checkOne: checkOne).forEach(body)
    }

    private init(_ states: [[UInt8]], checkOne: @escaping @Sendable ([UInt8]) -> ReceivedState) {
        self.states = states
        self.checkOne = checkOne
        chunkCount = (states.count + Self.chunkSize - 1) / Self.chunkSize
        guard chunkCount > 1 else { return }
        // A serial queue of its own, not a global queue: Dispatch gives it a thread even when every worker of the
        // global queues is blocked (in tests running side by side, in other code of the process), where a global
        // queue's block would wait and the writer would check everything alone.
        DispatchQueue(label: "branchsync.received-state-checks", qos: .userInitiated).async { [self] in checkAhead() }
    }

    private func forEach(_ body: (ReceivedState) throws -> Void) rethrows {
        defer {
            // Done, or the batch failed: the helper finds nothing more to claim, and is woken if it waits for room.
            nextChunk.store(chunkCount, ordering: .releasing)
            for _ in 0...Self.lookahead { room.signal() }
        }
        for chunk in 0..<chunkCount {
            for state in take(chunk) { try body(state) }
            room.signal()
        }
    }

    private func take(_ chunk: Int) -> [ReceivedState] {
        // Every earlier chunk is claimed, so the first unclaimed one is `chunk` unless the helper claimed it.
        if nextChunk.compareExchange(expected: chunk, desired: chunk + 1, ordering: .acquiringAndReleasing).exchanged {
            return check(chunk)
        }
        while true {
            if let states = checked.withLock({ $0.removeValue(forKey: chunk) }) { return states }
            // A signal may be for a chunk taken without waiting: look again after each.
            checkedOne.wait()
        }
    }

    private func checkAhead() {
        while true {
            room.wait()
            let chunk = nextChunk.add(1, ordering: .acquiringAndReleasing).oldValue
            guard chunk < chunkCount else { return }
            let states = check(chunk)
            checked.withLock { $0[chunk] = states }
            checkedOne.signal()
        }
    }

    private func check(_ chunk: Int) -> [ReceivedState] {
        let start = chunk * Self.chunkSize
        return states[start..<min(start + Self.chunkSize, states.count)].map(checkOne)
    }
}
