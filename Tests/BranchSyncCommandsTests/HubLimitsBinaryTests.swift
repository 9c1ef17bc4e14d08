import BranchSyncTestSupport
import BranchSyncWire
import Foundation
import Testing

/// Issue 7, as an operator runs it: the hub binary started with a 1,024 soft descriptor limit raises it, says what it
/// can hold, refuses connections over `--max-connections` with `TRY_LATER`, and `status` shows the limit was hit.
@Suite(.serialized) struct HubLimitsBinaryTests {
    /// Connects to 127.0.0.1:`port` with a receive timeout.
    static func connect(_ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
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
        let portFile = directory.file("port")
        let log = directory.file("hq.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let hub = Process()
        hub.executableURL = URL(fileURLWithPath: "/bin/sh")
        hub.arguments = [
            "-c",
            "ulimit -S -n 1024 && exec \"$0\" --data \"$1\" run --listen 127.0.0.1:0 --port-file \"$2\" --max-connections 3",
            branchsyncBinary().path, data, portFile,
        ]
        hub.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        hub.standardOutput = FileHandle.nullDevice
        try hub.run()
        defer {
            hub.terminate()
            hub.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(20)
        var port: UInt16?
        while port == nil && Date() < deadline {
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap {
                UInt16($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if port == nil { usleep(50_000) }
        }
        guard let port else {
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
        var shown = false
        while !shown && Date() < deadline {
            shown = try runBinary(["status"], data: data).out.contains("limit connections reached 1 time(s)")
            if !shown { usleep(100_000) }
        }
        #expect(shown, "status does not show the limit")
    }
}
