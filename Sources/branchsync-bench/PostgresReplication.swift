import Foundation

/// PostgreSQL logical replication of the same customer rows, for `branchsync-bench compare`: two clusters on
/// 127.0.0.1 in a temporary directory (a publisher and a subscriber), the initial copy of a subscription and streaming
/// of inserts in transactions of 1,000 rows. Both clusters are stopped by PID at the end, whatever happened.
///
/// Runs only when PostgreSQL 15's binaries are installed (`apt-get install postgresql`); as root, every PostgreSQL
/// command runs as the `postgres` user (PostgreSQL refuses to run as root).
final class PostgresReplication {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The PostgreSQL 15 binaries, if installed.
    static let binaries = "/usr/lib/postgresql/15/bin"
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: binaries + "/postgres") }

    let directory: String
    private let publisherPort: UInt16
    private let subscriberPort: UInt16
    private var started: [String] = []

    init(directory: String) throws {
        self.directory = directory
        publisherPort = UInt16(54_000 + Int(getpid() % 500) * 2)
        subscriberPort = publisherPort + 1
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 { try shell("chown -R postgres \(quoted(directory))", asPostgres: false) }
    }

    deinit { stop() }

    /// Creates and starts both clusters and the table on each.
    func start() throws {
        for (name, port) in [("publisher", publisherPort), ("subscriber", subscriberPort)] {
            let data = directory + "/" + name
            try shell("\(Self.binaries)/initdb -D \(quoted(data)) -U postgres --auth=trust -E UTF8 >/dev/null")
            let settings =
                "-p \(port) -k \(quoted(directory)) -c listen_addresses=127.0.0.1 -c wal_level=logical "
                + "-c max_wal_senders=10 -c max_replication_slots=10 -c fsync=on -c synchronous_commit=on "
                + "-c shared_buffers=256MB -c max_wal_size=4GB"
            try shell(
                // The server inherits pg_ctl's descriptors, among them one Foundation watches to learn that its child
                // exited; Python's `close_fds` starts pg_ctl without them, or the wait would last as long as the server.
                "python3 -c 'import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:], close_fds=True, "
                    + "stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))' "
                    + "\(Self.binaries)/pg_ctl -D \(quoted(data)) -o \(quoted(settings)) -l \(quoted(data + ".log")) -w start",
                capture: false)
            started.append(data)
            try sql(
                port,
                "CREATE TABLE customers (id uuid PRIMARY KEY, code text NOT NULL, name text NOT NULL, "
                    + "credit_code text, contact text, phone text, address text, industry text, category text);")
        }
        try sql(publisherPort, "CREATE PUBLICATION bench FOR TABLE customers;")
    }

    /// Loads `rows` at the publisher (COPY, one transaction), then times a new subscription's initial copy until the
    /// subscriber holds them all. - Returns: seconds.
    func initialCopy(_ rows: [[String]]) throws -> Double {
        let file = directory + "/initial.tsv"
        try write(rows, to: file)
        try sql(publisherPort, "\\copy customers FROM \(quoted(file))")
        let start = DispatchTime.now().uptimeNanoseconds
        try sql(
            subscriberPort,
            "CREATE SUBSCRIPTION bench CONNECTION 'host=127.0.0.1 port=\(publisherPort) dbname=postgres "
                + "user=postgres' PUBLICATION bench;")
        try waitForCount(rows.count, timeout: 600)
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Inserts `rows` at the publisher in transactions of 1,000 while the subscription streams; times from the first
    /// insert until the subscriber holds every row. - Returns: seconds.
    func streaming(_ rows: [[String]], alreadyThere: Int) throws -> Double {
        var script = ""
        for start in stride(from: 0, to: rows.count, by: 1_000) {
            script += "BEGIN;\nINSERT INTO customers VALUES\n"
            script +=
                rows[start..<min(start + 1_000, rows.count)].map { row in
                    "(" + row.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" }.joined(separator: ",")
                        + ")"
                }.joined(separator: ",\n")
            script += ";\nCOMMIT;\n"
        }
        let file = directory + "/stream.sql"
        _ = FileManager.default.createFile(atPath: file, contents: Data(script.utf8))
        if getuid() == 0 { try shell("chown postgres \(quoted(file))", asPostgres: false) }
        let start = DispatchTime.now().uptimeNanoseconds
        try shell(
            "\(Self.binaries)/psql -q -h \(quoted(directory)) -p \(publisherPort) -U postgres -f \(quoted(file)) "
                + "-v ON_ERROR_STOP=1 postgres >/dev/null")
        try waitForCount(alreadyThere + rows.count, timeout: 600)
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Stops both clusters by the PID in their `postmaster.pid` (and waits for them to exit).
    func stop() {
        for data in started {
            guard let text = try? String(contentsOfFile: data + "/postmaster.pid", encoding: .utf8),
                let pid = Int32(text.split(separator: "\n").first ?? "")
            else { continue }
            kill(pid, SIGTERM)
            for _ in 0..<300 where kill(pid, 0) == 0 { usleep(20_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        started = []
    }

    private func waitForCount(_ expected: Int, timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let count = Int(try query(subscriberPort, "SELECT count(*) FROM customers;")) ?? 0
            if count >= expected { return }
            usleep(20_000)
        }
        throw Failure(description: "the subscriber did not reach \(expected) rows in \(Int(timeout)) s")
    }

    private func write(_ rows: [[String]], to file: String) throws {
        var text = ""
        for row in rows { text += row.joined(separator: "\t") + "\n" }
        _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        if getuid() == 0 { try shell("chown postgres \(quoted(file))", asPostgres: false) }
    }

    private func sql(_ port: UInt16, _ statement: String) throws {
        _ = try query(port, statement)
    }

    private func query(_ port: UInt16, _ statement: String) throws -> String {
        try shell(
            "\(Self.binaries)/psql -qAt -h \(quoted(directory)) -p \(port) -U postgres -v ON_ERROR_STOP=1 "
                + "-c \(quoted(statement)) postgres")
    }

    /// Runs `command` with `/bin/sh` (as `postgres` when this process is root) and returns its standard output.
    @discardableResult
    private func shell(_ command: String, asPostgres: Bool = true, capture: Bool = true) throws -> String {
        let process = Process()
        if asPostgres && getuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            process.arguments = ["-u", "postgres", "--", "/bin/sh", "-c", command]
        } else {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", command]
        }
        guard capture else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw Failure(description: "\(command.prefix(200)) failed with status \(process.terminationStatus)")
            }
            return ""
        }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(command.prefix(200)): \(errorText.prefix(500))")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
