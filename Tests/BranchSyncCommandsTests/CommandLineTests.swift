import BranchSyncCore
import BranchSyncStore
import Foundation
import Testing

@testable import BranchSyncCommands

let huawei = "914403001922038216"
let tencent = "9144030071526726XG"

@Suite struct CommandLineTests {
    @Test func initThenAddPrintsTheNewID() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("bj01")
        let initResult = cli(["init", "--site", "bj01", "--role", "branch", "--hub", "127.0.0.1:7700"], data: data)
        #expect(initResult.status == 0)
        #expect(initResult.out == "initialised branch bj01 in \(data) (hub 127.0.0.1:7700)\n")
        #expect(cli(["export", "--json"], data: data).out == "[]\n")
        let add = cli(
            ["customer", "add", "--code", "440300", "--name", "华为技术有限公司", "--credit-code", huawei], data: data)
        #expect(add.status == 0, "\(add.err)")
        let id = try RecordID(add.out.trimmingCharacters(in: .newlines))
        let show = cli(["customer", "show", id.description, "--json"], data: data)
        #expect(show.out.hasPrefix(#"{"id":"\#(id)","collection":"customers","owner":"bj01","deleted":false"#))
    }

    @Test func badValuesAreRefusedWithOneClearLineAndExitCode3() {
        let directory = TemporaryDirectory()
        let data = directory.file("bj01")
        _ = cli(["init", "--site", "bj01", "--role", "branch"], data: data)
        let cases: [([String], String)] = [
            (
                ["--code", "440300", "--name", "x", "--credit-code", "914403001922038217"],
                "credit code '914403001922038217' has check character '7', expected '6'"
            ),
            (
                ["--code", "990300", "--name", "x", "--credit-code", huawei],
                "customer code '990300' starts with '99', which is not a region code (GB/T 2260 province codes, e.g. 11 Beijing, 31 Shanghai, 44 Guangdong)"
            ),
            (
                ["--code", "440300", "--name", "x", "--credit-code", huawei, "--phone", "1234"],
                "phone '1234' is neither a mobile number (11 digits starting 13-19, e.g. 13812345678) nor a landline with area code (e.g. 010-12345678 or 0755-1234567-8001)"
            ),
            (["--code", "440300", "--name", "x", "--credit-code", ""], "credit-code is required for a customer"),
            (
                ["--code", "440300", "--name", "x", "--credit-code", huawei, "--class", "top-secret"],
                "class 'top-secret' is not one of: public, internal, confidential, secret"
            ),
        ]
        for (arguments, message) in cases {
            let result = cli(["customer", "add"] + arguments, data: data)
            #expect(result.status == 3)
            #expect(result.err == "branchsync: error: \(message)\n")
            #expect(result.out.isEmpty)
        }
        #expect(cli(["customer", "list", "--json"], data: data).out == "[]\n")
    }

    /// `run --port-file` on a path that cannot be written stops at start with one line (it used to run on without
    /// the file, and a script waiting for the port waited forever).
    @Test func aHubWhosePortFileCannotBeWrittenStopsAtStart() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: data)
        let hub = try Daemon(
            ["run", "--listen", "127.0.0.1:0", "--port-file", directory.file("missing/port")], data: data,
            log: directory.file("hq.log"))
        defer { hub.terminate() }
        #expect(waitUntil(timeout: 20) { !hub.process.isRunning }, "the hub stopped")
        #expect(hub.process.terminationStatus == 1)
        let log = (try? String(contentsOfFile: directory.file("hq.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("cannot write --port-file"), "\(log)")
    }

    @Test func usageErrorsExitWith2() {
        let directory = TemporaryDirectory()
        let data = directory.file("n")
        let cases: [([String], String)] = [
            (
                ["custmer"],
                "unknown command 'custmer' for 'branchsync'; expected one of: demo, init, site, join, run, sync, status, verify, customer, document, import, export, log, conflicts, quarantine, suspicious, report, retention, destroy, destruction, handover, backup, restore, check, gc, audit, version"
            ),
            (
                ["customer", "add", "--colour", "red"],
                "unknown option --colour for 'branchsync customer add'; see 'branchsync customer add --help'"
            ),
            (["customer", "show"], "missing ID for 'branchsync customer show'; see 'branchsync customer show --help'"),
            (["init", "--site", "bj01"], "missing --role for 'branchsync init'"),
            (["init", "--site", "bj01", "--role", "spoke"], "--role must be hub or branch, got 'spoke'"),
            (
                ["init", "--site", "hq", "--role", "hub", "--hub", "x:1"],
                "--hub is for branches; a hub listens with 'run --listen'"
            ),
            (
                ["init", "--site", "bj01", "--role", "branch", "--hub", "nohost"],
                "--hub must be HOST:PORT with a port from 1 to 65535, got 'nohost'"
            ),
            (["log", "--since", "-3"], "--since must be a whole number, got '-3'"),
            (["export"], "choose an output format: export --json"),
            (
                ["customer", "add", "--name", "x", "--credit-code", "91110000802100433B"],
                "--code is required for a customer; see 'branchsync customer add --help'"
            ),
            (["run", "--listen", "nonsense"], "--listen: 'nonsense' is not HOST:PORT"),
        ]
        for (arguments, message) in cases {
            let result = cli(arguments, data: data)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.err == "branchsync: error: \(message)\n")
        }
        let group = cli(["customer"], data: data)
        #expect(group.status == 2)
        #expect(group.err.contains("usage: branchsync customer <command>"))
    }

    @Test func commandsOnAMissingNodeSayHowToCreateOne() {
        let directory = TemporaryDirectory()
        let result = cli(["customer", "list"], data: directory.file("none"))
        #expect(result.status == 1)
        #expect(result.err.contains("run `branchsync init --site ID --role hub|branch` first"))
    }

    @Test func invalidSiteIDsAreRefused() {
        let directory = TemporaryDirectory()
        let result = cli(["init", "--site", "BJ_01", "--role", "branch"], data: directory.file("x"))
        #expect(result.status == 3)
        #expect(result.err == "branchsync: error: site id 'BJ_01' may contain only lowercase letters, digits and '-'\n")
    }

    /// `--help` is true at every level: each command's help lists exactly the options its parser accepts.
    /// Options are only parsed here, never run.
    @Test func helpIsTrueAtEveryLevel() throws {
        let directory = TemporaryDirectory()
        let parser = CommandParser(root: BranchSyncTool.root)
        func visit(_ command: CommandSpec, path: [String]) throws {
            let help = cli(path + ["--help"], data: directory.file("h"))
            #expect(help.status == 0, "\(path)")
            #expect(help.out.contains("usage: branchsync"), "\(path)")
            for sub in command.subcommands {
                #expect(help.out.contains("  \(sub.name)"), "\(path) help lacks \(sub.name)")
                try visit(sub, path: path + [sub.name])
            }
            for option in command.options {
                #expect(help.out.contains("--\(option.name)"), "\(path) help lacks --\(option.name)")
                var arguments = path + ["--\(option.name)"]
                if option.valueName != nil { arguments.append("x") }
                arguments += command.arguments.filter { !$0.isOptional }.map { _ in "x" }
                guard command.run != nil else { continue }
                guard case .run(let parsed, _) = try parser.parse(arguments, environment: [:], console: .capturing())
                else {
                    Issue.record("\(arguments) did not parse to a command")
                    continue
                }
                #expect(parsed.name == command.name)
            }
        }
        try visit(BranchSyncTool.root, path: [])
    }

    /// `log` lists the newest changes first, at most `--limit`; `--since` pages oldest first. `customer show` takes a
    /// customer's code as well as its id.
    @Test func logIsNewestFirstAndCustomersAreFoundByCode() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("n")
        _ = cli(["init", "--site", "bj01", "--role", "branch", "--hub", "127.0.0.1:1"], data: data)
        var ids: [String] = []
        for (code, credit) in [
            ("110001", "91110000802100433B"), ("310001", "91310000132200821H"), ("330001", "91330100716105852F"),
        ] {
            let added = cli(
                ["customer", "add", "--code", code, "--name", "客户\(code)", "--credit-code", credit], data: data)
            ids.append(added.out.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        func records(_ arguments: [String]) throws -> [String] {
            let parsed = try JSONSerialization.jsonObject(with: Data(cli(arguments, data: data).out.utf8))
            return ((parsed as? [[String: Any]]) ?? []).compactMap {
                ($0["record"] as? [String: Any])?["id"] as? String
            }
        }
        let customers = try records(["log", "--json", "--limit", "10"]).filter { ids.contains($0) }
        #expect(customers == ids.reversed(), "newest first")
        #expect(try records(["log", "--json", "--limit", "1"]).count == 1)
        #expect(
            try records(["log", "--since", "0", "--json"]).filter { ids.contains($0) } == ids, "paging: oldest first")
        let shown = cli(["customer", "show", "310001", "--json"], data: data)
        #expect(shown.status == 0 && shown.out.contains(ids[1]), "\(shown.err)")
        let unknown = cli(["customer", "show", "440001"], data: data)
        #expect(unknown.status == 1 && unknown.err.contains("no live customer with code 440001"))
    }

    @Test func updateDeleteAndAttachmentsEndToEnd() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: data)
        let customer = cli(
            ["customer", "add", "--code", "440300", "--name", "腾讯科技", "--credit-code", tencent], data: data
        )
        .out.trimmingCharacters(in: .newlines)
        let update = cli(["customer", "update", customer, "--phone", "0755-86013388", "--notes", ""], data: data)
        #expect(update.out == "updated customer \(customer): phone\n")
        #expect(
            cli(["customer", "update", customer, "--phone", "0755-86013388"], data: data).out
                == "customer \(customer): no change\n")
        let file = directory.write("quote.txt", "报价 100 万元")
        let document = cli(
            [
                "document", "add", "--title", "报价单", "--kind", "market", "--type", "quotation", "--customer-id",
                customer, "--file", file,
            ],
            data: data
        ).out.trimmingCharacters(in: .newlines)
        let copy = directory.file("copy.txt")
        let saved = cli(["document", "attachment", document, "--output", copy], data: data)
        #expect(saved.status == 0, "\(saved.err)")
        #expect(try String(contentsOfFile: copy, encoding: .utf8) == "报价 100 万元")
        #expect(cli(["customer", "delete", customer], data: data).out == "deleted customer \(customer)\n")
        let again = cli(["customer", "delete", customer], data: data)
        #expect(again.status == 1)
        #expect(again.err == "branchsync: error: customer \(customer) is deleted\n")
        #expect(cli(["customer", "list"], data: data).out.hasSuffix("0 customers\n"))
        #expect(cli(["customer", "list", "--include-deleted"], data: data).out.hasSuffix("1 customer\n"))
        let audit = cli(["audit", "--record", customer, "--json"], data: data).out
        #expect(audit.contains(#""action":"delete""#) && audit.contains(#""actor":"tester""#))
        let wrongKind = cli(["document", "show", customer], data: data)
        #expect(wrongKind.err == "branchsync: error: no document with id \(customer) on this node\n")
    }

    @Test func exportIsByteIdenticalOnReplicasHoldingTheSameRecords() throws {
        let directory = TemporaryDirectory()
        let a = directory.file("bj01")
        let b = directory.file("hq")
        _ = cli(["init", "--site", "bj01", "--role", "branch"], data: a)
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: b)
        for (code, credit) in [("440300", huawei), ("440301", tencent)] {
            _ = cli(["customer", "add", "--code", code, "--name", "公司 \(code)", "--credit-code", credit], data: a)
        }
        let first = cli(["customer", "list", "--json"], data: a).out
        let id = try RecordID(String(first.split(separator: "\"")[3]))
        _ = cli(["customer", "delete", id.description], data: a)
        let source = try NodeStore.open(directory: a, actor: AuditActor(user: "t", origin: "t"))
        let target = try NodeStore.open(directory: b, actor: AuditActor(user: "t", origin: "t"))
        // Deliver in reverse log order: order must not matter.
        try target.apply(try source.changes(after: 0).map(\.state).reversed(), from: try SiteID("bj01"))
        let exportA = cli(["export", "--json"], data: a)
        let exportB = cli(["export", "--json"], data: b)
        #expect(exportA.status == 0)
        #expect(exportA.out == exportB.out)
        #expect(exportA.out.contains(#""deleted":true"#))
        #expect(exportA.out.split(separator: "\n").count == 4)
    }
}

@Suite struct SyncCommandLineTests {
    @Test func statusReportsLagConflictsQuarantineAndClockSkew() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: data)
        let added = cli(["site", "add", "bj01"], data: data)
        #expect(added.out.hasPrefix("enrolled bj01 (clearance internal); its secret (shown once, keep it safe):\n"))
        #expect(added.out.split(separator: "\n").last?.count == 64)
        _ = cli(["site", "add", "gz01", "--class-access", "confidential"], data: data)
        let secret = cli(["site", "add", "xx01", "--class-access", "secret"], data: data)
        #expect(
            secret.err
                == "branchsync: error: secret records go only to their owner and the hub; grant at most confidential\n")
        _ = cli(
            ["customer", "add", "--code", "110001", "--name", "甲", "--credit-code", "91110000802100433B"], data: data)
        let store = try NodeStore.open(directory: data, actor: AuditActor(user: "t", origin: "t"))
        try store.recordSessionStart(try SiteID("gz01"), software: "0.1.0", clockSkewMilliseconds: 9_000)
        let json = cli(["status", "--json"], data: data).out
        #expect(
            json.contains(
                #""site":"bj01","role":"branch","clearance":"internal","online":false,"state":"never connected""#))
        #expect(
            json.contains(#""toSite":1,"#) && json.contains(#""caughtUp":false,"notCaughtUpBecause":"never synced""#))
        // gz01 has nothing waiting but never synced: not caught up.
        #expect(json.contains(#""site":"gz01","role":"branch","clearance":"confidential","online":true"#))
        #expect(!json.contains(#""caughtUp":true"#))
        #expect(json.contains(#""clockSkewMs":9000,"clockSkewWarning":true"#))
        let text = cli(["status"], data: data).out
        #expect(text.contains("9000 ms (WARNING: beyond 5000 ms)"))
        #expect(text.contains("2 site(s), 1 online, 0 caught up both ways"))
        // The default fits 80 columns (the reasons go on lines of their own); --wide has the verify column.
        let tableLines = text.split(separator: "\n").prefix { !$0.contains("site(s),") }
        #expect(tableLines.allSatisfy { $0.count <= 80 }, "\(tableLines.filter { $0.count > 80 })")
        #expect(text.contains("bj01: not caught up: never synced"))
        #expect(cli(["status", "--wide"], data: data).out.contains("verified"))
        let grant = cli(["site", "grant", "bj01", "--class-access", "confidential"], data: data)
        #expect(
            grant.out
                == "bj01: clearance internal -> confidential; records are backfilled or purged at once if it is "
                + "connected, otherwise at its next sync\n")
        #expect(cli(["site", "grant", "zz01", "--class-access", "public"], data: data).status == 1)
    }

    /// `status --watch` says when each refresh was made.
    @Test func watchedStatusShowsTheRefreshTime() {
        #expect(
            StatusCommand.watchHeader(at: "2026-11-24T19:51:38.123Z", interval: 2)
                == "refreshed 2026-11-24 19:51:38 UTC, every 2 s (Ctrl-C stops)\n")
    }

    @Test func aSiteThatNeverSyncedIsNotCaughtUp() {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: data)
        _ = cli(["site", "add", "bj01"], data: data)
        let json = cli(["status", "--json"], data: data).out
        #expect(json.contains(#""toSite":0,"#) && json.contains(#""fromSite":0,"#))
        #expect(json.contains(#""caughtUp":false,"notCaughtUpBecause":"never synced""#))
        #expect(cli(["status"], data: data).out.hasSuffix("1 site(s), 0 online, 0 caught up both ways\n"))
    }

    /// Conflicts name each side by site, value and the write's time in UTC, not by raw stamps.
    @Test func conflictSidesReadAsSiteValueAndTime() {
        #expect(
            ConflictsCommand.side("13900000001", "bj01:1795546084362@1795546084362.0")
                == "bj01 13900000001, 2026-11-24 18:48:04")
        #expect(ConflictsCommand.side("", "hq:7@1700000000000.2") == "hq (cleared), 2023-11-14 22:13:20")
    }

    @Test func conflictResolveChecksItsArguments() {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        _ = cli(["init", "--site", "hq", "--role", "hub"], data: data)
        #expect(
            cli(["conflicts", "resolve", "1", "--take", "sideways"], data: data).err
                == "branchsync: error: --take must be kept, lost, local or remote, got 'sideways'\n")
        #expect(
            cli(["conflicts", "resolve", "1"], data: data).err
                == "branchsync: error: give either --take kept|lost or --set FIELD=VALUE\n")
        #expect(
            cli(["conflicts", "resolve", "7", "--take", "local"], data: data).err
                == "branchsync: error: no conflict #7 on this node\n")
    }

    @Test func branchCommandsExplainWhatIsMissing() {
        let directory = TemporaryDirectory()
        let data = directory.file("bj01")
        _ = cli(["init", "--site", "bj01", "--role", "branch"], data: data)
        let sync = cli(["sync", "--once"], data: data)
        #expect(sync.status == 1)
        #expect(
            sync.err
                == "branchsync: error: sync failed: this branch has no hub address; run 'branchsync join --hub HOST:PORT --secret-file FILE'\n"
        )
        #expect(cli(["sync"], data: data).status == 2)
        let badSecret = directory.write("bad.secret", "not hex\n")
        #expect(
            cli(["join", "--hub", "127.0.0.1:7700", "--secret-file", badSecret], data: data).err
                == "branchsync: error: \(badSecret) does not hold a BranchSync secret (64 hex digits, as 'site add' prints)\n"
        )
    }
}
