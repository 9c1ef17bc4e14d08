import Foundation

// Benchmarks for BranchSync, kept out of `swift test`. Run in release mode:
//   swift run -c release branchsync-bench [local|sync|latency|fleet|compare|leads|bootstrap|all] [--count N] [--single N] [--branches N] [--writes N]
// Results and the commands that produced them are recorded in BENCHMARKS.md.

if CommandLine.arguments.count == 4 && CommandLine.arguments[1] == "fleet-hub" {
    try Bench.runFleetHub(directory: CommandLine.arguments[2], portFile: CommandLine.arguments[3])
}

var options = BenchOptions()
var modes: Set<String> = []
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    func number() -> Int {
        guard !arguments.isEmpty, let value = Int(arguments.removeFirst()) else {
            FileHandle.standardError.write(Data("branchsync-bench: \(argument) needs a number\n".utf8))
            exit(2)
        }
        return value
    }
    switch argument {
    case "local", "sync", "latency", "fleet", "compare", "leads", "bootstrap", "all": modes.insert(argument)
    case "--large": options.large = true
    case "--count": options.count = number()
    case "--records": options.records = number()
    case "--single": options.single = number()
    case "--branches": options.branches = number()
    case "--writes": options.writes = number()
    case "--idle-seconds": options.idleSeconds = number()
    case "--fanouts": options.fanouts = number()
    case "--write-seconds": options.writeSeconds = number()
    case "--stalled": options.stalled = number()
    case "--hub-fd-limit": options.hubDescriptorLimit = number()
    case "--help", "-h":
        print(
            """
            usage: branchsync-bench [local|sync|latency|fleet|compare|leads|bootstrap|all] [options]
              local     local writes (1 and 1000 per transaction) and CSV import
              sync      branch -> hub bulk sync over TCP next to a raw SQLite insert of the same rows and
                        the same rows' SQL alone in a node's schema (the push's ceiling without a new schema)
              latency   A -> hub -> B propagation of single writes with N connected branches
              compare   on the same rows: raw SQLite insert, import, push, bootstrap, latency with 20 branches,
                        1M-record bootstrap (--large), PostgreSQL 15 logical replication when installed; ratios
              bootstrap a new branch's bootstrap from a hub of --records N records (30 % customers, 70 %
                        documents; default 1,000,000): the 1M bootstrap of compare --large on its own
              leads     with --count customers at the hub: a branch's change arriving -> its suspicious-customer
                        lead listed
              fleet     N light branches against a hub process: sessions, handshakes/s, hub RSS, threads, fds,
                        idle CPU, fan-out of one write to all, every branch writing once a second
              --count N     customers for batched writes, import and bulk sync (default 100000)
              --records N   records of the large bootstrap (bootstrap, compare --large; default 1000000)
              --single N    customers written one transaction each (default 5000)
              --branches N  connected branches for the latency and fleet runs (default 20)
              --idle-seconds N, --fanouts N, --write-seconds N   fleet phases (default 10, 50, 10)
              --stalled N   fleet: also N stalled unauthenticated connections and 60 stalled 16 MiB frames
              --hub-fd-limit N   fleet: start the hub with this descriptor limit, soft and hard
              --writes N    single writes measured for latency (default 300)
              --large       compare: also bootstrap a new branch from a hub of --records records
            """)
        exit(0)
    default:
        FileHandle.standardError.write(Data("branchsync-bench: unknown argument \(argument)\n".utf8))
        exit(2)
    }
}

let bench = try Bench(options: options)
print(
    "BranchSync benchmarks: \(ProcessInfo.processInfo.processorCount) cores, SQLite WAL synchronous=NORMAL, release build"
)
if modes.isEmpty { modes = ["all"] }
if modes.contains("local") || modes.contains("all") { try bench.local() }
if modes.contains("sync") || modes.contains("all") { try bench.bulkSync() }
if modes.contains("latency") || modes.contains("all") { try bench.latency() }
if modes.contains("fleet") { try bench.fleet() }
if modes.contains("compare") { try bench.compare() }
if modes.contains("leads") { try bench.leads() }
if modes.contains("bootstrap") { try bench.largeBootstrap(records: options.records) }
bench.cleanUp()
