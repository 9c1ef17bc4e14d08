import Foundation
import Testing

@Suite struct ReadmeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The README's first walkthrough ("A branch, offline") runs as written from the repository's root, with its
    /// sample files from docs/examples: every command succeeds, except the two the README marks `(exit 3)`, which
    /// exit 3. (`swift build` and the alias are replaced by the binary under test; the data directory is a temporary
    /// one.)
    @Test func theOfflineBranchWalkthroughRunsAsWritten() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## A branch, offline"))
        let block = try #require(readme[section.upperBound...].range(of: "```sh\n"))
        let end = try #require(readme[block.upperBound...].range(of: "```"))
        // Each command with the exit status the README gives it: `(exit 3)` on its line or on a comment line below.
        var commands: [(command: String, status: Int)] = []
        var pending = ""
        for line in readme[block.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false) {
            pending += line.hasSuffix("\\") ? line.dropLast() + " " : String(line)
            if line.hasSuffix("\\") { continue }
            defer { pending = "" }
            let command = pending.trimmingCharacters(in: .whitespaces)
            if command.hasPrefix("#"), command.contains("(exit 3"), let last = commands.indices.last {
                commands[last].status = 3
            }
            guard !command.isEmpty, !command.hasPrefix("#"), !command.hasPrefix("swift build"),
                !command.hasPrefix("export BRANCHSYNC_DATA")
            else { continue }
            commands.append((command, command.contains("(exit 3") ? 3 : 0))
        }
        #expect(commands.count >= 10, "\(commands)")
        let directory = TemporaryDirectory()
        var script = """
            set -u
            branchsync() { "\(branchsyncBinary().path)" "$@"; }
            export BRANCHSYNC_DATA="\(directory.file("bj01"))"
            cd "\(Self.root.path)"

            """
        for (index, (command, expected)) in commands.enumerated() {
            let safe = command.replacingOccurrences(of: "/tmp/bj01.json", with: directory.file("bj01.json"))
            script +=
                "\(safe)\nstatus=$?; [ $status -eq \(expected) ] || { echo \"command \(index + 1) exited $status\"; exit 1; }\n"
        }
        let (status, text) = try runProgram("/bin/bash", ["-c", script])
        #expect(status == 0, "\(text)")
        #expect(text.contains("expected 'B'"), "the refused credit code is explained")
    }
}
