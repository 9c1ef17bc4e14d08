import BranchSyncFleet
import BranchSyncTestSupport
import BranchSyncWire
import Foundation
import Testing

/// Issue 7, as an operator runs it: the hub binary started with a 1,024 soft descriptor limit raises it, says what it
/// can hold, refuses connections over `--max-connections` with `TRY_LATER`, and `status` shows the limit was hit.
@Suite(.serialized) struct HubLimitsBinaryTests {
    /// Connects to 127.0.0.1:`port` with a receive timeout (-1 when the connection fails).
    static func connect(_ port: UInt16) -> Int32 {
        guard case .success(let fd) = FleetClients.connectLoopback(port: port) else { return -1 }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// The first message the hub sends on `fd`, if any within the timeout.
    static func firstMessage(_ fd: Int32) -> Message? {
        var decoder = FrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let frame = try? decoder.next() { return try? Message.decode(type: frame.type, payload: frame.payload) }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return nil }
            decoder.append(buffer[0..<count])
        }
    }

    @Test func aHubAtItsConnectionLimitRefusesCleanlyAndStatusSaysSo() throws {
        let directory = TemporaryDirectory()
        let data = directory.file("hq")
        #expect(try runBinary(["init", "--site", "hq", "--role", "hub"], data: data).status == 0)
        let log = directory.file("hq.log")
        let hub = try Daemon(
            ["run", "--listen", "127.0.0.1:0", "--port-file", directory.file("port"), "--max-connections", "3"],
            data: data, log: log, ulimit: "-S -n 1024")
        defer { hub.terminate() }
        guard let port = portWritten(to: directory.file("port")) else {
            Issue.record("the hub did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            return
        }
        var hard = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &hard)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("soft-limit=\(hard.rlim_max) raised-from=1024"), "\(text)")
        #expect(text.contains("max-connections=3"), "\(text)")
        let admitted = (0..<3).map { _ in Self.connect(port) }
        defer { admitted.forEach { close($0) } }
        let refused = Self.connect(port)
        defer { close(refused) }
        guard case .error(let error)? = Self.firstMessage(refused) else {
            Issue.record("the fourth connection was not refused")
            return
        }
        #expect(error.code == .tryLater)
        #expect(error.message == "the hub holds its maximum of 3 connections; retry later")
        let shown = eventually(timeout: 20, poll: 0.1) {
            (try? runBinary(["status"], data: data).out.contains("limit connections reached 1 time(s)")) == true
        }
        #expect(shown, "status does not show the limit")
    }
}
