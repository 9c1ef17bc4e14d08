import BranchSyncTestSupport
import Foundation
import Testing

/// `branchsync run` stops on SIGTERM whatever signal mask it was started with: a process inherits its parent's
/// blocked signals, and a supervisor (or a test runner's worker thread) may block SIGTERM.
@Suite struct DaemonSignalTests {
    @Test func aDaemonStartedWithSIGTERMBlockedStillStopsOnIt() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        #expect(cli(["init", "--site", "hq", "--role", "hub"], data: data).status == 0)
        // Python blocks SIGTERM, then becomes the daemon (exec keeps the mask).
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            "-c",
            "import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT}); "
                + "os.execv(sys.argv[1], sys.argv[1:])",
            branchsyncBinary().path, "--data", data, "run", "--listen", "127.0.0.1:0",
        ]
        let log = FileHandle(forWritingAtPath: directory.write("hq.log", "")) ?? .standardError
        process.standardOutput = log
        process.standardError = log
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        // SIGTERM as early as it can come: once Python has become the daemon, before the daemon has set anything up
        // (blocked, it waits; unblocked by the daemon, it ends it before it serves).
        let binary = branchsyncBinary().resolvingSymlinksInPath().path
        #expect(
            eventually(timeout: 20, poll: 0.0005) {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.processIdentifier)/exe"))
                    == binary || !process.isRunning
            })
        kill(process.processIdentifier, SIGTERM)
        #expect(eventually(timeout: 15) { !process.isRunning }, "still running after SIGTERM")
    }
}
