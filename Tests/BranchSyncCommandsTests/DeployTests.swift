import Foundation
import Testing

@Suite struct DeployTests {
    static let systemdAnalyze = "/usr/bin/systemd-analyze"

    /// Every unit in deploy/systemd passes `systemd-analyze verify` (with ExecStart pointed at the binary under test,
    /// since /usr/local/bin/branchsync is not installed here), and the backup timers start the backups README
    /// describes: a weekly full one and a daily incremental one.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: systemdAnalyze)))
    func theSystemdUnitsVerify() throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/systemd")
        let units = try FileManager.default.contentsOfDirectory(atPath: source.path).filter {
            $0.hasSuffix(".service") || $0.hasSuffix(".timer")
        }.sorted()
        #expect(units.contains("branchsync-backup-full.timer") && units.contains("branchsync-backup-incremental.timer"))
        let directory = TemporaryDirectory()
        for unit in units {
            let text = try String(contentsOf: source.appendingPathComponent(unit), encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/branchsync", with: branchsyncBinary().path)
            try text.write(toFile: directory.file(unit), atomically: true, encoding: .utf8)
        }
        let full = try String(
            contentsOf: source.appendingPathComponent("branchsync-backup-full.service"), encoding: .utf8)
        #expect(full.contains("backup --to /var/backups/branchsync --full"))
        let (status, output) = try runProgram(Self.systemdAnalyze, ["verify"] + units.map { directory.file($0) })
        #expect(status == 0 && output.isEmpty, "\(output)")
    }
}
