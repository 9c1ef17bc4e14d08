import Foundation
import Synchronization
import Testing

@testable import BranchSyncCommands

/// `--config FILE` / `$BRANCHSYNC_CONFIG`: the file's keys become options of the command being run, under the command
/// line and the environment; what is wrong in it is named by file and line, with exit 2.
@Suite struct ConfigFileTests {
    /// Three hubs with different site names, so `status` shows which data directory it opened.
    let directory = TemporaryDirectory()
    var fileData: String { directory.file("from-file") }
    var environmentData: String { directory.file("from-environment") }
    var flagData: String { directory.file("from-flag") }

    init() {
        _ = cli(["init", "--site", "filehq", "--role", "hub"], data: fileData)
        _ = cli(["init", "--site", "envhq", "--role", "hub"], data: environmentData)
        _ = cli(["init", "--site", "flaghq", "--role", "hub"], data: flagData)
    }

    /// The site `status` reported, from its first line `hub SITE — …`.
    func site(_ result: RunResult) -> String? {
        guard result.status == 0, let first = result.out.split(separator: "\n").first else { return nil }
        let words = first.split(separator: " ")
        return words.count > 1 && words[0] == "hub" ? String(words[1]) : nil
    }

    @Test func theFileSetsTheDataDirectoryAndTheCommandLineAndEnvironmentWin() throws {
        let config = directory.write(
            "branchsync.conf",
            """
            # a node's settings
            data = \(fileData)   # where the node lives

            listen = 127.0.0.1:0
            verbose = true
            """)
        let environment = ["BRANCHSYNC_DATA": environmentData]
        #expect(site(try runBinary(["--config", config, "status"], onlyEnvironment: [:])) == "filehq")
        #expect(site(try runBinary(["status"], onlyEnvironment: ["BRANCHSYNC_CONFIG": config])) == "filehq")
        #expect(site(try runBinary(["--config", config, "status"], onlyEnvironment: environment)) == "envhq")
        #expect(
            site(try runBinary(["--config", config, "--data", flagData, "status"], onlyEnvironment: [:])) == "flaghq")
        #expect(
            site(try runBinary(["--config", config, "status", "--data", flagData], onlyEnvironment: environment))
                == "flaghq")
        // --config wins over $BRANCHSYNC_CONFIG.
        let other = directory.write("other.conf", "data = \(flagData)\n")
        #expect(
            site(try runBinary(["--config", other, "status"], onlyEnvironment: ["BRANCHSYNC_CONFIG": config]))
                == "flaghq")
    }

    /// A flag in the file is `true` or `false`; a command's own arguments (`json`, `to`, `site`, `hub`) are not
    /// settings a file shared by every command may hold.
    @Test func aFlagInTheFileIsTrueOrFalseAndArgumentsAreRefused() throws {
        let on = directory.write("on.conf", "data = \(fileData)\nverbose = true\n")
        #expect(site(try runBinary(["--config", on, "status"], onlyEnvironment: [:])) == "filehq")
        let maybe = directory.write("maybe.conf", "data = \(fileData)\nverbose = maybe\n")
        let refused = try runBinary(["--config", maybe, "status"], onlyEnvironment: [:])
        #expect(refused.status == 2 && refused.err.contains("'verbose' is a flag: write true or false"), "\(refused)")
        for key in ["json = true", "to = /srv/backups", "site = bj01", "hub = hq.example:7700"] {
            let config = directory.write("argument.conf", "data = \(fileData)\n\(key)\n")
            let result = try runBinary(["--config", config, "status"], onlyEnvironment: [:])
            #expect(
                result.status == 2 && result.err.contains("argument.conf:2: '")
                    && result.err.contains("is an argument of a command, not a node setting"), "\(key): \(result)")
        }
    }

    /// One file serves every command: `status` skips `listen` and `log-file` (run's).
    @Test func keysOfOtherCommandsAreSkipped() throws {
        let config = directory.write(
            "shared.conf", "data = \(fileData)\nlisten = 0.0.0.0:7700\nlog-file = /nonexistent/x.log\n")
        let result = try runBinary(["--config", config, "status"], onlyEnvironment: [:])
        #expect(site(result) == "filehq", "\(result)")
    }

    @Test(arguments: [
        ("data = /x\nlisten 127.0.0.1:7700\n", 2, "expected 'key = value', got 'listen 127.0.0.1:7700'"),
        (
            "# keys\n\nlissten = 127.0.0.1:7700\n", 3,
            "unknown key 'lissten': no branchsync command has an option --lissten; see 'branchsync <command> --help'"
        ),
        ("verbose = yes\n", 1, "'verbose' is a flag: write true or false, got 'yes'"),
        ("data = /a\ndata = /b\n", 2, "'data' is already set at line 1; keep one of them"),
        ("--data = /a\n", 1, "write the key without dashes: 'data = /a'"),
        ("data =\n", 1, "'data' has no value; write 'data = VALUE' or remove it"),
        ("config = /etc/other.conf\n", 1, "'config' cannot be set in a config file"),
        ("Data Dir = /a\n", 1, "'Data Dir' is not a key; keys are option names such as 'data' or 'log-file'"),
        // What the file holds reaches the terminal escaped: no control character gets through.
        ("verbose = y\u{1B}[2Jes\n", 1, "'verbose' is a flag: write true or false, got 'y\\u{1b}[2Jes'"),
        ("--data = /a\u{7}b\n", 1, "write the key without dashes: 'data = /a\\u{7}b'"),
        ("verbose = \"\"\n", 1, "'verbose' has no value; write 'verbose = VALUE' or remove it"),
    ])
    func aWrongLineIsNamedByFileAndLineWithExit2(text: String, line: Int, message: String) throws {
        let config = directory.write("wrong.conf", text)
        // Every command checks the whole file, including --help and commands the key is not for.
        for arguments in [["status"], ["status", "--help"], ["customer", "list"]] {
            let result = try runBinary(["--config", config] + arguments, onlyEnvironment: [:])
            #expect(result.status == 2, "\(arguments): \(result)")
            #expect(result.err == "branchsync: error: \(config):\(line): \(message)\n", "\(arguments)")
            #expect(result.out.isEmpty)
        }
    }

    @Test func aMissingFileIsAClearError() throws {
        let missing = directory.file("missing.conf")
        let flag = try runBinary(["--config", missing, "status"], onlyEnvironment: [:])
        #expect(flag.status == 2)
        #expect(
            flag.err == "branchsync: error: config file \(missing) (from --config) does not exist; create it or fix "
                + "the path\n")
        let variable = try runBinary(["status"], onlyEnvironment: ["BRANCHSYNC_CONFIG": missing])
        #expect(variable.status == 2)
        #expect(variable.err.contains("config file \(missing) (from $BRANCHSYNC_CONFIG) does not exist"))
    }

    /// One pair of matching quotes around a value is removed; other quotes are the value's own.
    @Test func surroundingQuotesAreRemoved() throws {
        for value in ["\"\(fileData)\"", "'\(fileData)'"] {
            let config = directory.write("quoted.conf", "data = \(value)\nverbose = \"false\"\n")
            let result = try runBinary(["--config", config, "status"], onlyEnvironment: [:])
            #expect(site(result) == "filehq", "\(value): \(result)")
        }
        #expect(ConfigFile.unquoted("\"Ops\"") == "Ops" && ConfigFile.unquoted("'Ops'") == "Ops")
        for kept in ["\"Ops'", "\"", "O\"ps\"", "\"\"Ops\"\"x"] { #expect(ConfigFile.unquoted(kept) == kept) }
        #expect(ConfigFile.unquoted("\"\"Ops\"\"") == "\"Ops\"")
    }

    /// A directory, a device or a FIFO is refused before it is read (a FIFO would block the read for good).
    @Test func aPathThatIsNotARegularFileIsAClearError() throws {
        for (path, kind) in [(directory.path, "a directory"), ("/dev/null", "a device")] {
            let result = try runBinary(["--config", path, "status"], onlyEnvironment: [:])
            #expect(result.status == 2)
            #expect(
                result.err == "branchsync: error: config file \(path) (from --config) is not a regular file (it is "
                    + "\(kind)); give the path of the file itself\n", "\(result)")
        }
        let fifo = directory.file("fifo.conf")
        try #require(mkfifo(fifo, 0o600) == 0)
        let loaded = DispatchSemaphore(value: 0)
        let message = Mutex<String?>(nil)
        Thread.detachNewThread {
            do { _ = try ConfigFile.load(fifo) } catch { message.withLock { $0 = "\(error)" } }
            loaded.signal()
        }
        let answered = loaded.wait(timeout: .now() + 10) == .success
        if !answered {
            // Unblock the reader: a writer that opens and closes gives it an end of file.
            close(open(fifo, O_WRONLY | O_NONBLOCK))
            loaded.wait()
        }
        #expect(answered, "loading a FIFO blocked")
        let text = message.withLock { $0 }
        #expect(text?.contains("is not a regular file (it is a FIFO)") == true, "\(text ?? "no error")")
    }

    /// A value the command refuses names the line that set it, since the operator did not type it.
    @Test func aBadValueFromTheFileNamesItsLine() throws {
        let config = directory.write("listen.conf", "data = \(fileData)\nlisten = nowhere\n")
        let result = try runBinary(["--config", config, "run"], onlyEnvironment: [:])
        #expect(result.status == 2)
        #expect(result.err == "branchsync: error: --listen: 'nowhere' is not HOST:PORT (set at \(config):2)\n")
        let format = directory.write("format.conf", "data = \(fileData)\nlog-format = xml\n")
        let refused = try runBinary(["--config", format, "run"], onlyEnvironment: [:])
        #expect(refused.status == 2)
        #expect(refused.err == "branchsync: error: --log-format must be text or json, got 'xml' (set at \(format):2)\n")
    }

    @Test func helpDocumentsTheConfigFile() throws {
        let status = try runBinary(["status", "--help"], onlyEnvironment: [:])
        #expect(status.out.contains("--config PATH  read options from this file (default: $BRANCHSYNC_CONFIG)"))
        let run = try runBinary(["run", "--help"], onlyEnvironment: [:])
        #expect(run.out.contains("--log-file PATH") && run.out.contains("--log-format text|json"))
        #expect(run.out.contains("SIGHUP reopens the log file"))
        let root = try runBinary(["--help"], onlyEnvironment: [:])
        #expect(root.out.contains("A config file (--config PATH or $BRANCHSYNC_CONFIG)"))
    }
}
