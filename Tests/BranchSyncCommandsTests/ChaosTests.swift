import BranchSyncCore
import BranchSyncNode
import BranchSyncStore
import Foundation
import Testing

/// A hub and branches as real processes on loopback, written to at random while they are killed, taken offline,
/// restored from earlier copies, regranted and run with clocks hours apart; at the end every write that was
/// acknowledged must still be there and verify must find every replica identical (issue 6).
///
/// A run takes 10–30 s; `BRANCHSYNC_LONG=1` runs ten worlds of ten times as many steps, `BRANCHSYNC_SEED` replays one.
final class ChaosWorld {
    struct Branch {
        var site: String
        var clearance: Classification
        /// The `faketime` offset of its clock, and the same in milliseconds for writes made in this process.
        var clock: String?
        var offset: Int64
    }

    let directory = TemporaryDirectory()
    let seed: UInt64
    var random: SeededGenerator
    let branches = [
        Branch(site: "b1", clearance: .internal, clock: nil, offset: 0),
        Branch(site: "b2", clearance: .confidential, clock: "+3h", offset: 3 * 3_600_000),
        Branch(site: "b3", clearance: .internal, clock: "-2h", offset: -2 * 3_600_000),
    ]
    var clearance: [String: Classification] = [:]
    var processes: [String: Daemon] = [:]
    var port = ""
    let actor = AuditActor(user: "chaos", origin: "test")

    // What was written, to check nothing acknowledged is lost.
    var owner: [RecordID: String] = [:]
    var lastNotes: [RecordID: String] = [:]
    var nextCode = 0
    var nextValue = 0
    var events: [String] = []
    /// Tombstone collection runs in the hub daemon once this is set (after the hub's restore: a hub restored from a
    /// copy older than its collections may hold records the branches forgot, which the operating rules exclude).
    var collecting = false
    /// Records their owner deleted; those the hub no longer holds were collected; those a site wrote to again without
    /// knowing of the delete (a restored branch) may come back.
    var deletedEver: Set<RecordID> = []
    var collected: Set<RecordID> = []
    var rewritten: Set<RecordID> = []
    /// When the hub was put back from its copy (a recovery that ended before does not count).
    var hubRestoredAt = ""

    /// Whether the hub's trail shows the recovery from its restore ended.
    func sawRecovery(_ hub: NodeStore) throws -> Bool {
        try hub.auditTrail(limit: 100_000).contains { $0.action == "recovered" && $0.at > hubRestoredAt }
    }

    init(seed: UInt64) throws {
        self.seed = seed
        random = SeededGenerator(seed: seed)
        expectCLI(["init", "--site", "hq", "--role", "hub"], data: data("hq"))
        for branch in branches {
            expectCLI(
                [
                    "site", "add", branch.site, "--class-access", branch.clearance.rawValue, "--secret-file",
                    directory.file(branch.site + ".secret"),
                ], data: data("hq"))
            clearance[branch.site] = branch.clearance
        }
        try start("hq")
        guard waitUntil(timeout: 30, { FileManager.default.fileExists(atPath: self.directory.file("port")) }) else {
            throw NodeError("the hub did not start; see \(directory.file("hq.log"))")
        }
        port = try String(contentsOfFile: directory.file("port"), encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        for branch in branches {
            expectCLI(
                [
                    "init", "--site", branch.site, "--role", "branch", "--hub", "127.0.0.1:\(port)", "--secret-file",
                    directory.file(branch.site + ".secret"),
                ], data: data(branch.site))
            try start(branch.site)
        }
    }

    func data(_ site: String) -> String { directory.file(site) }

    func expectCLI(_ arguments: [String], data: String) {
        let result = cli(arguments, data: data)
        #expect(result.status == 0, "\(arguments.joined(separator: " ")): \(result.err); seed \(seed)")
    }

    func note(_ event: String) { events.append(event) }

    // MARK: Processes

    func start(_ site: String) throws {
        guard processes[site] == nil else { return }
        let arguments =
            site == "hq"
            ? ["run", "--listen", "127.0.0.1:\(port.isEmpty ? "0" : port)", "--port-file", directory.file("port")]
                + (collecting ? ["--gc-interval", "1s", "--gc-min-age", "0s"] : [])
            : ["run"]
        processes[site] = try Daemon(
            arguments, data: data(site), log: directory.file(site + ".log"),
            clock: branches.first { $0.site == site }?.clock)
    }

    func kill(_ site: String) {
        processes.removeValue(forKey: site)?.kill9()
    }

    func store(_ site: String) throws -> NodeStore {
        let store = try NodeStore.open(directory: data(site), actor: actor)
        let offset = branches.first { $0.site == site }?.offset ?? 0
        store.wallClock = { UInt64(Int64(Timestamp.nowMilliseconds()) + offset) }
        return store
    }

    // MARK: Writes

    /// A few local writes at `site`, as its users would make them (its own clock, its own database, its daemon
    /// running or not).
    func write(at site: String) throws {
        let store = try self.store(site)
        let local = try store.records(in: .customers)
        let own = local.filter { $0.owner.rawValue == site }
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            nextValue += 1
            switch Int.random(in: 0..<10, using: &random) {
            case 0...2:
                nextCode += 1
                let regions = CustomerCode.regions.keys.sorted()
                let code = regions[nextCode / 10_000 % regions.count] + String(format: "%04d", nextCode % 10_000)
                let confidential = Int.random(in: 0..<5, using: &random) == 0
                let created = try store.create(
                    .customers,
                    values: [
                        "code": code, "name": "\(site)客户\(nextCode)", "creditCode": "914403001922038216",
                        "notes": "\(site)-n\(nextValue)", "class": confidential ? "confidential" : "internal",
                    ])
                owner[created.id] = site
                lastNotes[created.id] = "\(site)-n\(nextValue)"
            case 3...5:
                guard let record = own.filter({ !$0.isDeleted }).randomElement(using: &random),
                    try store.record(record.id)?.isDeleted == false
                else { continue }
                let value = "\(site)-n\(nextValue)"
                if try unlessDeletedMeanwhile(
                    store, record.id, at: site, { try store.update(record.id, changes: ["notes": value]) })
                {
                    lastNotes[record.id] = value
                }
            case 6...8:
                guard let record = local.filter({ !$0.isDeleted }).randomElement(using: &random),
                    try store.record(record.id)?.isDeleted == false
                else { continue }
                try unlessDeletedMeanwhile(store, record.id, at: site) {
                    try store.update(record.id, changes: ["contact": "\(site)联系人\(nextValue)"])
                }
            default:
                guard let record = own.filter({ !$0.isDeleted }).randomElement(using: &random),
                    try store.record(record.id)?.isDeleted == false
                else { continue }
                if Bool.random(using: &random) {
                    try unlessDeletedMeanwhile(store, record.id, at: site) {
                        try store.update(
                            record.id,
                            changes: ["class": record.classification == .internal ? "confidential" : "internal"])
                    }
                } else {
                    if try unlessDeletedMeanwhile(store, record.id, at: site, { try store.delete(record.id) }) {
                        deletedEver.insert(record.id)
                    }
                }
            }
        }
        LocalChangeSignal.poke(directory: data(site))
    }

    /// Writes to a record the site's running daemon may delete or purge meanwhile (its owner's delete arriving, after a
    /// restore the site's own delete coming back from the hub, or a narrowed clearance): then the user sees "is
    /// deleted" or "no record", and so does this.
    /// - Returns: whether the write was made.
    @discardableResult
    private func unlessDeletedMeanwhile(
        _ store: NodeStore, _ id: RecordID, at site: String, _ write: () throws -> Void
    ) throws -> Bool {
        do {
            try write()
            if collected.contains(id) { rewritten.insert(id) }
            return true
        } catch let error as StorageError {
            // Deleted by a change that arrived, or purged because the site's clearance narrowed meanwhile.
            guard let record = try store.record(id) else {
                note("\(site) found \(id) purged meanwhile")
                return false
            }
            guard record.isDeleted else { throw error }
            note("\(site) found \(id) deleted meanwhile")
            return false
        }
    }

    /// While collection runs: the deleted records the hub no longer holds were collected, and none of those comes
    /// back unless a site wrote to it again.
    func checkCollected() throws {
        // The restored hub lacks what it lost until a branch shows it was restored and the branches have resent
        // everything (its recovery): only after that is a deleted record it lacks a collected one.
        guard collecting, let hub = try? store("hq"), try hub.restoreKnowledge() == .none, try sawRecovery(hub)
        else { return }
        // Once the hub is not recovering, it holds every record the group has: a deleted one it lacks was collected.
        for id in deletedEver where try hub.record(id) == nil { collected.insert(id) }
        for id in collected.subtracting(rewritten) where try hub.record(id) != nil {
            Issue.record("collected \(id) is back at the hub; seed \(seed); events: \(events.joined(separator: ", "))")
        }
    }

    /// Waits until the hub holds every write `site` made (its own records with their last notes).
    func waitUntilHubHasWrites(of site: String) throws -> Bool {
        waitUntil(timeout: 60) {
            guard let hub = try? self.store("hq") else { return false }
            return self.owner.filter { $0.value == site }.keys.allSatisfy {
                (try? hub.record($0))?["notes"] == self.lastNotes[$0]
            }
        }
    }

    /// Waits until every branch has acknowledged everything the hub holds for it.
    func waitUntilBranchesHaveEverything() -> Bool {
        waitUntil(timeout: 60) {
            guard let hub = try? self.store("hq") else { return false }
            return self.branches.allSatisfy { branch in
                guard let site = try? SiteID(branch.site), let health = try? hub.health(of: site) else { return false }
                return health.isLive && health.toSite == 0
            }
        }
    }

    // MARK: Copies

    /// A plain copy of a node's data directory, taken as an operator would: the daemon stopped (killed: SQLite's
    /// files are crash-consistent), the directory copied, the daemon started again.
    func copy(_ site: String, to name: String) throws {
        kill(site)
        try copyFiles(from: data(site), to: directory.file(name))
        try start(site)
        note("copied \(site)")
    }

    /// Puts an earlier copy back in place of a node's data directory.
    func restore(_ site: String, from name: String) throws {
        kill(site)
        try FileManager.default.removeItem(atPath: data(site))
        try copyFiles(from: directory.file(name), to: data(site))
        note("restored \(site)")
    }

    /// Copies the regular files of a directory (the database, its write-ahead log; not the daemon's socket).
    private func copyFiles(from source: String, to destination: String) throws {
        try? FileManager.default.removeItem(atPath: destination)
        try FileManager.default.createDirectory(
            atPath: destination, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for file in try FileManager.default.contentsOfDirectory(atPath: source) {
            let path = source + "/" + file
            guard (try FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular
            else { continue }
            try FileManager.default.copyItem(atPath: path, toPath: destination + "/" + file)
        }
    }

    /// The branches that do not hold exactly the hub's records within their scope (as the hub knows it).
    func differingBranches() throws -> [String] {
        let hub = try store("hq")
        let records = try hub.allRecords()
        return try branches.filter { branch in
            let site = try SiteID(branch.site)
            guard let clearance = try hub.peer(site)?.clearance else { return true }
            let expected = records.filter { Scope.mayHold($0, site: site, clearance: clearance) }.map(\.canonicalJSON)
            return try store(branch.site).allRecords().map(\.canonicalJSON) != expected
        }.map(\.site)
    }

    /// The last lines of every node's log and the hub's first quarantined changes, for a failure message.
    func logs() -> String {
        let all = (try? store("hq").quarantined(includeResolved: true)) ?? []
        let quarantine = (all.filter { $0.kind != "held" }.prefix(8) + all.filter { $0.kind == "held" }.prefix(4)).map {
            "#\($0.id) \($0.kind) \($0.status) from \($0.peer) \($0.recordID): \($0.reason)"
        }
        // Every restore each node detected, and how the hub's recovery went.
        let restores = (["hq"] + branches.map(\.site)).flatMap { site in
            ((try? store(site).auditTrail(limit: 100_000)) ?? []).reversed()
                .filter { $0.action.hasPrefix("restore") || $0.action.hasPrefix("recover") }
                .map { "\(site) \($0.at) \($0.action): \($0.detail)" }
        }
        return "--- restores\n" + restores.joined(separator: "\n") + "\n--- hq quarantine\n"
            + quarantine.joined(separator: "\n") + "\n"
            + (["hq"] + branches.map(\.site)).map { site in
                let text = (try? String(contentsOfFile: directory.file(site + ".log"), encoding: .utf8)) ?? ""
                return "--- \(site)\n" + text.split(separator: "\n").suffix(15).joined(separator: "\n")
            }.joined(separator: "\n")
    }
}

@Suite(.serialized) struct ChaosTests {
    @Test func randomWritesKillsRestoresAndWrongClocksLoseNothingAndConverge() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/faketime") else {
            Issue.record("this test runs branches with wrong clocks under faketime: apt-get install faketime")
            return
        }
        // The long mode runs ten worlds of 150 steps, seeds counting up from the first; a given seed replays one.
        let first = TestSeed.make()
        for run in 0..<(TestSeed.long && !TestSeed.isReplay ? 10 : 1) {
            try runWorld(seed: first &+ UInt64(run), steps: TestSeed.long ? 150 : 15)
        }
    }

    private func runWorld(seed: UInt64, steps: Int) throws {
        let world = try ChaosWorld(seed: seed)
        let sites = world.branches.map(\.site)
        var random = SeededGenerator(seed: seed ^ 0x5EED)
        let branchCopyAt = Int.random(in: 1..<steps / 3, using: &random)
        let hubCopyAt = Int.random(in: 1..<steps / 3, using: &random)
        let branchRestoreAt = Int.random(in: steps / 2..<steps - 2, using: &random)
        let hubRestoreAt = Int.random(in: steps / 2..<steps - 2, using: &random)
        let restoredBranch = sites.randomElement(using: &random) ?? "b1"
        var clearanceAtHubCopy = world.clearance
        for step in 0..<steps {
            for site in sites where Bool.random(using: &random) { try world.write(at: site) }
            if Int.random(in: 0..<3, using: &random) == 0 {
                // A hub write of its own: it must survive the hub's own restore through the branches.
                let hub = try world.store("hq")
                world.nextCode += 1
                let created = try hub.create(
                    .customers,
                    values: [
                        "code": "31" + String(format: "%04d", world.nextCode % 10_000), "name": "总部\(world.nextCode)",
                        "creditCode": "914403001922038216", "notes": "hq-n\(world.nextCode)",
                    ])
                world.owner[created.id] = "hq"
                world.lastNotes[created.id] = "hq-n\(world.nextCode)"
                LocalChangeSignal.poke(directory: world.data("hq"))
            }
            switch Int.random(in: 0..<8, using: &random) {
            case 0:
                let site = sites.randomElement(using: &random) ?? "b1"
                world.kill(site)
                world.note("killed \(site) at step \(step)")
            case 1:
                world.kill("hq")
                try world.start("hq")
                world.note("killed and restarted hq at step \(step)")
            case 2:
                let new: Classification = world.clearance["b1"] == .internal ? .confidential : .internal
                world.expectCLI(["site", "grant", "b1", "--class-access", new.rawValue], data: world.data("hq"))
                world.clearance["b1"] = new
                world.note("b1 granted \(new.rawValue) at step \(step)")
            default:
                // Bring offline sites back.
                for site in sites where world.processes[site] == nil { try world.start(site) }
            }
            try world.checkCollected()
            if step == branchCopyAt { try world.copy(restoredBranch, to: "branch-copy") }
            if step == hubCopyAt {
                try world.copy("hq", to: "hub-copy")
                clearanceAtHubCopy = world.clearance
            }
            if step == branchRestoreAt {
                // Only writes the hub acknowledged must survive a restore: wait for them, then put the copy back
                // and write at the restored branch before it reconnects.
                try world.start(restoredBranch)
                #expect(try world.waitUntilHubHasWrites(of: restoredBranch), "seed \(seed)")
                try world.restore(restoredBranch, from: "branch-copy")
                try world.write(at: restoredBranch)
                try world.start(restoredBranch)
            }
            if step == hubRestoreAt {
                // The hub's own writes after its copy survive only through the branches: wait until they have them.
                for site in sites { try world.start(site) }
                #expect(world.waitUntilBranchesHaveEverything(), "seed \(seed)")
                try world.restore("hq", from: "hub-copy")
                world.clearance = clearanceAtHubCopy  // the restore takes back grants made since the copy
                // Tombstone collection in the chaos, with `BRANCHSYNC_CHAOS_GC=1` (with `BRANCHSYNC_LONG=1` for runs
                // long enough to collect much): from here until the final proofs the hub collects every second.
                if ProcessInfo.processInfo.environment["BRANCHSYNC_CHAOS_GC"] == "1" {
                    world.hubRestoredAt = Timestamp.nowISO8601()
                    world.collecting = true
                    world.note("collection starts at step \(step)")
                }
                try world.start("hq")
            }
        }

        // Everything back up; the group must converge and prove it.
        for site in ["hq"] + sites { try world.start(site) }
        if world.collecting {
            // With every site caught up, every tombstone that may go goes (the daemon collects every second).
            try world.checkCollected()
            #expect(
                waitUntil(timeout: 120) {
                    guard let status = try? world.store("hq").tombstoneCollectionStatus() else { return false }
                    // Nothing waits, or nothing more can go now (the rest waits in the quarantine for review).
                    return status.waiting == 0 || (status.collectable == 0 && status.heldBackBy.isEmpty)
                }, "tombstones never collected; seed \(seed)")
            try world.checkCollected()
            // No round between the proofs below: the hub runs on without collecting (its last round's verify
            // requests still go out).
            world.kill("hq")
            world.collecting = false
            try world.start("hq")
        }
        // A verify proves each site identical when it ran; a change still on its way from another site (a refusal
        // answered just after) may follow it, so the group has converged when a verify passes and every branch
        // then holds exactly the hub's records within its scope.
        var verified = false
        let deadline = Date().addingTimeInterval(TestSeed.long ? 300 : 120)
        var lastVerify = ""
        while !verified && Date() < deadline {
            let result = cli(["verify", "--timeout", "30"], data: world.data("hq"))
            lastVerify = result.out + result.err
            verified = try result.status == 0 && world.differingBranches().isEmpty
        }
        let context =
            "seed \(seed); data \(world.directory.path); events: \(world.events.joined(separator: ", "))\n\(world.logs())"
        #expect(verified, "verify never found every replica identical: \(lastVerify)\n\(context)")

        let hub = try world.store("hq")
        // Every record ever created is at the hub, with the last notes its owner wrote (only owners write notes).
        try world.checkCollected()
        for (id, site) in world.owner {
            let record = try hub.record(id)
            // A record its owner deleted may have been collected; nothing else may be missing.
            if record == nil && world.collected.contains(id) { continue }
            #expect(record != nil, "record \(id) created at \(site) is missing at the hub; \(context)")
            #expect(
                record?["notes"] == world.lastNotes[id],
                "record \(id): notes \(record?["notes"] ?? "-") at the hub, \(site) last wrote \(world.lastNotes[id] ?? "-"); \(context)"
            )
        }
        // Each branch holds exactly the hub's records within its scope, byte for byte.
        let hubRecords = try hub.allRecords()
        for branch in world.branches {
            let site = try SiteID(branch.site)
            let clearance = world.clearance[branch.site] ?? branch.clearance
            #expect(try hub.peer(site)?.clearance == clearance, "the hub's clearance of \(site); \(context)")
            let expected = hubRecords.filter { Scope.mayHold($0, site: site, clearance: clearance) }.map(
                \.canonicalJSON)
            let actual = try world.store(branch.site).allRecords().map(\.canonicalJSON)
            #expect(actual == expected, "\(branch.site) differs from the hub within its scope; \(context)")
        }
        // An honest fleet: nothing judged forged, nothing left waiting, the hub not left recovering.
        let quarantined = try hub.quarantined()
        #expect(
            quarantined.filter { $0.kind == "invalid" || $0.status == "held" }.isEmpty, "\(quarantined); \(context)")
        #expect(try hub.metadata(NodeStore.recoveringKey) == nil, "the hub is still recovering; \(context)")
        for site in ["hq"] + sites { world.kill(site) }
        print(
            "chaos: seed \(seed), \(steps) steps, \(world.owner.count) records, \(world.collected.count) collected, "
                + "events: "
                + world.events.joined(separator: ", "))
    }
}
