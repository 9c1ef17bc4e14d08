import BranchSyncCommands
import BranchSyncCore
import BranchSyncStore
import Foundation

// Benchmarks for BranchSync, kept out of `swift test`. Run in release mode:
//   swift run -c release branchsync-bench [--count N] [--single N]
// Results and the commands that produced them are recorded in BENCHMARKS.md.

struct Options {
    var count = 100_000
    var single = 5_000
    var keep = false
}

var options = Options()
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    switch argument {
    case "--count": options.count = Int(arguments.removeFirst()) ?? options.count
    case "--single": options.single = Int(arguments.removeFirst()) ?? options.single
    case "--keep": options.keep = true
    case "--help", "-h":
        print("usage: branchsync-bench [--count N] [--single N] [--keep]")
        print("  --count N   customers for the batched-write and import runs (default 100000)")
        print("  --single N  customers written one transaction each, as the CLI does (default 5000)")
        print("  --keep      keep the temporary directory")
        exit(0)
    default:
        FileHandle.standardError.write(Data("branchsync-bench: unknown argument \(argument)\n".utf8))
        exit(2)
    }
}

let root = NSTemporaryDirectory() + "branchsync-bench-" + UUID().uuidString
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
defer { if !options.keep { try? FileManager.default.removeItem(atPath: root) } }
let actor = AuditActor(user: "bench", origin: "bench")

/// Deterministic, valid customer rows: unique codes over the GB/T 2260 regions, valid credit codes.
func customerRows(_ count: Int) -> [[String: String]] {
    let regions = CustomerCode.regions.keys.sorted()
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { index in
        let code = regions[index / 10_000 % regions.count] + String(format: "%04d", index % 10_000)
        var body = "91" + String(format: "%06d", 110_000 + index % 800_000)
        for _ in 0..<9 { body.append(CreditCode.alphabet[Int.random(in: 0..<31, using: &generator)]) }
        let credit = body + String(CreditCode.checkCharacter(forBody: body)!)
        return [
            "code": code, "name": "测试客户有限公司第\(index)号", "creditCode": credit, "contact": "王经理",
            "phone": "138" + String(format: "%08d", index), "address": "北京市朝阳区建国路\(index)号",
            "industry": "制造业", "category": index % 10 == 0 ? "special" : "general",
        ]
    }
}

func measure(_ label: String, count: Int, _ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let rate = Double(count) / seconds
    print(String(format: "%-48@ %9d rows %8.2f s %10.0f rows/s", label as NSString, count, seconds, rate))
    return rate
}

print("BranchSync benchmarks: \(ProcessInfo.processInfo.processorCount) cores, SQLite WAL synchronous=NORMAL")
let rows = customerRows(max(options.count, options.single))

// 1. Local writes, one transaction per write (what `branchsync customer add` does, minus process start-up).
do {
    let store = try NodeStore.initialize(
        directory: root + "/single", identity: NodeIdentity(site: try SiteID("bj01"), role: .branch), actor: actor)
    _ = try measure("local writes, 1 per transaction", count: options.single) {
        for row in rows.prefix(options.single) { try store.create(.customers, values: row) }
    }
}

// 2. Local writes, 1,000 per transaction (validation, record row, log position and audit row each).
do {
    let store = try NodeStore.initialize(
        directory: root + "/batched", identity: NodeIdentity(site: try SiteID("bj01"), role: .branch), actor: actor)
    _ = try measure("local writes, 1000 per transaction", count: options.count) {
        var index = 0
        while index < options.count {
            let end = min(index + 1000, options.count)
            try store.batch { writer in
                for row in rows[index..<end] { try writer.create(.customers, values: row) }
            }
            index = end
        }
    }
}

// 3. `branchsync import customers FILE.csv` end to end (CSV parse, validation, duplicate check, batched writes).
do {
    let columns = ["code", "name", "creditCode", "contact", "phone", "address", "industry", "category"]
    var csv = "code,name,credit-code,contact,phone,address,industry,category\n"
    for row in rows.prefix(options.count) { csv += columns.map { row[$0] ?? "" }.joined(separator: ",") + "\n" }
    let file = root + "/customers.csv"
    _ = FileManager.default.createFile(atPath: file, contents: Data(csv.utf8))
    let data = root + "/import"
    let console = Console.capturing()
    _ = BranchSyncTool.run(["init", "--site", "hq", "--role", "hub"], environment: ["BRANCHSYNC_DATA": data], console: console)
    var status: Int32 = 0
    _ = measure("import customers (CSV, fresh node)", count: options.count) {
        status = BranchSyncTool.run(["import", "customers", file, "--quiet"], environment: ["BRANCHSYNC_DATA": data], console: console)
    }
    guard status == 0 else {
        print("import failed: \(console.standardError.prefix(500))")
        exit(1)
    }
    _ = measure("import customers again (all unchanged)", count: options.count) {
        status = BranchSyncTool.run(["import", "customers", file, "--quiet"], environment: ["BRANCHSYNC_DATA": data], console: console)
    }
    print("  " + console.standardOutput.split(separator: "\n").suffix(2).joined(separator: "\n  "))
}
