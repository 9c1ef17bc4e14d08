import BranchSyncCommands
@_exported import BranchSyncTestSupport
import Foundation

/// The result of one `branchsync` run.
struct RunResult {
    var status: Int32
    var out: String
    var err: String
    /// The signal that ended the process, if any (binary runs only).
    var signal: Int32? = nil
}

/// Runs the tool in-process with a data directory and a capturing console.
func cli(_ arguments: [String], data: String, environment: [String: String] = [:]) -> RunResult {
    let console = Console.capturing()
    var env = environment
    env["BRANCHSYNC_DATA"] = data
    env["BRANCHSYNC_ACTOR"] = env["BRANCHSYNC_ACTOR"] ?? "tester"
    let status = BranchSyncTool.run(arguments, environment: env, console: console)
    return RunResult(status: status, out: console.standardOutput, err: console.standardError)
}

/// The built `branchsync` executable, next to the test bundle.
func branchsyncBinary() -> URL {
    let bundle = URL(
        fileURLWithPath: CommandLine.arguments.first { $0.hasSuffix(".xctest") } ?? CommandLine.arguments[0])
    var directory = bundle.deletingLastPathComponent()
    if !FileManager.default.fileExists(atPath: directory.appendingPathComponent("branchsync").path) {
        directory = Bundle.main.bundleURL
    }
    return directory.appendingPathComponent("branchsync")
}

/// Runs the built binary as a separate process.
func runBinary(_ arguments: [String], data: String, environment: [String: String] = [:]) throws -> RunResult {
    var env = ProcessInfo.processInfo.environment
    env["BRANCHSYNC_DATA"] = data
    env["BRANCHSYNC_ACTOR"] = "tester"
    env["SWIFT_BACKTRACE"] = "enable=no"
    for (key, value) in environment { env[key] = value }
    return try runBinary(arguments, exactEnvironment: env)
}

/// Runs the built binary with exactly `environment`, its output and errors apart.
private func runBinary(_ arguments: [String], exactEnvironment environment: [String: String]) throws -> RunResult {
    let process = Process()
    process.executableURL = branchsyncBinary()
    process.arguments = arguments
    process.environment = environment
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let signalled = process.terminationReason == .uncaughtSignal
    return RunResult(
        status: signalled ? -1 : process.terminationStatus, out: String(decoding: outData, as: UTF8.self),
        err: String(decoding: errData, as: UTF8.self), signal: signalled ? process.terminationStatus : nil)
}

/// Runs a program to its end with standard output and error in one text, as a terminal would show them.
func runProgram(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (
    status: Int32, output: String
) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text)
}

/// The port a daemon started with `--port-file FILE` wrote there, once it has (`nil` after `timeout` seconds).
func portWritten(to file: String, timeout: Double = 20) -> UInt16? {
    var port: UInt16?
    _ = eventually(timeout: timeout) {
        port = (try? String(contentsOfFile: file, encoding: .utf8)).flatMap {
            UInt16($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return port != nil
    }
    return port
}

/// Initialises branch `site` in `data` for the hub at 127.0.0.1:`port`, with the secret `site add` wrote to
/// `directory`'s `SITE.secret`.
@discardableResult
func initBranch(_ site: String, data: String, port: UInt16, directory: TemporaryDirectory) -> RunResult {
    cli(
        [
            "init", "--site", site, "--role", "branch", "--hub", "127.0.0.1:\(port)", "--secret-file",
            directory.file("\(site).secret"),
        ], data: data)
}

/// Runs the built binary with only `environment` (plus `PATH` and `HOME`), so no `BRANCHSYNC_*` variable of the test's
/// own environment leaks in: for tests of what the environment and a config file decide.
func runBinary(_ arguments: [String], onlyEnvironment environment: [String: String]) throws -> RunResult {
    var env = ["SWIFT_BACKTRACE": "enable=no", "BRANCHSYNC_ACTOR": "tester"]
    for key in ["PATH", "HOME"] { env[key] = ProcessInfo.processInfo.environment[key] }
    env.merge(environment) { $1 }
    return try runBinary(arguments, exactEnvironment: env)
}
