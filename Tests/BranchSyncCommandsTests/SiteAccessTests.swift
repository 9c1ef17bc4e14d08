import BranchSyncCore
import BranchSyncStore
import Foundation
import Testing

@Suite(.serialized) struct SiteAccessTests {
    /// A refused `site add` or `site rotate-secret` leaves the secret file as it was (it may hold the secret that
    /// works); a successful rotation replaces it, mode 0600.
    @Test func aRefusedSecretChangeLeavesTheSecretFileAlone() throws {
        let directory = TemporaryDirectory()
        let hub = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: hub)
        let file = directory.file("bj01.secret")
        #expect(cli(["site", "add", "bj01", "--secret-file", file], data: hub).status == 0)
        let original = try String(contentsOfFile: file, encoding: .utf8)
        let again = cli(["site", "add", "bj01", "--secret-file", file], data: hub)
        #expect(again.status != 0 && again.err.contains("already enrolled"), "\(again.err)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == original, "a refused add replaced the secret")

        #expect(cli(["site", "rotate-secret", "bj01", "--secret-file", file], data: hub).status == 0)
        let rotated = try String(contentsOfFile: file, encoding: .utf8)
        #expect(rotated != original && rotated.count == original.count)
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(cli(["site", "revoke", "bj01"], data: hub).status == 0)
        let refused = cli(["site", "rotate-secret", "bj01", "--secret-file", file], data: hub)
        #expect(refused.status != 0, "\(refused.out)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == rotated, "a refused rotation replaced the secret")
        #expect(!FileManager.default.fileExists(atPath: file + ".new"))
        let nowhere = cli(["site", "add", "sh01", "--secret-file", "/nonexistent/sh01.secret"], data: hub)
        #expect(nowhere.status == 1 && nowhere.err.contains("nothing was changed"), "\(nowhere.err)")
        #expect(
            try NodeStore.open(directory: hub, actor: AuditActor(user: "t", origin: "t")).peer(try SiteID("sh01"))
                == nil)
    }

    /// `site disable` ends bj01's connected session at once and refuses its logins until `site enable`;
    /// `site rotate-secret` makes the old secret useless until the branch joins with the new one; `site revoke` is for
    /// good. Each is in the hub's audit trail and its status.
    @Test func disablingRotatingAndRevokingTakeEffectAtOnce() throws {
        let group = try GroupFixture(branches: ["bj01"])
        let site = try SiteID("bj01")
        func online() -> Bool { (try? group.store("hq").peer(site)?.online) == true }
        func syncs() throws -> RunResult { try runBinary(["sync", "--once"], data: group.data("bj01")) }

        let branch = try Daemon(["run"], data: group.data("bj01"), log: group.directory.file("bj01.log"))
        defer { branch.terminate() }
        #expect(waitUntil(timeout: 30) { online() }, "bj01 connected")
        #expect(group.run("hq", ["site", "disable", "bj01"]).status == 0)
        #expect(waitUntil(timeout: 30) { !online() }, "the disabled site's session ended")
        let refused = try syncs()
        #expect(refused.status != 0 && refused.err.contains("site bj01 is disabled at the hub"), "\(refused.err)")
        #expect(group.run("hq", ["status"]).out.contains("bj01 disabled at"))
        // A disabled site is told to try later, so its running daemon comes back by itself once enabled.
        #expect(group.run("hq", ["site", "enable", "bj01"]).status == 0)
        #expect(waitUntil(timeout: 60) { online() }, "the daemon reconnected after enable")
        branch.terminate()
        #expect(try syncs().status == 0, "enabled again")

        let secretFile = group.directory.file("bj01-new.secret")
        #expect(group.run("hq", ["site", "rotate-secret", "bj01", "--secret-file", secretFile]).status == 0)
        let oldSecret = try syncs()
        #expect(oldSecret.status != 0 && oldSecret.err.contains("authentication failed"), "\(oldSecret.err)")
        let joined = group.run("bj01", ["join", "--hub", "127.0.0.1:\(group.port)", "--secret-file", secretFile])
        #expect(joined.status == 0, "\(joined.err)")
        #expect(try syncs().status == 0, "the new secret works")

        #expect(group.run("hq", ["site", "revoke", "bj01"]).status == 0)
        let revoked = try syncs()
        #expect(revoked.status != 0 && revoked.err.contains("authentication failed"), "\(revoked.err)")
        let enable = group.run("hq", ["site", "enable", "bj01"])
        #expect(enable.status == 1 && enable.err.contains("revoked"), "\(enable.err)")
        #expect(group.run("hq", ["status"]).out.contains("bj01 revoked at"))
        let actions = (try group.json("hq", ["audit", "--site", "hq"]) as? [[String: Any]] ?? []).compactMap {
            $0["action"] as? String
        }
        for action in ["site-disable", "site-enable", "site-rotate-secret", "site-revoke"] {
            #expect(actions.contains(action), "\(action) in \(actions)")
        }
    }
}
