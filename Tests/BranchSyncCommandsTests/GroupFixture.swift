import BranchSyncCore
import BranchSyncStore
import Foundation
import Testing

/// A hub running as a real process (`branchsync run`) with branches that sync with `branchsync sync --once`, each
/// in its own data directory: the setting of the group duties' end-to-end tests.
final class GroupFixture {
    let directory = TemporaryDirectory()
    let hub: Daemon
    let port: UInt16
    let actor = AuditActor(user: "t", origin: "t")

    var hubData: String { directory.file("hq") }

    init(branches: [String]) throws {
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: directory.file("hq"))
        for site in branches {
            _ = cli(
                ["site", "add", site, "--secret-file", directory.file("\(site).secret")], data: directory.file("hq"))
        }
        hub = try Daemon(
            ["run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port")], data: directory.file("hq"),
            log: directory.file("hq.log"))
        port = try #require(portWritten(to: directory.file("port")), "the hub did not start")
        for site in branches {
            let result = initBranch(site, data: directory.file(site), port: port, directory: directory)
            #expect(result.status == 0, "\(result.err)")
        }
    }

    deinit { hub.terminate() }

    /// The data directory of `site` ("hq" for the hub).
    func data(_ site: String) -> String { directory.file(site) }

    /// Runs the CLI at `site` (in-process); `actor` names the user in the audit trail.
    @discardableResult
    func run(_ site: String, _ arguments: [String], actor: String = "tester") -> RunResult {
        cli(arguments, data: data(site), environment: ["BRANCHSYNC_ACTOR": actor])
    }

    /// Runs a command's `--json` at `site` and parses it.
    func json(_ site: String, _ arguments: [String]) throws -> Any {
        let result = run(site, arguments + ["--json"])
        try #require(result.status == 0, "\(arguments.joined(separator: " ")) at \(site): \(result.err)")
        return try JSONSerialization.jsonObject(with: Data(result.out.utf8))
    }

    /// One full sync of `site` with the hub, through the built binary.
    func sync(_ site: String) throws {
        let result = try runBinary(["sync", "--once"], data: data(site))
        #expect(result.status == 0, "sync of \(site): \(result.err)")
    }

    /// Opens a node's store (to check what it holds).
    func store(_ site: String) throws -> NodeStore {
        try NodeStore.open(directory: data(site), actor: actor)
    }
}
