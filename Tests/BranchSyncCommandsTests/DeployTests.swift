import Foundation
import Testing

@Suite struct DeployTests {
    static let systemdAnalyze = "/usr/bin/systemd-analyze"
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy")

    func deployFile(_ name: String) throws -> String {
        try String(contentsOf: Self.deploy.appendingPathComponent(name), encoding: .utf8)
    }

    /// The `Key=value` lines of a unit (values of a key given more than once, in order).
    func directives(_ unit: String) -> [String: [String]] {
        var found: [String: [String]] = [:]
        for line in unit.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("[") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            found[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        return found
    }

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
        #expect(units.contains("branchsync-hub.service") && units.contains("branchsync-branch.service"))
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

    /// The daemon's units run `run` with the config file, reload with SIGHUP, restart on failure and are confined
    /// as the backup units are.
    @Test(arguments: ["branchsync-hub.service", "branchsync-branch.service"])
    func theDaemonUnitsRunWithTheConfigFile(unit: String) throws {
        let found = directives(try deployFile("systemd/\(unit)"))
        let expected: [String: String] = [
            "ExecStart": "/usr/local/bin/branchsync run --config /etc/branchsync/branchsync.conf",
            "ExecReload": "/bin/kill -HUP $MAINPID", "Restart": "on-failure", "LimitNOFILE": "65536",
            "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/branchsync", "NoNewPrivileges": "yes",
            "PrivateTmp": "yes", "ProtectHome": "yes", "User": "branchsync", "Group": "branchsync",
            "WantedBy": "multi-user.target",
        ]
        for (key, value) in expected { #expect(found[key] == [value], "\(unit): \(key)") }
    }

    /// Every key the example config files set is one `branchsync` accepts: `--help` reads and checks the whole file,
    /// and a file with a key no command has is refused the same way (so the check is real).
    @Test(arguments: ["branchsync-hub.conf", "branchsync-branch.conf"])
    func theExampleConfigFilesAreAccepted(name: String) throws {
        let path = Self.deploy.appendingPathComponent(name).path
        let text = try deployFile(name)
        #expect(text.contains("\ndata = /var/lib/branchsync\n"))
        for arguments in [["run", "--help"], ["status", "--help"], ["backup", "--help"]] {
            let result = try runBinary(["--config", path] + arguments, onlyEnvironment: [:])
            #expect(result.status == 0 && result.err.isEmpty, "\(name) \(arguments): \(result.err)")
        }
        let directory = TemporaryDirectory()
        let broken = directory.write(name, text + "no-such-option = 1\n")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
        let refused = try runBinary(["--config", broken, "run", "--help"], onlyEnvironment: [:])
        #expect(refused.status == 2 && refused.err.contains("\(broken):\(lines): unknown key 'no-such-option'"))
    }

    /// The Containerfile builds the release binary in a Swift stage and runs it from a Debian slim stage as the
    /// same user, binary and data directory as the units; compose.yaml runs a hub and two branches from it whose
    /// config files are the ones the image holds; the entry point is valid shell.
    @Test func theContainerAgreesWithTheUnits() throws {
        let containerfile = try deployFile("Containerfile")
        let instructions = containerfile.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.hasPrefix(" ") }
        let stages = instructions.filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2, "\(stages)")
        #expect(stages.first.map { $0.contains("/swift:6.") && $0.hasSuffix(" AS build") } == true)
        #expect(stages.last.map { $0.contains("/debian:") && $0.hasSuffix("-slim") } == true)
        #expect(containerfile.contains("swift build -c release --product branchsync"))
        #expect(containerfile.contains("libsqlite3-0") && containerfile.contains("libssl3"))
        #expect(instructions.contains("USER branchsync"))
        #expect(instructions.contains("EXPOSE 7700 9464"))
        // Metrics on 127.0.0.1 (the example files') would be unreachable from outside the container.
        #expect(instructions.contains(#"CMD ["run", "--metrics", "0.0.0.0:9464"]"#), "\(instructions)")

        // The paths the units use are the image's.
        let unit = directives(try deployFile("systemd/branchsync-hub.service"))
        let binary = try #require(unit["ExecStart"]?.first?.split(separator: " ").first.map(String.init))
        let data = try #require(unit["ReadWritePaths"]?.first)
        let user = try #require(unit["User"]?.first)
        #expect(instructions.contains("VOLUME \(data)"))
        #expect(instructions.contains("COPY --from=build \(binary) \(binary)"))
        #expect(containerfile.contains("useradd --system --user-group --home-dir \(data) ") && user == "branchsync")
        #expect(try deployFile("install.sh").contains("useradd --system --user-group --home-dir \(data) "))
        let configs = try #require(
            instructions.first { $0.hasPrefix("COPY deploy/branchsync-hub.conf") }?.split(separator: " ").map(
                String.init))
        #expect(configs.last == "/etc/branchsync/")

        let entrypoint = Self.deploy.appendingPathComponent("container-entrypoint.sh").path
        #expect(FileManager.default.isExecutableFile(atPath: entrypoint))
        #expect(try runProgram("/bin/sh", ["-n", entrypoint]).status == 0)
        #expect(try deployFile("container-entrypoint.sh").contains("\nexec branchsync \"$@\"\n"))

        let compose = try ComposeFile(Self.deploy.appendingPathComponent("compose.yaml").path)
        #expect(compose.services.keys.sorted() == ["bj01", "hub", "sh01"])
        for (name, service) in compose.services {
            #expect(service.image == "localhost/branchsync:latest", "\(name)")
            #expect(service.volumes.contains { $0.hasSuffix(":\(data)") }, "\(name) keeps its data in a volume")
            let config = try #require(service.environment["BRANCHSYNC_CONFIG"], "\(name)")
            let file = URL(fileURLWithPath: config).lastPathComponent
            #expect(config == "/etc/branchsync/\(file)" && configs.contains("deploy/\(file)"), "\(name): \(config)")
            #expect(service.environment["BRANCHSYNC_ROLE"] == (name == "hub" ? "hub" : "branch"))
            if name != "hub" {
                #expect(
                    service.environment["BRANCHSYNC_HUB"] == "hub:7700"
                        && service.environment["BRANCHSYNC_SITE"] == name)
                #expect(service.dependsOn == ["hub"])
            }
        }
        #expect(compose.services["hub"]?.ports == ["7700:7700", "127.0.0.1:9464:9464"])
        #expect(compose.services["hub"]?.environment["BRANCHSYNC_BRANCHES"] == "bj01 sh01")
        #expect(compose.hasBuild, "the image is built from deploy/Containerfile")
        // The reader for machines without PyYAML reads the file the same way.
        let small = try ComposeFile(Self.deploy.appendingPathComponent("compose.yaml").path, smallReader: true)
        #expect(small.services == compose.services)
    }

    /// Every `README, "SECTION"` a deploy file points to is a heading of README.md.
    @Test func theDeployFilesPointToREADMESectionsThatExist() throws {
        let readme = try String(
            contentsOf: Self.deploy.deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        let headings = Set(
            readme.split(separator: "\n").filter { $0.hasPrefix("#") }.map { line in
                let title = line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)
                // "### 1. Install": the number is not part of the name.
                guard let dot = title.firstIndex(of: "."), title[..<dot].allSatisfy(\.isNumber) else { return title }
                return title[title.index(after: dot)...].trimmingCharacters(in: .whitespaces)
            })
        let pattern = try NSRegularExpression(pattern: #"README, "([^"]+)""#)
        var references = 0
        let files = FileManager.default.enumerator(atPath: Self.deploy.path)?.compactMap { $0 as? String } ?? []
        for file in files.sorted() {
            guard let text = try? String(contentsOf: Self.deploy.appendingPathComponent(file), encoding: .utf8)
            else { continue }
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let range = Range(match.range(at: 1), in: text) else { continue }
                references += 1
                #expect(headings.contains(String(text[range])), "deploy/\(file) points to README, \"\(text[range])\"")
            }
        }
        #expect(references >= 6, "\(references)")
    }

    /// A hub container whose enrolment stopped halfway (a `site add` failed after another succeeded) finishes it at
    /// its next start, without changing the secret of a branch already enrolled; a start after that changes nothing.
    @Test func theEntryPointFinishesAnEnrolmentThatStoppedHalfway() throws {
        let directory = TemporaryDirectory()
        let enrolment = directory.file("enrolment")
        try FileManager.default.createDirectory(atPath: enrolment, withIntermediateDirectories: true)
        // sh01's secret cannot be written (its path is a directory), so 'site add sh01' fails after bj01's.
        try FileManager.default.createDirectory(atPath: enrolment + "/sh01.secret", withIntermediateDirectories: true)
        let environment = [
            "PATH": branchsyncBinary().deletingLastPathComponent().path + ":/usr/bin:/bin",
            "BRANCHSYNC_DATA": directory.file("hq"), "BRANCHSYNC_ENROLMENT": enrolment, "BRANCHSYNC_ROLE": "hub",
            "BRANCHSYNC_SITE": "hq", "BRANCHSYNC_BRANCHES": "bj01 sh01", "BRANCHSYNC_ACTOR": "tester",
            "SWIFT_BACKTRACE": "enable=no",
        ]
        let entrypoint = Self.deploy.appendingPathComponent("container-entrypoint.sh").path
        let first = try runProgram("/bin/sh", [entrypoint, "site", "list"], environment: environment)
        #expect(first.status != 0, "\(first.output)")
        let bj01 = try String(contentsOfFile: enrolment + "/bj01.secret", encoding: .utf8)
        #expect(bj01.count == 65, "\(bj01)")

        try FileManager.default.removeItem(atPath: enrolment + "/sh01.secret")
        let second = try runProgram("/bin/sh", [entrypoint, "site", "list"], environment: environment)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("bj01") && second.output.contains("sh01"), "\(second.output)")
        #expect(try String(contentsOfFile: enrolment + "/bj01.secret", encoding: .utf8) == bj01)
        let sh01 = try String(contentsOfFile: enrolment + "/sh01.secret", encoding: .utf8)
        #expect(sh01.count == 65 && sh01 != bj01)

        let third = try runProgram("/bin/sh", [entrypoint, "site", "list"], environment: environment)
        #expect(third.status == 0 && !third.output.contains("secret written to"), "\(third.output)")
        #expect(try String(contentsOfFile: enrolment + "/sh01.secret", encoding: .utf8) == sh01)

        // Killed after the enrolment, before the secret was moved into place: the restart moves it.
        try FileManager.default.moveItem(atPath: enrolment + "/sh01.secret", toPath: enrolment + "/sh01.secret.new")
        let fourth = try runProgram("/bin/sh", [entrypoint, "site", "list"], environment: environment)
        #expect(fourth.status == 0, "\(fourth.output)")
        #expect(try String(contentsOfFile: enrolment + "/sh01.secret", encoding: .utf8) == sh01)
        // The secret lost altogether: the branch gets a new one.
        try FileManager.default.removeItem(atPath: enrolment + "/sh01.secret")
        let fifth = try runProgram("/bin/sh", [entrypoint, "site", "list"], environment: environment)
        #expect(fifth.status == 0, "\(fifth.output)")
        let renewed = try String(contentsOfFile: enrolment + "/sh01.secret", encoding: .utf8)
        #expect(renewed.count == 65 && renewed != sh01)
    }
}

/// What the tests check of deploy/compose.yaml, read with python3: with PyYAML when it is installed (anchors and
/// merge keys resolved), else with a small reader of the block style the file uses.
struct ComposeFile {
    struct Service: Decodable, Equatable {
        var image: String?
        var environment: [String: String] = [:]
        var volumes: [String] = []
        var ports: [String] = []
        var dependsOn: [String] = []
        var build: [String: String]?

        enum CodingKeys: String, CodingKey {
            case image, environment, volumes, ports, build
            case dependsOn = "depends_on"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            image = try container.decodeIfPresent(String.self, forKey: .image)
            environment = try container.decodeIfPresent([String: String].self, forKey: .environment) ?? [:]
            volumes = try container.decodeIfPresent([String].self, forKey: .volumes) ?? []
            ports = try container.decodeIfPresent([String].self, forKey: .ports) ?? []
            dependsOn = try container.decodeIfPresent([String].self, forKey: .dependsOn) ?? []
            build = try container.decodeIfPresent([String: String].self, forKey: .build)
        }
    }

    struct Document: Decodable {
        var services: [String: Service]
        var volumes: [String: String?]
    }

    var services: [String: Service]
    var hasBuild: Bool {
        services.values.contains { $0.build?["dockerfile"] == "deploy/Containerfile" && $0.build?["context"] == ".." }
    }

    /// Parses `path`, with PyYAML if python3 has it unless `smallReader`; throws when python3 is missing or the file
    /// is not the structure compose expects.
    init(_ path: String, smallReader: Bool = false) throws {
        let python =
            (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
            .map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/python3"
        let (status, output) = try runProgram(python, ["-c", Self.reader, path] + (smallReader ? ["small"] : []))
        guard status == 0 else { throw DeployTestError("python3 could not read \(path): \(output)") }
        let document = try JSONDecoder().decode(Document.self, from: Data(output.utf8))
        for (name, volume) in document.volumes where volume != nil {
            throw DeployTestError("volume \(name) has settings the test does not expect")
        }
        services = document.services
    }

    static let reader = #"""
        import json, sys
        text = open(sys.argv[1]).read()
        try:
            if len(sys.argv) > 2:
                raise ImportError('the small reader was asked for')
            import yaml
            document = yaml.safe_load(text)
        except ImportError:
            # Block mappings, block lists of scalars, '&anchor' on a mapping key and '<<: *anchor' merges: the
            # subset of YAML compose.yaml uses.
            lines = [l.rstrip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith('#')]
            document, anchors = {}, {}
            stack = [(-1, document)]
            def indent(line):
                return len(line) - len(line.lstrip())
            for number, line in enumerate(lines):
                body = line.strip()
                while stack[-1][0] >= indent(line):
                    stack.pop()
                parent = stack[-1][1]
                if body.startswith('- '):
                    parent.append(body[2:].strip().strip('"'))
                    continue
                key, _, value = body.partition(':')
                value = value.strip()
                if key == '<<':
                    parent.update(anchors[value.lstrip('*')])
                elif value == '' or value.startswith('&'):
                    following = lines[number + 1] if number + 1 < len(lines) else ''
                    nested = following and indent(following) > indent(line)
                    child = [] if following.strip().startswith('- ') else {}
                    if value.startswith('&'):
                        anchors[value[1:]] = child
                    parent[key] = child if nested else None
                    stack.append((indent(line), child))
                else:
                    parent[key] = value.strip('"')
        print(json.dumps(document))
        """#
}

struct DeployTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
