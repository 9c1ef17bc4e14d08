import BranchSyncCommands
import BranchSyncCore
import BranchSyncCrypto
import BranchSyncFleet
import BranchSyncNode
import BranchSyncStore
import Foundation

struct BenchOptions {
    var count = 100_000
    var single = 5_000
    var branches = 20
    var writes = 300
    /// Fleet: seconds of idling measured, single writes fanned out, seconds of every branch writing once a second.
    var idleSeconds = 10
    var fanouts = 50
    var writeSeconds = 10
    /// Fleet: unauthenticated connections left stalled (0: skip that phase).
    var stalled = 0
    /// Fleet: the hub's descriptor limit, soft and hard (`nil`: inherited).
    var hubDescriptorLimit: Int?
    /// Compare: also bootstrap a branch from a hub of `records` records.
    var large = false
    /// Records of the large bootstrap (`bootstrap`, `compare --large`).
    var records = 1_000_000
}

/// The benchmark runs, sharing a temporary directory and generated rows.
final class Bench {
    let options: BenchOptions
    let root: String
    let actor = AuditActor(user: "bench", origin: "bench")
    lazy var rows: [[String: String]] = customerRows(max(options.count, options.single))

    init(options: BenchOptions) throws {
        self.options = options
        root = NSTemporaryDirectory() + "branchsync-bench-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: root)
    }

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

    @discardableResult
    func report(_ label: String, count: Int, seconds: Double) -> Double {
        let rate = Double(count) / seconds
        print(String(format: "%-52@ %9d rows %8.2f s %10.0f rows/s", label as NSString, count, seconds, rate))
        fflush(nil)  // a long run shows its progress even into a pipe or a file
        return rate
    }

    func measure(_ label: String, count: Int, _ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return report(label, count: count, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    func node(_ name: String, role: NodeRole, hub: String? = nil) throws -> NodeStore {
        try NodeStore.initialize(
            directory: root + "/" + name, identity: NodeIdentity(site: try SiteID(name), role: role, hubAddress: hub),
            actor: actor)
    }

    /// Fills `store` with the first `count` rows, 1,000 per transaction.
    func fill(_ store: NodeStore, count: Int) throws {
        var index = 0
        while index < count {
            let end = min(index + 1000, count)
            try store.batch { writer in
                for row in rows[index..<end] { try writer.create(.customers, values: row) }
            }
            index = end
        }
    }

    // MARK: Local writes and import (issue 2)

    func local() throws {
        print("\n# local writes and import")
        _ = rows.count  // generated on first use: before any clock starts
        let single = try node("single", role: .branch)
        _ = try measure("local writes, 1 per transaction", count: options.single) {
            for row in rows.prefix(options.single) { try single.create(.customers, values: row) }
        }
        let batched = try node("batched", role: .branch)
        _ = try measure("local writes, 1000 per transaction", count: options.count) {
            try fill(batched, count: options.count)
        }

        try importRate(count: options.count, data: root + "/import", measureAgain: true)
    }

    // MARK: Bulk sync (issue 3)

    /// A hub in this process listening on loopback, with `sites` enrolled; returns the server and its address.
    func startHub(name: String, sites: [String], options sessionOptions: SessionOptions) throws -> (
        HubServer, String, [String: [UInt8]]
    ) {
        let hub = try node(name, role: .hub)
        var secrets: [String: [UInt8]] = [:]
        for (site, secret) in try FleetClients.enroll(sites.map { try SiteID($0) }, at: hub) {
            secrets[site.rawValue] = secret
        }
        let server = HubServer(
            directory: root + "/" + name, options: sessionOptions, logger: .silent, software: "bench")
        let port = try server.start(listeningOn: "127.0.0.1:0")
        return (server, "127.0.0.1:\(port)", secrets)
    }

    func branch(_ site: String, hub: String, secret: [UInt8]) throws -> NodeStore {
        let store = try node(site, role: .branch, hub: hub)
        try store.setMetadata(BranchClient.secretKey, hex(secret))
        return store
    }

    func bulkSync() throws {
        print("\n# branch -> hub bulk sync over TCP (loopback), \(options.count) customers")
        let (server, address, secrets) = try startHub(name: "bulk-hub", sites: ["bj01"], options: SessionOptions())
        defer { server.stop() }
        let branchStore = try branch("bj01", hub: address, secret: secrets["bj01"]!)
        try fill(branchStore, count: options.count)
        let states = try branchStore.changes(after: 0, limit: options.count).map(\.state)

        // Reference: raw SQLite inserts of the same encoded rows (primary key + state blob), one transaction.
        let raw = try DatabaseConnection(path: root + "/raw.sqlite", create: true)
        try raw.execute("CREATE TABLE records (id TEXT PRIMARY KEY, state BLOB NOT NULL) WITHOUT ROWID")
        let rawRate = try measure("raw SQLite insert of the same rows (1 transaction)", count: states.count) {
            try raw.write {
                let insert = try raw.statement("INSERT INTO records(id, state) VALUES (?1, ?2)")
                for state in states { try insert.run([.text(state.id.description), .blob(state.encoded())]) }
            }
        }

        let ceilingRate = try schemaCeiling(states)

        let client = BranchClient(directory: root + "/bj01", logger: .silent, software: "bench")
        var summary = SessionSummary()
        let syncRate = try measure("sync --once: branch -> hub, validated, merged, audited", count: states.count) {
            summary = try client.syncOnce()
        }
        let hubStore = try NodeStore.open(directory: root + "/bulk-hub", actor: actor)
        let arrived = try hubStore.records(in: .customers).count
        let quarantined = try hubStore.quarantined().count
        guard summary.sent == states.count, arrived == states.count else {
            fatalError(
                "bulk sync sent \(summary.sent) of \(states.count); \(arrived) arrived, \(quarantined) quarantined")
        }
        print(
            String(
                format: "  sync rate / raw insert rate: %.2f; sync rate / schema ceiling: %.2f", syncRate / rawRate,
                syncRate / ceilingRate))
    }

    /// What SQLite alone costs for what the hub stores of a push, on the same rows: the SQL a hub's save runs, with
    /// no decoding, checks, merge or network, into an empty node's own schema, in the hub's transactions (4,000
    /// states): each record's row with its indexes, the origin's audit entry, and the lead probe of each new customer.
    /// The push can be no faster than this without a different schema.
    func schemaCeiling(_ states: [RecordState]) throws -> Double {
        _ = try node("ceiling", role: .hub)
        let db = try DatabaseConnection(
            path: root + "/ceiling/" + NodeStore.databaseFileName, create: false)
        try db.execute("PRAGMA synchronous=NORMAL")
        let insert = """
            INSERT INTO records(id, collection, owner, class, deleted, code, phone, bank_account, seq, origin, state,
                attachment, digest, bucket, changed_at, credit_code, shared_with, retain_until)
            VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8, 'bj01', ?9, NULL, ?10, ?11, ?8, ?12, ?13, NULL)
            """
        let audit = """
            INSERT OR IGNORE INTO audit(at, actor, origin, action, collection, record_id, detail, site, seq, prev_hash,
                hash, received)
            VALUES ('2026-11-25T08:00:00.000Z', 'bench', 'cli@bj01', 'create', 'customers', ?1, 'created', 'bj01', ?2,
                ?3, ?4, 1)
            """
        func column(_ kind: SuspicionKind) -> String {
            switch kind {
            case .customerCode: return "code"
            case .phone: return "phone"
            case .bankAccount: return "bank_account"
            case .creditCode: return "credit_code"
            }
        }
        let probe =
            "SELECT "
            + SuspicionKind.allCases.enumerated().map { index, kind in
                "EXISTS (SELECT 1 FROM records WHERE \(column(kind)) = ?\(index + 1) AND collection = 'customers' "
                    + "AND deleted = 0 AND id <> ?5)"
            }.joined(separator: " OR ")
        // What arrives: the encoded states, and audit entries with their hashes.
        let rows = states.enumerated().map { index, state in
            let bytes = state.encoded()
            return (
                state: state, bytes: bytes, seq: Int64(1_000_000 + index),
                hash: SHA256.digest(bytes).map { String(format: "%02x", $0) }.joined()
            )
        }
        return try measure("  the same rows' SQL alone in a node's schema (ceiling)", count: states.count) {
            var index = 0
            while index < rows.count {
                let end = min(index + 4000, rows.count)
                try db.write {
                    for row in rows[index..<end] {
                        let id = row.state.id.description
                        let digest = SHA256.digest(row.bytes).prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
                        let values = SuspicionKind.allCases.map { SQLValue.optionalText($0.value(of: row.state)) }
                        try db.statement(probe).run(values + [.text(id)])
                        try db.statement(insert).run([
                            .text(id), .text(row.state.collection.rawValue), .text(row.state.custodian.rawValue),
                            .text(row.state.classification.rawValue),
                            .optionalText(SuspicionKind.customerCode.value(of: row.state)),
                            .optionalText(SuspicionKind.phone.value(of: row.state)),
                            .optionalText(SuspicionKind.bankAccount.value(of: row.state)), .integer(row.seq),
                            .blob(row.bytes), .integer(digest), .integer(Int64(row.state.id.bytes.last ?? 0)),
                            .optionalText(SuspicionKind.creditCode.value(of: row.state)),
                            .text(Scope.sharedWithColumn(row.state[RecordState.sharedWithField])),
                        ])
                        try db.statement(audit).run([.text(id), .integer(row.seq), .text(row.hash), .text(row.hash)])
                    }
                }
                index = end
            }
        }
    }

    // MARK: Propagation latency (issue 3)

    @discardableResult
    func latency() throws -> (p50: Double, p99: Double) {
        let count = max(2, options.branches)
        print("\n# A -> hub -> B propagation of single writes, \(count) branches connected, \(options.writes) writes")
        var sessionOptions = SessionOptions()
        sessionOptions.localCheckInterval = 1
        let sites = (0..<count).map { String(format: "br%02d", $0) }
        let (server, address, secrets) = try startHub(name: "latency-hub", sites: sites, options: sessionOptions)
        defer { server.stop() }
        var clients: [BranchClient] = []
        for site in sites {
            _ = try branch(site, hub: address, secret: secrets[site]!)
            let client = BranchClient(
                directory: root + "/" + site, options: sessionOptions, logger: .silent, software: "bench")
            clients.append(client)
            Thread.detachNewThread { try? client.runForever() }
        }
        defer { clients.forEach { $0.stop() } }
        let deadline = Date().addingTimeInterval(30)
        while server.registry.connectedSites.count < count && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        guard server.registry.connectedSites.count == count else {
            fatalError("only \(server.registry.connectedSites.count) branches connected")
        }

        let writer = try NodeStore.open(directory: root + "/" + sites[0], actor: actor)
        let reader = try NodeStore.open(directory: root + "/" + sites[1], actor: actor)
        var samples: [Double] = []
        // The rows are generated on first use: before the clock starts, not inside the first sample.
        let rows = Array(self.rows.prefix(options.writes))
        for index in 0..<options.writes {
            let start = DispatchTime.now().uptimeNanoseconds
            let state = try writer.create(.customers, values: rows[index])
            clients[0].notifyLocalChange()
            while try reader.record(state.id) == nil {
                usleep(100)
                if DispatchTime.now().uptimeNanoseconds - start > 10_000_000_000 {
                    fatalError("write \(index) never arrived")
                }
            }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        samples.sort()
        func percentile(_ p: Double) -> Double { samples[min(samples.count - 1, Int(Double(samples.count) * p))] }
        print(
            String(
                format:
                    "  latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f (write at A to visible at B, incl. polling B every 0.1 ms)",
                percentile(0.5), percentile(0.9), percentile(0.99), samples.last ?? 0))
        return (percentile(0.5), percentile(0.99))
    }
}
