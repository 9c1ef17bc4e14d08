import BranchSyncCommands
import BranchSyncCore
import BranchSyncCrypto
import BranchSyncNode
import BranchSyncStore
import Foundation
import Synchronization

/// `branchsync-bench compare` (issue 10): on the same generated rows, in one invocation — a raw SQLite insert, `import`,
/// a branch → hub push, a new branch's bootstrap from the hub, A → hub → B latency with 20 branches, with `--large` a
/// bootstrap of 1,000,000 records, and PostgreSQL 15 logical replication (initial copy and streaming) when installed —
/// then every rate and the ratios BranchSync / PostgreSQL and BranchSync / raw.
extension Bench {
    func compare() throws {
        let count = options.count
        print("\n# compare: \(count) customers of about 400 bytes, the same rows for every system")
        var results: [(String, Double)] = []

        // Raw SQLite through the C API: time-ordered ids, one transaction.
        let states = try encodedCustomerStates(count)
        let raw = try DatabaseConnection(path: root + "/compare-raw.sqlite", create: true)
        try raw.execute("CREATE TABLE records (id BLOB PRIMARY KEY, state BLOB NOT NULL) WITHOUT ROWID")
        let rawRate = try measure("raw SQLite insert (C API, 1 transaction)", count: states.count) {
            try raw.write {
                let insert = try raw.statement("INSERT INTO records(id, state) VALUES (?1, ?2)")
                for (id, state) in states { try insert.run([.blob(id), .blob(state)]) }
            }
        }
        results.append(("raw SQLite insert", rawRate))
        results.append(("import (CSV, CLI)", try importRate(count: count, data: root + "/compare-import")))

        // Push and bootstrap through a hub on loopback.
        let (server, address, secrets) = try startHub(
            name: "compare-hub", sites: ["bj01", "sh01"], options: SessionOptions())
        defer { server.stop() }
        let pusher = try branch("bj01", hub: address, secret: secrets["bj01"]!)
        try fill(pusher, count: count)
        let pushClient = BranchClient(directory: root + "/bj01", logger: .silent, software: "bench")
        var pushed = SessionSummary()
        let pushRate = try measure("push: branch -> hub (sync --once)", count: count) {
            pushed = try pushClient.syncOnce()
        }
        guard pushed.sent == count else { throw BenchFailure("push sent \(pushed.sent) of \(count)") }
        results.append(("push (branch -> hub)", pushRate))
        _ = try branch("sh01", hub: address, secret: secrets["sh01"]!)
        let bootstrapClient = BranchClient(directory: root + "/sh01", logger: .silent, software: "bench")
        var bootstrapped = SessionSummary()
        let bootstrapRate = try measure("bootstrap: hub -> new branch (sync --once)", count: count) {
            bootstrapped = try bootstrapClient.syncOnce()
        }
        guard bootstrapped.received >= count else {
            throw BenchFailure("bootstrap received \(bootstrapped.received) of \(count)")
        }
        results.append(("bootstrap (hub -> new branch)", bootstrapRate))

        let latency = try latency()
        if options.large { try largeBootstrap(records: options.records) }

        var postgres: (copy: Double, streaming: Double)?
        if PostgresReplication.isInstalled {
            do { postgres = try postgresRates(count: count) } catch {
                print("PostgreSQL could not be measured: \(error)")
            }
        } else {
            print("PostgreSQL 15 is not installed (apt-get install postgresql): its rates are not measured")
        }

        print("\n# summary (\(count) rows)")
        for (label, rate) in results {
            var line = String(format: "%-32@ %9.0f rows/s   / raw %.2f", label as NSString, rate, rate / rawRate)
            if let postgres, label != "raw SQLite insert" {
                line += String(format: "   / PostgreSQL initial copy %.2f", rate / postgres.copy)
            }
            print(line)
        }
        if let postgres {
            print(String(format: "%-32@ %9.0f rows/s", "PostgreSQL initial copy" as NSString, postgres.copy))
            print(
                String(format: "%-32@ %9.0f rows/s", "PostgreSQL streaming (1,000/tx)" as NSString, postgres.streaming))
        }
        print(String(format: "A -> hub -> B, 20 branches: p50 %.2f ms, p99 %.2f ms", latency.p50, latency.p99))
    }

    /// The first `count` rows as encoded customer states with their ids (time-ordered UUIDv7).
    private func encodedCustomerStates(_ count: Int) throws -> [([UInt8], [UInt8])] {
        let site = try SiteID("bj01")
        let start = Timestamp.nowMilliseconds()
        return try rows.prefix(count).enumerated().map { index, row in
            let now = start + UInt64(index)
            var state = RecordState(
                id: RecordID.version7(unixMilliseconds: now, random: try SecureRandom.bytes(10)),
                collection: .customers,
                owner: site)
            _ = state.applyLocalWrite(
                row,
                stamp: Stamp(
                    dot: Dot(site: site, counter: now), time: HLCTimestamp(wallMilliseconds: now, logical: 0)))
            return (state.id.bytes, state.encoded())
        }
    }

    /// `import customers` of a CSV of the first `count` rows into a fresh node, through the CLI's code path; with
    /// `measureAgain`, also the same import once more (every row unchanged).
    @discardableResult
    func importRate(count: Int, data: String, measureAgain: Bool = false) throws -> Double {
        let columns = ["code", "name", "creditCode", "contact", "phone", "address", "industry", "category"]
        var csv = "code,name,credit-code,contact,phone,address,industry,category\n"
        for row in rows.prefix(count) { csv += columns.map { row[$0] ?? "" }.joined(separator: ",") + "\n" }
        let file = data + ".csv"
        _ = FileManager.default.createFile(atPath: file, contents: Data(csv.utf8))
        let console = Console.capturing()
        let environment = ["BRANCHSYNC_DATA": data]
        _ = BranchSyncTool.run(["init", "--site", "hq", "--role", "hub"], environment: environment, console: console)
        var status: Int32 = 0
        let rate = measure("import customers (CSV, fresh node)", count: count) {
            status = BranchSyncTool.run(
                ["import", "customers", file, "--quiet"], environment: environment, console: console)
        }
        guard status == 0 else { throw BenchFailure("import failed: \(console.standardError.prefix(500))") }
        if measureAgain {
            _ = measure("import customers again (all unchanged)", count: count) {
                status = BranchSyncTool.run(
                    ["import", "customers", file, "--quiet"], environment: environment, console: console)
            }
        }
        return rate
    }

    /// A new branch's bootstrap of `records` records (for 1,000,000: 300,000 customers, 700,000 documents) from a
    /// hub, with the process's resident memory sampled while it runs.
    func largeBootstrap(records: Int) throws {
        let customers = records * 3 / 10
        let documents = records - customers
        print("\n# bootstrap of \(customers + documents) records (\(customers) customers, \(documents) documents)")
        let (server, address, secrets) = try startHub(name: "large-hub", sites: ["gz01"], options: SessionOptions())
        defer { server.stop() }
        let hub = try NodeStore.open(directory: root + "/large-hub", actor: actor)
        let regions = CustomerCode.regions.keys.sorted()
        _ = try measure("fill the hub (1,000 per transaction)", count: customers + documents) {
            var customerIDs: [RecordID] = []
            var index = 0
            while index < customers {
                let end = min(index + 1_000, customers)
                try hub.batch { writer in
                    for i in index..<end {
                        var row = rows[i % rows.count]
                        row["code"] = regions[i / 10_000 % regions.count] + String(format: "%04d", i % 10_000)
                        customerIDs.append(try writer.create(.customers, values: row).id)
                    }
                }
                index = end
            }
            let types = RecordSchema.documentTypes
            index = 0
            while index < documents {
                let end = min(index + 1_000, documents)
                try hub.batch { writer in
                    for i in index..<end {
                        _ = try writer.create(
                            .documents,
                            values: [
                                "title": "文件第\(i)号：合同与报价", "kind": i % 3 == 0 ? "market" : "administrative",
                                "type": types[i % types.count],
                                "customerId": customerIDs[i % customerIDs.count].description,
                                "body": String(repeating: "本文件记录双方约定的条款。", count: 8),
                            ])
                    }
                }
                index = end
            }
        }
        let total = try hub.counts().values.reduce(0) { $0 + $1.live }
        _ = try branch("gz01", hub: address, secret: secrets["gz01"]!)
        let client = BranchClient(directory: root + "/gz01", logger: .silent, software: "bench")
        let baseline = residentMegabytes()
        let peak = PeakMemory()
        let sampler = Thread {
            while !peak.done.load(ordering: .acquiring) {
                peak.note(residentMegabytes())
                usleep(100_000)
            }
        }
        sampler.start()
        var summary = SessionSummary()
        _ = try measure("bootstrap of \(total) records: hub -> new branch", count: total) {
            summary = try client.syncOnce()
        }
        peak.done.store(true, ordering: .releasing)
        print(
            "  received \(summary.received); resident memory \(baseline) MB before, peak "
                + "\(peak.value.load(ordering: .relaxed)) MB during")
    }

    /// PostgreSQL logical replication on the same rows: the initial copy of `count` rows, then `count` more streamed.
    private func postgresRates(count: Int) throws -> (copy: Double, streaming: Double) {
        print("\n# PostgreSQL 15 logical replication (publisher and subscriber on 127.0.0.1)")
        let postgres = try PostgresReplication(directory: root + "/postgres")
        defer { postgres.stop() }
        try postgres.start()
        let columns = ["code", "name", "creditCode", "contact", "phone", "address", "industry", "category"]
        let start = Timestamp.nowMilliseconds()
        func table(_ range: Range<Int>) throws -> [[String]] {
            try range.map { index in
                [
                    RecordID.version7(unixMilliseconds: start + UInt64(index), random: try SecureRandom.bytes(10))
                        .description
                ]
                    + columns.map { rows[index % rows.count][$0] ?? "" }
            }
        }
        let copySeconds = try postgres.initialCopy(table(0..<count))
        let copy = report("PostgreSQL initial copy", count: count, seconds: copySeconds)
        let streamSeconds = try postgres.streaming(table(count..<(2 * count)), alreadyThere: count)
        let streaming = report("PostgreSQL streaming, 1,000 rows per transaction", count: count, seconds: streamSeconds)
        return (copy, streaming)
    }
}

/// A benchmark that could not run as planned.
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The highest value seen by a sampling thread.
final class PeakMemory: Sendable {
    let value = Atomic<Int>(0)
    let done = Atomic<Bool>(false)
    func note(_ megabytes: Int) { value.max(megabytes, ordering: .relaxed) }
}

/// This process's resident memory in megabytes.
func residentMegabytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return (Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]) ?? 0) / 1024
    }
    return 0
}
