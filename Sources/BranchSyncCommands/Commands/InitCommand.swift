import BranchSyncCore
import BranchSyncNode
import BranchSyncStore

/// `branchsync init`: creates a node.
enum InitCommand {
    static let spec = CommandSpec(
        name: "init",
        abstract: "create a hub or branch node in the data directory",
        discussion: "The site id is fixed for the node's life: lowercase letters, digits and '-', at most 32.",
        options: [
            OptionSpec("site", value: "ID", help: "this node's site id, e.g. hq, bj01, sh-pudong (required)"),
            OptionSpec("role", value: "hub|branch", help: "hub (group information center) or branch (required)"),
            OptionSpec("hub", value: "HOST:PORT", help: "for a branch: where its hub listens"),
            OptionSpec("secret-file", value: "PATH", help: "for a branch: the secret file 'site add' wrote on the hub"),
            SiteCommand.tlsOption,
        ],
        run: run)

    static func run(_ invocation: Invocation) throws -> Int32 {
        let site = try SiteID(try invocation.required("site"))
        let roleText = try invocation.required("role")
        guard let role = NodeRole(rawValue: roleText) else {
            throw CLIError.usage("--role must be hub or branch, got '\(roleText)'")
        }
        let hub = invocation.value("hub")
        let secret = try invocation.value("secret-file").map { try SiteCommand.readSecret($0) }
        if secret != nil && role != .branch { throw CLIError.usage("--secret-file is for branches") }
        if invocation.value("tls-ca") != nil && role != .branch {
            throw CLIError.usage("--tls-ca is for branches; a hub uses run --tls-cert")
        }
        let trust = try SiteCommand.readTLSTrust(invocation)
        if let hub {
            guard role == .branch else {
                throw CLIError.usage("--hub is for branches; a hub listens with 'run --listen'")
            }
            try HostPort.validate(hub, option: "hub")
        }
        let store = try NodeStore.initialize(
            directory: invocation.dataDirectory, identity: NodeIdentity(site: site, role: role, hubAddress: hub),
            actor: invocation.actor)
        if let secret { try store.setMetadata(BranchClient.secretKey, secret) }
        if let trust { try store.setMetadata(BranchClient.tlsTrustKey, trust) }
        invocation.console.line(
            "initialised \(role.rawValue) \(site) in \(store.directory)" + (hub.map { " (hub \($0))" } ?? ""))
        return ExitCode.success
    }
}

/// `HOST:PORT` as given on the command line.
enum HostPort {
    static func validate(_ text: String, option: String) throws {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex,
            let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
        else {
            throw CLIError.usage("--\(option) must be HOST:PORT with a port from 1 to 65535, got '\(text)'")
        }
    }
}
