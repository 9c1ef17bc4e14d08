import BranchSyncCore
import BranchSyncCrypto
import BranchSyncFleet
import BranchSyncNode
import BranchSyncStore
import Foundation

/// `branchsync-bench fleet`: a hub in its own process (this executable in `fleet-hub` mode, the same `HubServer` as
/// `branchsync run --listen`) and N light in-process branches on loopback. Measures what issue 7 asks: sessions up,
/// handshakes/s, the hub's RSS, threads, descriptors and idle CPU, the fan-out of one write to all others, and every
/// branch writing once a second.
extension Bench {
    func fleet() throws {
        let count = options.branches
        print("fleet: \(count) branches against a hub process on loopback")
        raiseDescriptorLimit()
        let hubDirectory = root + "/fleet-hq"
        let hub = try node("fleet-hq", role: .hub)
        let sites = try FleetClients.enroll((0..<count).map { try SiteID(String(format: "b%05d", $0)) }, at: hub)
        let portFile = root + "/fleet-port"
        let process = Process()
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).absoluteURL.path
        if let limit = options.hubDescriptorLimit {
            // A service's usual limit, soft and hard: the hub cannot raise it.
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = [
                "-c", "ulimit -n \(limit) && exec \"$0\" fleet-hub \"$1\" \"$2\"", executable, hubDirectory, portFile,
            ]
            print("hub descriptor limit: \(limit) (soft and hard)")
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["fleet-hub", hubDirectory, portFile]
        }
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        guard let port = waitForPort(portFile) else {
            print("fleet: the hub did not start")
            return
        }
        let pid = process.processIdentifier
        let baseline = HubProcessStats(pid: pid)
        print(
            "hub at start: RSS \(baseline.residentMegabytes) MB, \(baseline.threads) threads, "
                + "\(baseline.descriptors) fds")

        // Sessions up.
        let fleet = FleetClients(sites: sites, port: port, rows: customerRows(10_000))
        let start = DispatchTime.now().uptimeNanoseconds
        fleet.connectAll()
        let deadline = start + 120_000_000_000
        while fleet.clients.contains(where: { !$0.caughtUp && $0.phase != .failed })
            && DispatchTime.now().uptimeNanoseconds < deadline
        {
            fleet.poll(milliseconds: 50)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print(
            String(
                format: "sessions up: %d of %d live in %.2f s (%.0f handshakes/s); failed %d", fleet.live, count,
                seconds, Double(fleet.live) / seconds, fleet.failed.count))
        var reasons: [String: Int] = [:]
        for client in fleet.failed { reasons[client.error ?? "?", default: 0] += 1 }
        for (reason, count) in reasons.sorted(by: { $0.value > $1.value }).prefix(3) { print("  \(count)× \(reason)") }
        let loaded = HubProcessStats(pid: pid)
        print(
            "hub with \(fleet.live) sessions: RSS \(loaded.residentMegabytes) MB, \(loaded.threads) threads, "
                + "\(loaded.descriptors) fds")

        if options.stalled > 0 { stalledConnections(fleet, pid: pid) }

        // Idle: the branches only answer the hub's pings.
        let idleStart = HubProcessStats(pid: pid)
        let idleBegan = DispatchTime.now().uptimeNanoseconds
        runFor(fleet, seconds: Double(options.idleSeconds))
        let idleEnd = HubProcessStats(pid: pid)
        let idleCPU =
            Double(idleEnd.cpuTicks - idleStart.cpuTicks) / Double(sysconf(Int32(_SC_CLK_TCK)))
            / (Double(DispatchTime.now().uptimeNanoseconds - idleBegan) / 1e9) * 100
        print(String(format: "idle for %d s: hub CPU %.2f %% of a core", options.idleSeconds, idleCPU))

        // Fan-out: one write at one branch, timed at every other.
        fleet.resetArrivals()
        let writer = fleet.clients.first { $0.phase == .live }
        for _ in 0..<options.fanouts {
            guard let writer else { break }
            let expected = fleet.arrivals.count + fleet.live - 1
            fleet.write(at: writer)
            let until = DispatchTime.now().uptimeNanoseconds + 10_000_000_000
            while fleet.arrivals.count < expected && DispatchTime.now().uptimeNanoseconds < until {
                fleet.poll(milliseconds: 10)
            }
        }
        report("fan-out of one write to \(fleet.live - 1) branches (\(options.fanouts) writes)", fleet.arrivals)

        // Every branch writes once a second.
        fleet.resetArrivals()
        let liveClients = fleet.clients.filter { $0.phase == .live }
        let writeStart = DispatchTime.now().uptimeNanoseconds
        let period = 1_000_000_000 / UInt64(max(1, liveClients.count))
        var written = 0
        let writeEnd = writeStart + UInt64(options.writeSeconds) * 1_000_000_000
        while DispatchTime.now().uptimeNanoseconds < writeEnd {
            let due = Int((DispatchTime.now().uptimeNanoseconds - writeStart) / period)
            while written < due {
                fleet.write(at: liveClients[written % liveClients.count])
                written += 1
            }
            fleet.poll(milliseconds: 1)
        }
        runFor(fleet, seconds: 3)
        let expected = written * (liveClients.count - 1)
        report(
            "every branch writing 1/s for \(options.writeSeconds) s (\(written) writes, \(fleet.arrivals.count) of "
                + "\(expected) deliveries)", fleet.arrivals)
        let busy = HubProcessStats(pid: pid)
        print(
            "hub after the writes: RSS \(busy.residentMegabytes) MB, \(busy.threads) threads, \(busy.descriptors) fds"
        )
        fleet.closeAll()
    }

    /// Opens `--stalled` connections that never finish their handshake (half send a partial HELLO, half nothing)
    /// and 60 that announce a 16 MiB frame and send the start of it; measures the hub's memory while they stall and
    /// that the live branches still get every write.
    private func stalledConnections(_ fleet: FleetClients, pid: Int32) {
        let before = HubProcessStats(pid: pid)
        var sockets: [Int32] = []
        for index in 0..<(options.stalled + 60) {
            guard case .success(let fd) = FleetClients.connectLoopback(port: fleet.port) else { break }
            let bytes: [UInt8]
            if index >= options.stalled {
                // A legal 16 MiB frame (length 0x01000000, type HELLO) and its first 64 KiB.
                bytes = [0x01, 0x00, 0x00, 0x00, 0x01] + [UInt8](repeating: 0x41, count: 65_536)
            } else if index % 2 == 0 {
                bytes = [0x00, 0x00, 0x00, 0x40, 0x01, 0x02]
            } else {
                bytes = []
            }
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            sockets.append(fd)
            if index % 100 == 0 { fleet.poll(milliseconds: 0) }
        }
        runFor(fleet, seconds: 2)
        let during = HubProcessStats(pid: pid)
        fleet.resetArrivals()
        if let writer = fleet.clients.first(where: { $0.phase == .live }) {
            for _ in 0..<5 {
                let expected = fleet.arrivals.count + fleet.live - 1
                fleet.write(at: writer)
                let until = DispatchTime.now().uptimeNanoseconds + 10_000_000_000
                while fleet.arrivals.count < expected && DispatchTime.now().uptimeNanoseconds < until {
                    fleet.poll(milliseconds: 10)
                }
            }
        }
        print(
            "\(sockets.count - 60) stalled connections + 60 stalled 16 MiB frames: hub RSS \(before.residentMegabytes) "
                + "-> \(during.residentMegabytes) MB (+\(during.residentMegabytes - before.residentMegabytes) MB), "
                + "\(during.threads) threads, \(during.descriptors) fds")
        report("  meanwhile, fan-out of one write to \(fleet.live - 1) branches (5 writes)", fleet.arrivals)
        for fd in sockets { close(fd) }
        runFor(fleet, seconds: 1)
        let after = HubProcessStats(pid: pid)
        print("  after they closed: hub RSS \(after.residentMegabytes) MB, \(after.descriptors) fds")
    }

    private func report(_ label: String, _ samples: [Double]) {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else {
            print("\(label): no deliveries")
            return
        }
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        print(
            String(
                format: "%@: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d deliveries)", label, percentile(0.5),
                percentile(0.99), sorted.last ?? 0, sorted.count))
    }

    private func runFor(_ fleet: FleetClients, seconds: Double) {
        let until = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        while DispatchTime.now().uptimeNanoseconds < until { fleet.poll(milliseconds: 100) }
    }

    private func waitForPort(_ path: String) -> UInt16? {
        for _ in 0..<300 {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
                let port = UInt16(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return port
            }
            usleep(100_000)
        }
        return nil
    }

    private func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// `fleet-hub DIR PORTFILE`: runs the hub of a fleet run until terminated.
    static func runFleetHub(directory: String, portFile: String) throws -> Never {
        var limits = HubLimits()
        limits.maximumConnectionsPerAddress = 100_000
        let server = HubServer(directory: directory, limits: limits, logger: .silent, software: "bench")
        let port = try server.start(listeningOn: "127.0.0.1:0")
        _ = FileManager.default.createFile(atPath: portFile, contents: Data("\(port)\n".utf8))
        while true { sleep(60) }
    }
}
