import BranchSyncCore
import BranchSyncStore
import Dispatch
import Foundation
import Synchronization

/// The hub daemon's periodic tombstone collection (Protocol.md §9.7): one round every `interval`, on its own thread
/// with its own connection, so a long round never delays a session. `branchsync gc` runs the same round at once.
public final class TombstoneCollector: Sendable {
    private let directory: String
    private let intervalMilliseconds: Int64
    private let horizonMilliseconds: Int64
    private let minimumAgeMilliseconds: Int64
    private let logger: Logger
    private let stopped = Mutex(false)
    private let started = Mutex(false)
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    public init(
        directory: String, intervalMilliseconds: Int64, horizonMilliseconds: Int64, minimumAgeMilliseconds: Int64,
        logger: Logger
    ) {
        self.directory = directory
        self.intervalMilliseconds = max(1, intervalMilliseconds)
        self.horizonMilliseconds = horizonMilliseconds
        self.minimumAgeMilliseconds = minimumAgeMilliseconds
        self.logger = logger.with("task", "gc")
    }

    /// Starts the rounds: the first after one interval (a daemon that starts does not begin with a collection).
    public func start() {
        started.withLock { $0 = true }
        Thread.detachNewThread { [self] in
            defer { finished.signal() }
            let store: NodeStore
            do {
                store = try NodeStore.open(directory: directory, actor: AuditActor(user: "hub", origin: "gc"))
            } catch {
                logger.error("tombstone collection cannot open the store; it will not run", [("error", "\(error)")])
                return
            }
            while !stopped.withLock({ $0 }) {
                let timeout = DispatchTime.now() + .milliseconds(Int(clamping: intervalMilliseconds))
                if wake.wait(timeout: timeout) == .success, stopped.withLock({ $0 }) { return }
                runRound(store)
            }
        }
    }

    /// Ends the rounds and waits for the one under way.
    public func stop() {
        let wasStopped = stopped.withLock { value in
            defer { value = true }
            return value
        }
        guard !wasStopped, started.withLock({ $0 }) else { return }
        wake.signal()
        finished.wait()
    }

    private func runRound(_ store: NodeStore) {
        do {
            let round = try store.collectTombstones(
                horizonMilliseconds: horizonMilliseconds, minimumAgeMilliseconds: minimumAgeMilliseconds)
            for site in round.markedStale {
                logger.warning(
                    "site silent past the GC horizon: it no longer holds tombstones back and resyncs in full when it "
                        + "returns", [("peer", site.rawValue)])
            }
            if round.collected > 0 {
                logger.info(
                    "tombstones collected",
                    [
                        ("count", String(round.collected)), ("up-to", String(round.safePosition)),
                        ("waiting", String(round.waiting)),
                    ])
            }
        } catch {
            // A busy or full disk: the next round tries again; nothing was half-removed (each chunk is a transaction).
            logger.warning("tombstone collection failed; retrying at the next round", [("error", "\(error)")])
        }
    }
}
