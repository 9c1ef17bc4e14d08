import BranchSyncCore
import BranchSyncCrypto
import BranchSyncStore
import Foundation
import Testing

/// A `branchsync run` process started from the built binary, under `faketime` when given a `clock` (e.g. "+3h").
final class Daemon {
    let process = Process()

    /// With `ulimit` (e.g. "-S -n 1024") the node starts under that descriptor limit, as a service manager may
    /// start it.
    init(
        _ arguments: [String], data: String, log: String, clock: String? = nil, ulimit: String? = nil,
        environment: [String: String] = [:]
    ) throws {
        underFaketime = clock != nil
        if let clock {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/faketime")
            process.arguments = ["-f", clock, branchsyncBinary().path, "--data", data] + arguments
        } else if let ulimit {
            // `exec` keeps the pid: signals and `/proc` reach the node itself.
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments =
                ["-c", "ulimit \(ulimit) && exec \"$0\" \"$@\"", branchsyncBinary().path, "--data", data] + arguments
        } else {
            process.executableURL = branchsyncBinary()
            process.arguments = ["--data", data] + arguments
        }
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        env.merge(environment) { $1 }
        process.environment = env
        if !FileManager.default.fileExists(atPath: log) {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// SIGKILL to the process and everything it started: Foundation starts each child as a process group leader,
    /// and `faketime` forks the real node.
    func kill9() {
        kill(-process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        if underFaketime { Self.removeFaketimeLeftovers(pid: process.processIdentifier) }
    }

    private let underFaketime: Bool

    /// `faketime` names its semaphore and shared memory after its own pid and removes them only when it exits
    /// normally: killed, it leaves them, and a later `faketime` that gets the same pid fails with
    /// "sem_open: File exists" before starting the node.
    static func removeFaketimeLeftovers(pid: Int32) {
        unlink("/dev/shm/sem.faketime_sem_\(pid)")
        unlink("/dev/shm/faketime_shm_\(pid)")
    }

    func terminate() {
        process.terminate()
        process.waitUntilExit()
    }

    deinit { if process.isRunning { kill9() } }
}

func waitUntil(timeout: Double = 60, _ condition: () throws -> Bool) rethrows -> Bool {
    try eventually(timeout: timeout, condition)
}

@Suite(.serialized) struct CrashRecoveryTests {
    /// SIGKILL the branch, then the hub, in the middle of a large branch → hub sync; after restarts the hub holds
    /// every record exactly once and both sides export the same bytes.
    @Test func killingEitherSideMidSyncLosesNothingAndDuplicatesNothing() throws {
        let directory = TemporaryDirectory()
        let hubData = directory.file("hq")
        let branchData = directory.file("bj01")
        let actor = AuditActor(user: "t", origin: "t")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: hubData)
        _ = cli(["site", "add", "bj01", "--secret-file", directory.file("bj01.secret")], data: hubData)

        let hubLog = directory.file("hq.log")
        var hub = try Daemon(
            ["run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port")], data: hubData, log: hubLog)
        let port = try #require(portWritten(to: directory.file("port")), "the hub did not start")
        initBranch("bj01", data: branchData, port: port, directory: directory)

        // The hub applies up to a window of batches (4 × 4,000 entries) in one commit: after the first kill and
        // restart, several commits must remain for the second kill to land mid-stream.
        let total = 60_000
        let branch = try NodeStore.open(directory: branchData, actor: actor)
        let regions = CustomerCode.regions.keys.sorted()
        var index = 0
        while index < total {
            try branch.batch { writer in
                for i in index..<min(index + 2000, total) {
                    let code = regions[i / 10_000] + String(format: "%04d", i % 10_000)
                    try writer.create(
                        .customers, values: ["code": code, "name": "客户\(i)", "creditCode": "914403001922038216"])
                }
            }
            index += 2000
        }

        func hubApplied() -> Int64 {
            Int64((try? NodeStore.open(directory: hubData, actor: actor).counts()[.customers]?.live) ?? 0)
        }

        // 1. Kill the branch once the hub has applied some but not all batches.
        var branchDaemon = try Daemon(["run"], data: branchData, log: directory.file("bj01.log"))
        #expect(waitUntil { hubApplied() > 0 })
        branchDaemon.kill9()
        let afterBranchKill = hubApplied()
        #expect(afterBranchKill < Int64(total), "sync finished before the kill; the test needs more records")

        // 2. Restart the branch, then kill the hub mid-stream.
        branchDaemon = try Daemon(["run"], data: branchData, log: directory.file("bj01.log"))
        #expect(waitUntil { hubApplied() > afterBranchKill })
        hub.kill9()
        let afterHubKill = hubApplied()
        #expect(afterHubKill < Int64(total), "sync finished before the hub was killed; the test needs more records")

        // 3. Restart the hub on the same port; the branch reconnects by itself and finishes.
        hub = try Daemon(["run", "--listen", "127.0.0.1:\(port)"], data: hubData, log: hubLog)
        #expect(
            waitUntil(timeout: 120) { hubApplied() == Int64(total) },
            "stuck at \(hubApplied()) after restarts (kills at \(afterBranchKill), \(afterHubKill))")
        branchDaemon.terminate()
        let final = try runBinary(["sync", "--once"], data: branchData)
        #expect(final.status == 0, "\(final.err)")
        hub.terminate()

        let hubStore = try NodeStore.open(directory: hubData, actor: actor)
        let customers = try hubStore.records(in: .customers)
        #expect(customers.count == total)
        #expect(Set(customers.compactMap { $0["code"] }).count == total)
        #expect(try hubStore.allRecords().map(\.canonicalJSON) == branch.allRecords().map(\.canonicalJSON))
        #expect(try hubStore.quarantined().isEmpty)
    }
}

@Suite(.serialized) struct GroupCommitCrashTests {
    /// The hub commits the batches of one turn of its session loop together and sends their `ACK`s only after that
    /// commit. Killed right before it, the hub acknowledged nothing (so the branch still owes every change, and keeps
    /// whatever a purge would otherwise have taken); restarted, it receives the same changes again and loses none.
    @Test func aHubKilledBeforeItsGroupCommitAcknowledgedNothingAndTheChangesArriveAfterItsRestart() throws {
        let directory = TemporaryDirectory()
        let hubData = directory.file("hq")
        let branchData = directory.file("bj01")
        let actor = AuditActor(user: "t", origin: "t")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: hubData)
        _ = cli(["site", "add", "bj01", "--secret-file", directory.file("bj01.secret")], data: hubData)
        let hubLog = directory.file("hq.log")
        let crashing = try Daemon(
            ["run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port")], data: hubData, log: hubLog,
            environment: ["BRANCHSYNC_TEST_CRASH_AT": "before-group-commit"])
        let port = try #require(portWritten(to: directory.file("port")), "the hub did not start")
        initBranch("bj01", data: branchData, port: port, directory: directory)
        for (index, code) in ["110001", "110002", "110003"].enumerated() {
            let added = cli(
                ["customer", "add", "--code", code, "--name", "客户\(index)", "--credit-code", "91110000802100433B"],
                data: branchData)
            #expect(added.status == 0, "\(added.err)")
        }

        let first = try runBinary(["sync", "--once"], data: branchData)
        #expect(first.status != 0, "the sync should have failed with the hub: \(first.out)")
        #expect(waitUntil(timeout: 20) { !crashing.process.isRunning }, "the hub did not stop before its commit")
        if crashing.process.isRunning { crashing.kill9() }
        #expect(crashing.process.terminationReason == .uncaughtSignal && crashing.process.terminationStatus == SIGKILL)
        let hubID = try SiteID("hq")
        #expect(try NodeStore.open(directory: branchData, actor: actor).peer(hubID)?.ackedCursor == 0)
        #expect(try NodeStore.open(directory: hubData, actor: actor).counts()[.customers]?.live ?? 0 == 0)

        let hub = try Daemon(["run", "--listen", "127.0.0.1:\(port)"], data: hubData, log: hubLog)
        defer { hub.terminate() }
        #expect(waitUntil { (try? runBinary(["sync", "--once"], data: branchData).status) == 0 })
        #expect(try NodeStore.open(directory: hubData, actor: actor).counts()[.customers]?.live == 3)
        let branch = try NodeStore.open(directory: branchData, actor: actor)
        #expect(try branch.peer(hubID)?.ackedCursor == branch.lastSeq())
    }
}

extension GroupCommitCrashTests {
    /// A group commit that fails (a full disk) stored nothing of its turn, so nothing of the turn is sent: the branch
    /// gets `TRY_LATER` instead of an `ACK`, the hub keeps serving, and the next sync delivers everything.
    @Test func aFailedGroupCommitAnswersTryLaterAndTheNextSyncDeliversEverything() throws {
        let directory = TemporaryDirectory()
        let hubData = directory.file("hq")
        let branchData = directory.file("bj01")
        let actor = AuditActor(user: "t", origin: "t")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: hubData)
        _ = cli(["site", "add", "bj01", "--secret-file", directory.file("bj01.secret")], data: hubData)
        let hub = try Daemon(
            ["run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port")], data: hubData,
            log: directory.file("hq.log"), environment: ["BRANCHSYNC_TEST_FAIL_ONCE_AT": "before-group-commit"])
        defer { hub.terminate() }
        let port = try #require(portWritten(to: directory.file("port")), "the hub did not start")
        initBranch("bj01", data: branchData, port: port, directory: directory)
        let added = cli(
            ["customer", "add", "--code", "110001", "--name", "客户", "--credit-code", "91110000802100433B"],
            data: branchData)
        #expect(added.status == 0, "\(added.err)")

        let first = try runBinary(["sync", "--once"], data: branchData)
        #expect(first.status != 0)
        #expect(first.err.contains("TRY_LATER") && first.err.contains("could not store"), "\(first.err)")
        #expect(hub.process.isRunning)
        let hubID = try SiteID("hq")
        #expect(try NodeStore.open(directory: branchData, actor: actor).peer(hubID)?.ackedCursor == 0)
        #expect(try NodeStore.open(directory: hubData, actor: actor).counts()[.customers]?.live == 0)

        let second = try runBinary(["sync", "--once"], data: branchData)
        #expect(second.status == 0, "\(second.err)")
        #expect(try NodeStore.open(directory: hubData, actor: actor).counts()[.customers]?.live == 1)
        let log = (try? String(contentsOfFile: directory.file("hq.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("cannot store what the sessions received"), "\(log)")
    }
}

@Suite(.serialized) struct LivePushTests {
    /// A customer added with the CLI while both daemons run reaches the other branch at once: the CLI pokes its
    /// daemon, which pushes; the hub relays. The daemons' own checks run only every 60 s here, so only the pokes
    /// and the live push can deliver it in time.
    @Test func aCLIWriteReachesAnotherBranchWithoutWaitingForAPeriodicCheck() throws {
        let directory = TemporaryDirectory()
        let hubData = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: hubData)
        _ = cli(["site", "add", "bj01", "--secret-file", directory.file("bj01.secret")], data: hubData)
        _ = cli(["site", "add", "sh01", "--secret-file", directory.file("sh01.secret")], data: hubData)
        let hub = try Daemon(
            ["run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port"), "--check-interval", "60"],
            data: hubData, log: directory.file("hq.log"))
        let port = try #require(portWritten(to: directory.file("port")), "the hub did not start")
        var daemons: [Daemon] = [hub]
        for site in ["bj01", "sh01"] {
            initBranch(site, data: directory.file(site), port: port, directory: directory)
            daemons.append(
                try Daemon(
                    ["run", "--check-interval", "60"], data: directory.file(site), log: directory.file("\(site).log")))
        }
        let actor = AuditActor(user: "t", origin: "t")
        #expect(
            eventually(timeout: 20) {
                (try? NodeStore.open(directory: hubData, actor: actor).peers().allSatisfy(\.online)) == true
            })
        Thread.sleep(forTimeInterval: 0.5)
        let added = try runBinary(
            ["customer", "add", "--code", "110001", "--name", "北京华信科技有限公司", "--credit-code", "91110000802100433B"],
            data: directory.file("bj01"))
        let id = try RecordID(added.out.trimmingCharacters(in: .whitespacesAndNewlines))
        let sh = try NodeStore.open(directory: directory.file("sh01"), actor: actor)
        #expect(eventually(timeout: 10) { (try? sh.record(id)) != nil })
        for daemon in daemons.reversed() { daemon.terminate() }
        #expect(daemons.allSatisfy { $0.process.terminationStatus == 0 })
    }
}

@Suite(.serialized) struct DaemonLockTests {
    @Test func aSecondDaemonOnTheSameDataDirectoryIsRefused() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: data)
        let first = try Daemon(
            ["run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port")], data: data,
            log: directory.file("hq.log"))
        #expect(eventually { FileManager.default.fileExists(atPath: directory.file("port")) })
        let second = try runBinary(["run", "--listen", "127.0.0.1:0"], data: data)
        #expect(second.status == 1)
        #expect(
            second.err
                == "branchsync: error: another 'branchsync run' is already using \(data) (process \(first.process.processIdentifier)); stop it first\n"
        )
        first.kill9()
        // The kernel released the lock with the process: a new daemon starts.
        let third = try Daemon(["run", "--listen", "127.0.0.1:0"], data: data, log: directory.file("hq.log"))
        Thread.sleep(forTimeInterval: 0.5)
        #expect(third.process.isRunning)
        third.terminate()
        #expect(third.process.terminationStatus == 0)
    }
}

@Suite(.serialized) struct TLSCommandLineTests {
    static func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/tls/\(name)").path
    }

    /// `run --tls-cert/--tls-key` on the hub and `init --tls-ca` on the branch: sync --once over TLS between real
    /// processes.
    @Test func aBranchSyncsWithATLSHub() throws {
        let directory = TemporaryDirectory()
        let hubData = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: hubData)
        _ = cli(["site", "add", "bj01", "--secret-file", directory.file("bj01.secret")], data: hubData)
        let hub = try Daemon(
            [
                "run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port"), "--tls-cert",
                Self.fixture("hub.pem"), "--tls-key", Self.fixture("hub.key"),
            ], data: hubData, log: directory.file("hq.log"))
        #expect(eventually { FileManager.default.fileExists(atPath: directory.file("port")) })
        let port = try String(contentsOfFile: directory.file("port"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let branchData = directory.file("bj01")
        let initResult = cli(
            [
                "init", "--site", "bj01", "--role", "branch", "--hub", "127.0.0.1:\(port)", "--secret-file",
                directory.file("bj01.secret"), "--tls-ca", Self.fixture("ca.pem"),
            ], data: branchData)
        #expect(initResult.status == 0, "\(initResult.err)")
        _ = cli(
            ["customer", "add", "--code", "110001", "--name", "甲", "--credit-code", "91110000802100433B"],
            data: branchData)
        let synced = try runBinary(["sync", "--once"], data: branchData)
        #expect(synced.status == 0, "\(synced.err)")
        #expect(synced.out.hasPrefix("caught up with the hub: sent 1"))
        hub.terminate()
        let log = try String(contentsOfFile: directory.file("hq.log"), encoding: .utf8)
        #expect(log.contains("(TLS)"))
    }

    @Test func tlsOptionsAreChecked() {
        let directory = TemporaryDirectory()
        let notPEM = directory.write("ca.pem", "not a certificate\n")
        let hub = cli(["init", "--site", "hq", "--role", "hub", "--tls-ca", notPEM], data: directory.file("hq"))
        #expect(hub.err == "branchsync: error: --tls-ca is for branches; a hub uses run --tls-cert\n")
        #expect(!FileManager.default.fileExists(atPath: directory.file("hq")))
        let branch = cli(
            ["init", "--site", "bj01", "--role", "branch", "--tls-ca", notPEM], data: directory.file("bj01"))
        #expect(branch.err == "branchsync: error: \(notPEM): the TLS CA file holds no PEM certificate\n")
        #expect(!FileManager.default.fileExists(atPath: directory.file("bj01")))
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: directory.file("hq2"))
        let run = cli(["run", "--tls-cert", Self.fixture("hub.pem")], data: directory.file("hq2"))
        #expect(run.err == "branchsync: error: --tls-cert and --tls-key go together\n")
    }
}
