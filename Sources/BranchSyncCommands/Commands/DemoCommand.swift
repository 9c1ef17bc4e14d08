import BranchSyncCore
import BranchSyncNode
import BranchSyncStore
import Foundation

/// `branchsync demo`: a hub and three branches as real processes on this machine, real TCP, real SQLite files.
enum DemoCommand {
    static let spec = CommandSpec(
        name: "demo",
        abstract: "run a hub and three branches on this machine and show sync, conflicts and status",
        discussion: """
            Starts 'branchsync run' processes for hub hq and branches bj01, sh01 (internal clearance) and gz01 \
            (confidential clearance) on 127.0.0.1, writes sample customers and documents at each branch, takes sh01 \
            offline, edits the same customer on both sides, reconnects, resolves the conflict, prints the hub's status, \
            and verifies that every branch's 'export --json' equals the hub's records within that branch's scope. \
            Exits 1 if anything did not converge.
            """,
        options: [
            OptionSpec(
                "dir", value: "DIR",
                help: "keep the nodes' data here (default: a temporary directory, removed at the end)"),
            OptionSpec("timeout", value: "SECONDS", help: "how long to wait for convergence at each step (default 60)"),
        ],
        run: run)

    struct Branch {
        var site: String
        var clearance: Classification
        var region: String
        var areaCode: String
        var customers: [String]
    }

    static let branches = [
        Branch(
            site: "bj01", clearance: .internal, region: "11", areaCode: "010",
            customers: ["北京华信科技有限公司", "北京燕山建材有限公司", "北京京西物流有限公司"]),
        Branch(
            site: "sh01", clearance: .internal, region: "31", areaCode: "021",
            customers: ["上海浦江贸易有限公司", "上海外滩金融信息服务有限公司", "上海临港装备制造有限公司"]),
        Branch(
            site: "gz01", clearance: .confidential, region: "44", areaCode: "020",
            customers: ["广州珠江电子有限公司", "广州白云医药有限公司", "深圳南山软件有限公司"]),
    ]

    static func run(_ invocation: Invocation) throws -> Int32 {
        let demo = try Demo(invocation: invocation)
        defer { demo.shutdown() }
        return try demo.play()
    }
}

/// The demo's state: data directory, child processes, output.
final class Demo {
    let console: Console
    let root: String
    let removeRoot: Bool
    let timeout: Double
    let executable: String
    var daemons: [String: Process] = [:]
    var port: UInt16 = 0
    var step = 0
    var ids: [String: String] = [:]

    init(invocation: Invocation) throws {
        console = invocation.console
        if let dir = invocation.value("dir") {
            root = (dir as NSString).standardizingPath
            removeRoot = false
        } else {
            root = NSTemporaryDirectory() + "branchsync-demo-" + UUID().uuidString.prefix(8)
            removeRoot = true
        }
        timeout = Double(try invocation.integer("timeout", default: 60))
        executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        guard !FileManager.default.fileExists(atPath: root + "/hq") else {
            throw CLIError(exitCode: ExitCode.failure, message: "\(root) already holds a demo; choose another --dir")
        }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func say(_ text: String) {
        console.line(text)
        console.flush()
    }

    func heading(_ text: String) {
        step += 1
        say("\n[\(step)] \(text)")
    }

    func data(_ site: String) -> String { root + "/" + site }

    /// Runs `branchsync` for `site` as a process.
    func run(_ site: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--data", data(site), "--actor", "demo"] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output, errors)
    }

    /// Runs `branchsync` for `site` and returns its standard output; fails the demo on a non-zero exit.
    @discardableResult
    func cli(_ site: String, _ arguments: [String], show: Bool = false) throws -> String {
        let result = try run(site, arguments)
        if show { say("  $ branchsync --data \(site) \(arguments.joined(separator: " "))") }
        guard result.status == 0 else {
            throw CLIError(
                exitCode: ExitCode.failure,
                message:
                    "demo step failed: branchsync \(arguments.joined(separator: " ")) at \(site): \(result.err.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
        return result.out
    }

    func startDaemon(_ site: String, _ extra: [String] = []) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--data", data(site), "run"] + extra
        let log = data(site) + ".log"
        if !FileManager.default.fileExists(atPath: log) {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        daemons[site] = process
    }

    func stopDaemon(_ site: String) {
        guard let process = daemons.removeValue(forKey: site) else { return }
        process.terminate()
        process.waitUntilExit()
    }

    func shutdown() {
        for site in daemons.keys.sorted() where site != "hq" { stopDaemon(site) }
        stopDaemon("hq")
        if removeRoot { try? FileManager.default.removeItem(atPath: root) }
    }

    func waitFor(_ what: String, _ condition: () throws -> Bool) throws {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            if (try? condition()) == true {
                say(String(format: "  ✓ %@ (%.1f s)", what, Date().timeIntervalSince(start)))
                return
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw CLIError(
            exitCode: ExitCode.failure,
            message: "demo failed: \(what) did not happen within \(Int(timeout)) s; logs in \(root)")
    }

    func store(_ site: String) throws -> NodeStore {
        try NodeStore.open(directory: data(site), actor: AuditActor(user: "demo", origin: "demo"))
    }

    /// Every branch holds exactly the hub's records within its scope, byte for byte in canonical form.
    func branchAgrees(_ branch: DemoCommand.Branch) throws -> Bool {
        let hub = try store("hq")
        let site = try SiteID(branch.site)
        let expected = try hub.allRecords().filter { Scope.mayHold($0, site: site, clearance: branch.clearance) }.map(
            \.canonicalJSON)
        return try store(branch.site).allRecords().map(\.canonicalJSON) == expected
    }

    func everythingConverged() throws -> Bool {
        try DemoCommand.branches.allSatisfy { try branchAgrees($0) }
    }

    func creditCode(_ region: String, _ index: Int) -> String {
        let alphabet = CreditCode.alphabet
        var body = "91" + region + "0105"
        var seed = UInt64(Int(region)! * 7919 + index * 104_729)
        for _ in 0..<9 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            body.append(alphabet[Int(seed >> 33) % alphabet.count])
        }
        return body + String(CreditCode.checkCharacter(forBody: body)!)
    }

    func play() throws -> Int32 {
        let started = Date()
        say("BranchSync demo: hub hq and branches bj01, sh01, gz01 on 127.0.0.1; data in \(root)")

        heading("initialise the hub and enrol the branches")
        try cli("hq", ["init", "--site", "hq", "--role", "hub"], show: true)
        try startDaemon("hq", ["--listen", "127.0.0.1:0", "--port-file", root + "/hq.port"])
        try waitFor("hub listening") {
            guard let text = try? String(contentsOfFile: root + "/hq.port", encoding: .utf8),
                let value = UInt16(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { return false }
            port = value
            return true
        }
        for branch in DemoCommand.branches {
            try cli(
                "hq",
                [
                    "site", "add", branch.site, "--class-access", branch.clearance.rawValue, "--secret-file",
                    root + "/\(branch.site).secret",
                ], show: true)
            try cli(
                branch.site,
                [
                    "init", "--site", branch.site, "--role", "branch", "--hub", "127.0.0.1:\(port)", "--secret-file",
                    root + "/\(branch.site).secret",
                ])
            try startDaemon(branch.site)
        }
        say("  hub on 127.0.0.1:\(port); branches running 'branchsync run' (logs: \(root)/SITE.log)")

        heading("each branch writes customers and documents (validated at entry)")
        for branch in DemoCommand.branches {
            for (index, name) in branch.customers.enumerated() {
                let code = branch.region + String(format: "%04d", 101 + index)
                let id = try cli(
                    branch.site,
                    [
                        "customer", "add", "--code", code, "--name", name, "--credit-code",
                        creditCode(branch.region, index),
                        "--phone", "\(branch.areaCode)-\(60_000_000 + index * 1111)", "--contact", "联系人\(index + 1)",
                        "--industry", ["制造业", "批发零售", "信息技术"][index], "--category", index == 0 ? "special" : "general",
                    ]
                ).trimmingCharacters(in: .whitespacesAndNewlines)
                ids[code] = id
            }
            let first = ids[branch.region + "0101"]!
            try cli(
                branch.site,
                [
                    "document", "add", "--title", "\(branch.customers[0]) 2027 年框架合同", "--kind", "market",
                    "--type", "contract", "--customer-id", first, "--class", "confidential", "--retain-until",
                    "2037-12-31",
                ])
            try cli(
                branch.site,
                [
                    "document", "add", "--title", "\(branch.site) 第四季度经营报告", "--kind", "administrative",
                    "--type", "report", "--body", "季度收入与客户情况汇总。",
                ])
            say("  \(branch.site): 3 customers, 1 confidential contract, 1 report")
        }
        let rejected = try run(
            "bj01", ["customer", "add", "--code", "110199", "--name", "错误示例", "--credit-code", "91110000802100433C"])
        guard rejected.status == ExitCode.invalidData else {
            throw CLIError(exitCode: ExitCode.failure, message: "demo failed: a bad credit code was not refused")
        }
        say("  a bad credit code is refused at entry: \(rejected.err.trimmingCharacters(in: .whitespacesAndNewlines))")

        heading("wait until every site holds what it may hold")
        try waitFor("all replicas converged") { try everythingConverged() }
        let hubCounts = try store("hq").counts()
        say(
            "  hq holds \(hubCounts[.customers]!.live) customers and \(hubCounts[.documents]!.live) documents; "
                + "confidential contracts are at hq and gz01 only")

        heading("take sh01 offline and edit the same customer on both sides")
        let shared = ids["310101"]!
        stopDaemon("sh01")
        say("  sh01 stopped (offline)")
        try cli("sh01", ["customer", "update", shared, "--phone", "021-63215678", "--notes", "分行：电话已更新"], show: true)
        Thread.sleep(forTimeInterval: 0.05)
        try cli("bj01", ["customer", "update", shared, "--phone", "13916881234"], show: true)
        try waitFor("bj01's edit reached the hub") {
            try store("hq").record(try RecordID(shared))?["phone"] == "13916881234"
        }

        heading("bring sh01 back: the concurrent edit is detected and merged deterministically")
        try startDaemon("sh01")
        try waitFor("sh01 reconnected and converged") {
            try store("hq").record(try RecordID(shared))?["notes"] == "分行：电话已更新" && everythingConverged()
        }
        let conflicts = try store("hq").conflicts()
        guard let conflict = conflicts.first else {
            throw CLIError(
                exitCode: ExitCode.failure, message: "demo failed: the hub recorded no conflict for the concurrent edit"
            )
        }
        say(
            "  conflict #\(conflict.id) at hq on \(conflict.field): kept \(conflict.keptValue), lost \(conflict.lostValue) (nothing is lost: it is recorded)"
        )
        say("  the other field (notes) merged without conflict")
        say(
            try cli("hq", ["conflicts", "list"], show: true).split(separator: "\n").map { "    " + $0 }.joined(
                separator: "\n"))

        heading("an operator resolves the conflict at the hub; the decision replicates")
        try cli("hq", ["conflicts", "resolve", String(conflict.id), "--take", "remote"], show: true)
        let chosen = conflict.lostValue
        try waitFor("every site shows phone \(chosen)") {
            try everythingConverged()
                && DemoCommand.branches.allSatisfy {
                    try store($0.site).record(try RecordID(shared))?["phone"] == chosen
                }
        }

        heading("status at the hub")
        try waitFor("every branch caught up both ways") {
            let status = try cli("hq", ["status", "--json"])
            return status.components(separatedBy: "\"caughtUp\":true").count - 1 == DemoCommand.branches.count
        }
        say(try cli("hq", ["status"], show: true).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))

        heading("verify: each branch's export --json equals the hub's records within its scope")
        let hub = try store("hq")
        for branch in DemoCommand.branches {
            let site = try SiteID(branch.site)
            let expected = try hub.allRecords().filter { Scope.mayHold($0, site: site, clearance: branch.clearance) }
                .map(\.canonicalJSON)
            let exported = try cli(branch.site, ["export", "--json", "--purpose", "demo: compare with the hub"])
            let agrees = exported == JSONLines.array(expected)
            let hidden = try hub.allRecords().count - expected.count
            say(
                "  \(agrees ? "✓" : "✗") \(branch.site): \(expected.count) records identical byte for byte; \(hidden) out of its scope never sent"
            )
            guard agrees else {
                throw CLIError(
                    exitCode: ExitCode.failure,
                    message: "demo failed: \(branch.site)'s export differs from the hub's view of its scope")
            }
        }

        say(
            String(
                format:
                    "\nsummary: 4 nodes, %d records at the hub, 1 conflict detected and resolved, every replica converged (%.1f s).",
                try hub.allRecords().count, Date().timeIntervalSince(started)))
        if !removeRoot {
            say("explore: branchsync --data \(root)/hq status | conflicts list --all | audit")
        }
        return ExitCode.success
    }
}
