import BranchSyncCore
import BranchSyncCrypto
import BranchSyncNode
import BranchSyncStore
import BranchSyncTestSupport
import Foundation

/// A hub and branches on 127.0.0.1 with real SQLite files in a temporary directory; always shut down in deinit.
final class Cluster {
    let root: String
    private(set) var hub: HubServer
    let port: UInt16
    let capture = LogCapture()
    var options: SessionOptions
    let limits: HubLimits
    private var clients: [BranchClient] = []
    /// Each branch's enrolment secret.
    private(set) var secrets: [String: [UInt8]] = [:]
    private var threads: [Thread] = []

    static let actor = AuditActor(user: "tester", origin: "test")

    /// The test certificates in Tests/Fixtures/tls (a test CA, a hub certificate for 127.0.0.1, another CA).
    static func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/tls/\(name)").path
    }

    /// With `tls`, the hub requires TLS and branches trust `trust` (a PEM file in the fixtures).
    let trustedPEM: String?

    init(
        branches: [(String, Classification)] = [("bj01", .internal), ("sh01", .internal)], tls: Bool = false,
        trust: String = "ca.pem", handshakeTimeout: Double = 5, limits: HubLimits = HubLimits()
    ) throws {
        trustedPEM = tls ? try String(contentsOfFile: Self.fixture(trust), encoding: .utf8) : nil
        root = NSTemporaryDirectory() + "branchsync-cluster-" + UUID().uuidString
        var options = SessionOptions()
        options.pingInterval = 0.5
        options.localCheckInterval = 0.1
        options.peerTimeout = 5
        options.handshakeTimeout = handshakeTimeout
        options.duplicateSessionGrace = 0.3
        options.verifyDelay = 0.2
        self.options = options
        _ = try NodeStore.initialize(
            directory: root + "/hq", identity: NodeIdentity(site: try SiteID("hq"), role: .hub), actor: Self.actor)
        let context =
            tls
            ? try TLSContext.server(certificateFile: Self.fixture("hub.pem"), keyFile: Self.fixture("hub.key")) : nil
        self.limits = limits
        hub = HubServer(
            directory: root + "/hq", options: options, limits: limits, tls: context,
            logger: Self.logger(capture, "hq"), software: "test")
        port = try hub.start(listeningOn: "127.0.0.1:0")
        hubAddress = "127.0.0.1:\(port)"
        for (site, clearance) in branches { try addBranch(site, clearance: clearance) }
    }

    /// Stops the hub, runs `meanwhile` (e.g. puts back an older copy of its database), and starts it again on the
    /// same port.
    func restartHub(_ meanwhile: () throws -> Void = {}) throws {
        hub.stop()
        try meanwhile()
        hub = HubServer(
            directory: root + "/hq", options: options, limits: limits, tls: nil, logger: Self.logger(capture, "hq"),
            software: "test")
        _ = try hub.start(listeningOn: hubAddress)
    }

    /// A plain file copy of a node's data directory (as an operator copies a stopped node), after a checkpoint.
    func copyNode(_ site: String, to name: String) throws {
        try (site == "hq" ? hubStore() : store(site)).checkpoint()
        let copy = root + "/" + name
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: root + "/" + site, toPath: copy)
    }

    /// Puts a copy made by ``copyNode(_:to:)`` back in place of the node's data directory.
    func restoreNode(_ site: String, from name: String) throws {
        try FileManager.default.removeItem(atPath: root + "/" + site)
        try FileManager.default.copyItem(atPath: root + "/" + name, toPath: root + "/" + site)
    }

    deinit {
        for client in clients { client.stop() }
        hub.stop()
        try? FileManager.default.removeItem(atPath: root)
    }

    let hubAddress: String

    /// Log lines go to the capture; with `BRANCHSYNC_TEST_LOG=1` also to standard error (debugging a test).
    static func logger(_ capture: LogCapture, _ name: String) -> Logger {
        let echo = ProcessInfo.processInfo.environment["BRANCHSYNC_TEST_LOG"] == "1"
        return capture.logger(minimum: echo ? .debug : .info, echo: echo).with("node", name)
    }

    /// Enrolls `site` at the hub and creates its node with the secret.
    @discardableResult
    func addBranch(
        _ site: String, clearance: Classification = .internal, enroll: Bool = true, trustTLS: Bool = true
    ) throws -> [UInt8] {
        let secret = try SiteCredentials.newSecret()
        if enroll {
            let verifier = SiteCredentials.verifier(for: secret)
            try hubStore().enroll(
                site: try SiteID(site), clearance: clearance, storedKey: verifier.storedKey,
                serverKey: verifier.serverKey)
        }
        let store = try NodeStore.initialize(
            directory: root + "/" + site,
            identity: NodeIdentity(site: try SiteID(site), role: .branch, hubAddress: hubAddress),
            actor: Self.actor)
        try store.setMetadata(BranchClient.secretKey, hex(secret))
        secrets[site] = secret
        if let trustedPEM, trustTLS { try store.setMetadata(BranchClient.tlsTrustKey, trustedPEM) }
        return secret
    }

    func hubStore() throws -> NodeStore {
        try NodeStore.open(directory: root + "/hq", actor: Self.actor)
    }

    func store(_ site: String) throws -> NodeStore {
        try NodeStore.open(directory: root + "/" + site, actor: Self.actor)
    }

    func client(_ site: String) -> BranchClient {
        BranchClient(
            directory: root + "/" + site, options: options, logger: Self.logger(capture, site), software: "test")
    }

    @discardableResult
    func syncOnce(_ site: String) throws -> SessionSummary {
        try client(site).syncOnce()
    }

    /// Starts `site` in live mode on a background thread.
    func startLive(_ site: String) -> BranchClient {
        let client = client(site)
        clients.append(client)
        Thread.detachNewThread { try? client.runForever() }
        return client
    }

    /// A customer created at bj01 and synced to the hub and sh01; returns both branches' stores and the record.
    func customerKnownEverywhere() throws -> (bj: NodeStore, sh: NodeStore, record: RecordState) {
        let bj = try store("bj01")
        let sh = try store("sh01")
        let created = try bj.create(.customers, values: customer("110001"))
        try syncOnce("bj01")
        try syncOnce("sh01")
        return (bj, sh, created)
    }

    /// The canonical export of a node.
    func export(_ site: String) throws -> [String] {
        try (site == "hq" ? hubStore() : store(site)).allRecords().map(\.canonicalJSON)
    }

    /// Waits until `condition` holds, at most `timeout` seconds.
    func eventually(timeout: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
        try BranchSyncTestSupport.eventually(timeout: timeout, poll: 0.05, condition)
    }
}

let huaweiCredit = "914403001922038216"

func customer(_ code: String, _ name: String = "测试公司", class recordClass: Classification = .internal) -> [String:
    String]
{
    ["code": code, "name": name, "creditCode": huaweiCredit, "class": recordClass.rawValue]
}
