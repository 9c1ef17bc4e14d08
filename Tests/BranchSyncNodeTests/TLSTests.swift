import BranchSyncCore
import BranchSyncNode
import BranchSyncStore
import Foundation
import Testing

@Suite(.serialized) struct TLSTests {
    @Test func branchesSyncWithTheHubOverTLS() throws {
        let cluster = try Cluster(tls: true)
        let bj = try cluster.store("bj01")
        let sh = try cluster.store("sh01")
        let created = try bj.create(.customers, values: customer("110001"))
        try sh.create(.customers, values: customer("310001"))
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        try cluster.syncOnce("bj01")
        #expect(try cluster.export("hq").count == 2)
        #expect(try cluster.export("hq") == cluster.export("bj01"))
        #expect(try cluster.export("hq") == cluster.export("sh01"))
        // Live mode over TLS too.
        let client = cluster.startLive("bj01")
        _ = cluster.startLive("sh01")
        try bj.update(created.id, changes: ["notes": "经 TLS 推送"])
        client.notifyLocalChange()
        #expect(try cluster.eventually { try sh.record(created.id)?["notes"] == "经 TLS 推送" })
    }

    @Test func aHubCertificateFromAnotherCAIsRefused() throws {
        let cluster = try Cluster(tls: true, trust: "other-ca.pem")
        #expect {
            try cluster.syncOnce("bj01")
        } throws: { error in
            "\(error)".hasPrefix(
                "TLS handshake failed: unable to get local issuer certificate with the hub at 127.0.0.1:")
        }
        #expect(cluster.eventually { cluster.capture.entries.contains { $0.contains("TLS handshake refused") } })
    }

    @Test func mismatchedSettingsExplainThemselves() throws {
        // A branch without TLS talking to a hub that requires it.
        let tlsHub = try Cluster(tls: true)
        try tlsHub.addBranch("xx01", trustTLS: false)
        #expect {
            try tlsHub.syncOnce("xx01")
        } throws: { error in
            "\(error)".contains("closed the connection during the handshake")
                && "\(error)".contains("if it requires TLS, give this branch its CA")
        }
        // A branch with TLS talking to a hub without it.
        let plainHub = try Cluster()
        try plainHub.store("bj01").setMetadata(
            BranchClient.tlsTrustKey, try String(contentsOfFile: Cluster.fixture("ca.pem"), encoding: .utf8))
        #expect {
            try plainHub.syncOnce("bj01")
        } throws: { error in
            "\(error)".hasPrefix("TLS handshake failed") && "\(error)".contains("does it run with --tls-cert")
        }
    }
}
