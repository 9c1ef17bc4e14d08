import BranchSyncCore
import BranchSyncCrypto
import BranchSyncNode
import BranchSyncStore
import Foundation

/// `branchsync site add|grant|list|retire|disable|enable|revoke|rotate-secret` (hub) and `branchsync join` (branch):
/// enrolment, clearance and access.
enum SiteCommand {
    static let clearanceOption = OptionSpec(
        "class-access", value: "CLASS",
        help: "the highest class of other sites' records it may hold: public, internal (default) or confidential")

    static let spec = CommandSpec(
        name: "site",
        abstract: "enrol branches at the hub and set what they may hold",
        subcommands: [
            CommandSpec(
                name: "add", abstract: "enrol a branch and print its secret once (the hub keeps only a verifier)",
                options: [
                    clearanceOption,
                    OptionSpec(
                        "secret-file", value: "PATH",
                        help: "write the secret to this file (mode 0600) instead of printing it"),
                ],
                arguments: [ArgumentSpec("ID", help: "the branch's site id")], run: add),
            CommandSpec(
                name: "grant",
                abstract: "change a branch's clearance; the hub backfills or purges at once (or at its next sync)",
                options: [clearanceOption], arguments: [ArgumentSpec("ID", help: "the branch's site id")], run: grant),
            CommandSpec(
                name: "list", abstract: "list enrolled branches and their clearance", options: [.json], run: list),
            HandoverCommand.retireSpec,
            CommandSpec(
                name: "disable", abstract: "stop a branch from syncing until 'site enable' (a session ends at once)",
                arguments: [ArgumentSpec("ID", help: "the branch's site id")], run: { try access($0, .disable) }),
            CommandSpec(
                name: "enable", abstract: "let a disabled branch sync again",
                arguments: [ArgumentSpec("ID", help: "the branch's site id")], run: { try access($0, .enable) }),
            CommandSpec(
                name: "revoke",
                abstract: "revoke a branch for good: its secret stops working and a session ends at once",
                discussion: """
                    Its records stay at the hub (and wherever they replicated). To hand them to another site with a \
                    list of what was handed over, use 'site retire' instead.
                    """,
                arguments: [ArgumentSpec("ID", help: "the branch's site id")], run: { try access($0, .revoke) }),
            CommandSpec(
                name: "rotate-secret",
                abstract: "give a branch a new secret: the old one stops working; the branch takes it with 'join'",
                options: [
                    OptionSpec(
                        "secret-file", value: "PATH",
                        help: "write the secret to this file (mode 0600) instead of printing it")
                ],
                arguments: [ArgumentSpec("ID", help: "the branch's site id")], run: rotateSecret),
        ])

    static let joinSpec = CommandSpec(
        name: "join",
        abstract: "on a branch: set the hub's address and this branch's enrolment secret",
        options: [
            OptionSpec("hub", value: "HOST:PORT", help: "where the hub listens (required)"),
            OptionSpec("secret-file", value: "PATH", help: "the file 'site add' wrote on the hub (required)"),
            tlsOption,
        ],
        run: join)

    /// `--tls-ca`, for init and join.
    static let tlsOption = OptionSpec(
        "tls-ca", value: "PEM", help: "require TLS: trust the hub's certificate if this CA (or certificate) signed it")

    /// Reads and checks the PEM given with `--tls-ca`, if any (before anything is written).
    static func readTLSTrust(_ invocation: Invocation) throws -> String? {
        guard let path = invocation.value("tls-ca") else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(exitCode: ExitCode.failure, message: "cannot read the TLS CA file \(path)")
        }
        let pem = String(decoding: data, as: UTF8.self)
        do { _ = try TLSContext.client(trustedPEM: pem) } catch let error as NodeError {
            throw CLIError(exitCode: ExitCode.invalidData, message: "\(path): \(error.message)")
        }
        return pem
    }

    static func clearance(_ invocation: Invocation) throws -> Classification {
        guard let text = invocation.value("class-access") else { return Scope.defaultClearance }
        let value = try Classification(parsing: text)
        try Scope.validateClearance(value)
        return value
    }

    static func add(_ invocation: Invocation) throws -> Int32 {
        let site = try SiteID(invocation.arguments[0])
        let clearance = try clearance(invocation)
        let store = try invocation.openStore()
        let secret = try SiteCredentials.newSecret()
        let verifier = SiteCredentials.verifier(for: secret)
        try withSecretFile(invocation.value("secret-file"), hex(secret)) {
            try store.enroll(
                site: site, clearance: clearance, storedKey: verifier.storedKey, serverKey: verifier.serverKey)
        }
        if let path = invocation.value("secret-file") {
            invocation.console.line("enrolled \(site) (clearance \(clearance.rawValue)); secret written to \(path)")
        } else {
            invocation.console.line(
                "enrolled \(site) (clearance \(clearance.rawValue)); its secret (shown once, keep it safe):")
            invocation.console.line(hex(secret))
        }
        return ExitCode.success
    }

    /// Runs `commit` (which stores the secret's verifier) with the secret written to `path` (mode 0600) if one is
    /// given: first to a new file beside it, so an unwritable path fails before anything is stored, then moved over
    /// `path` once the commit succeeded. A failed commit leaves an existing file (perhaps the secret that works now)
    /// as it was.
    static func withSecretFile(_ path: String?, _ text: String, _ commit: () throws -> Void) throws {
        guard let path else { return try commit() }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CLIError(
                exitCode: ExitCode.failure,
                message: "cannot write the secret to \(path): it is a directory; nothing was changed")
        }
        let staged = path + ".new"
        guard PrivateFile.stage(text + "\n", at: staged) else {
            throw CLIError(
                exitCode: ExitCode.failure,
                message: "cannot write the secret next to \(path) (\(String(cString: strerror(errno)))): nothing was "
                    + "changed")
        }
        do { try commit() } catch {
            unlink(staged)
            throw error
        }
        guard PrivateFile.install(staged, at: path) else {
            throw CLIError(
                exitCode: ExitCode.failure,
                message: "the new secret is stored at the hub, but could not be moved to \(path) "
                    + "(\(String(cString: strerror(errno)))): it is in \(staged)")
        }
    }

    static func access(_ invocation: Invocation, _ change: SiteAccessChange) throws -> Int32 {
        let site = try SiteID(invocation.arguments[0])
        try invocation.openStore().changeAccess(of: site, change)
        invocation.pokeDaemon()
        let what: String
        switch change {
        case .disable: what = "disabled \(site): it cannot sync until 'branchsync site enable \(site)'"
        case .enable:
            what = "enabled \(site): it syncs again at its next connection (a running daemon retries by itself)"
        case .revoke: what = "revoked \(site): its secret no longer works; its records stay"
        }
        invocation.console.line(what)
        return ExitCode.success
    }

    private static func accessWord(_ peer: PeerRecord) -> String {
        peer.retiredAt != nil ? "retired" : peer.revokedAt != nil ? "revoked" : "disabled"
    }

    static func rotateSecret(_ invocation: Invocation) throws -> Int32 {
        let site = try SiteID(invocation.arguments[0])
        let store = try invocation.openStore()
        let secret = try SiteCredentials.newSecret()
        let verifier = SiteCredentials.verifier(for: secret)
        try withSecretFile(invocation.value("secret-file"), hex(secret)) {
            try store.rotateSecret(of: site, storedKey: verifier.storedKey, serverKey: verifier.serverKey)
        }
        invocation.pokeDaemon()
        if let path = invocation.value("secret-file") {
            invocation.console.line(
                "new secret for \(site) written to \(path); at the branch: branchsync join --hub HOST:PORT "
                    + "--secret-file \(path)")
        } else {
            invocation.console.line("new secret for \(site) (shown once, keep it safe); at the branch: branchsync join")
            invocation.console.line(hex(secret))
        }
        return ExitCode.success
    }

    static func grant(_ invocation: Invocation) throws -> Int32 {
        let site = try SiteID(invocation.arguments[0])
        guard invocation.value("class-access") != nil else {
            throw CLIError.usage("missing --class-access for 'branchsync site grant'")
        }
        let clearance = try clearance(invocation)
        let store = try invocation.openStore()
        let previous = try store.setClearance(site: site, clearance: clearance)
        invocation.pokeDaemon()
        invocation.console.line(
            "\(site): clearance \(previous.rawValue) -> \(clearance.rawValue); records are backfilled or purged at "
                + "once if it is connected, otherwise at its next sync"
        )
        return ExitCode.success
    }

    static func list(_ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let peers = try store.peers().filter { $0.role == .branch }
        if invocation.flag("json") {
            invocation.console.write(
                JSONLines.array(
                    peers.map {
                        CanonicalJSON.object([
                            ("site", CanonicalJSON.quote($0.site.rawValue)),
                            ("clearance", CanonicalJSON.quote($0.clearance.rawValue)),
                            ("enrolledAt", CanonicalJSON.quote($0.enrolledAt)),
                            ("retiredAt", $0.retiredAt.map(CanonicalJSON.quote) ?? "null"),
                            ("successor", $0.successor.map { CanonicalJSON.quote($0.rawValue) } ?? "null"),
                            ("access", CanonicalJSON.quote($0.accessDenied == nil ? "active" : accessWord($0))),
                        ])
                    }))
            return ExitCode.success
        }
        var table = TextTable(["site", "clearance", "enrolled", "access"])
        for peer in peers {
            let access =
                peer.accessDenied == nil
                ? "active"
                : accessWord(peer) + " " + (peer.retiredAt ?? peer.revokedAt ?? peer.disabledAt ?? "").prefix(19)
                    + (peer.successor.map { ", successor \($0)" } ?? "")
            table.append([peer.site.rawValue, peer.clearance.rawValue, String(peer.enrolledAt.prefix(19)), access])
        }
        invocation.console.write(table.render())
        return ExitCode.success
    }

    static func join(_ invocation: Invocation) throws -> Int32 {
        let hub = try invocation.required("hub")
        try HostPort.validate(hub, option: "hub")
        let secret = try readSecret(try invocation.required("secret-file"))
        let trust = try readTLSTrust(invocation)
        let store = try invocation.openStore()
        guard store.identity.role == .branch else { throw CLIError.usage("join is for branches; this node is the hub") }
        try store.setMetadata("hub", hub)
        try store.setMetadata(BranchClient.secretKey, secret)
        if let trust { try store.setMetadata(BranchClient.tlsTrustKey, trust) }
        invocation.console.line("\(store.identity.site) will sync with the hub at \(hub)")
        return ExitCode.success
    }

    /// Reads and checks a secret file written by `site add`.
    static func readSecret(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(exitCode: ExitCode.failure, message: "cannot read the secret file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let secret = bytes(fromHex: text), secret.count == SiteCredentials.secretLength else {
            throw CLIError(
                exitCode: ExitCode.invalidData,
                message: "\(path) does not hold a BranchSync secret (64 hex digits, as 'site add' prints)")
        }
        return text
    }
}
