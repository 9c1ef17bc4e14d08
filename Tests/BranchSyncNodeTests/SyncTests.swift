import BranchSyncCore
import BranchSyncCrypto
import BranchSyncNode
import BranchSyncStore
import BranchSyncWire
import Foundation
import Testing

@Suite(.serialized) struct SyncTests {
    @Test func offlineWritesReachTheHubAndTheOtherBranches() throws {
        let cluster = try Cluster()
        let bj = try cluster.store("bj01")
        let sh = try cluster.store("sh01")
        for index in 0..<5 { try bj.create(.customers, values: customer("11000\(index)")) }
        try sh.create(.customers, values: customer("310001"))
        let first = try cluster.syncOnce("bj01")
        #expect(first.sent == 5)
        try cluster.syncOnce("sh01")
        try cluster.syncOnce("bj01")
        #expect(try bj.records(in: .customers).count == 6)
        #expect(try sh.records(in: .customers).count == 6)
        #expect(try cluster.export("hq") == cluster.export("bj01"))
        #expect(try cluster.export("hq") == cluster.export("sh01"))
        // Nothing new: another round moves nothing and duplicates nothing.
        let again = try cluster.syncOnce("bj01")
        #expect(again.sent == 0 && again.received == 0)
        #expect(try cluster.hubStore().changes(after: 0).filter { $0.state.collection != .auditBlocks }.count == 6)
    }

    /// Six branches push at the same time while live: every session writes the hub's database, and every record
    /// reaches every branch.
    @Test func manyBranchesSyncingAtOnceAllConverge() throws {
        let sites = (1...6).map { String(format: "br%02d", $0) }
        let cluster = try Cluster(branches: sites.map { ($0, .internal) })
        for (index, site) in sites.enumerated() {
            let store = try cluster.store(site)
            try store.batch { writer in
                for record in 0..<300 {
                    try writer.create(.customers, values: customer(String(110_000 + index * 1000 + record)))
                }
            }
        }
        let clients = sites.map { cluster.startLive($0) }
        #expect(clients.count == 6)
        let stores = try sites.map { try cluster.store($0) }
        #expect(
            try cluster.eventually(timeout: 60) {
                try stores.allSatisfy { try $0.records(in: .customers).count == 1800 }
            })
        let hub = try cluster.export("hq")
        #expect(hub.count == 1800)
        for site in sites { #expect(try cluster.export(site) == hub) }
        #expect(try cluster.hubStore().quarantined().isEmpty)
        #expect(!cluster.capture.entries.contains { $0.contains("session failed") })
    }

    @Test func concurrentEditsConvergeEverywhereWithTheConflictRecorded() throws {
        let cluster = try Cluster()
        let (bj, sh, created) = try cluster.customerKnownEverywhere()
        try bj.update(created.id, changes: ["phone": "13811112222", "contact": "王经理"])
        try sh.update(created.id, changes: ["phone": "021-55556666"])
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        try cluster.syncOnce("bj01")
        let exports = try ["hq", "bj01", "sh01"].map { try cluster.export($0) }
        #expect(exports[0] == exports[1] && exports[1] == exports[2])
        let merged = try bj.record(created.id)!
        #expect(merged["contact"] == "王经理")
        let conflicts = try cluster.hubStore().conflicts()
        #expect(conflicts.count == 1)
        #expect(Set([conflicts[0].keptValue, conflicts[0].lostValue]) == ["13811112222", "021-55556666"])
        #expect(merged["phone"] == conflicts[0].keptValue)
    }

    /// When the hub merges a branch's change with a concurrent one, `sync --once` must not end before the merged
    /// state is back at the branch: afterwards the branch holds exactly what the hub holds.
    @Test func syncOnceWaitsForTheMergeOfItsOwnChanges() throws {
        let cluster = try Cluster()
        let (bj, sh, created) = try cluster.customerKnownEverywhere()
        for round in 0..<15 {
            try bj.update(created.id, changes: ["contact": "经理\(round)"])
            try cluster.syncOnce("bj01")
            try sh.update(created.id, changes: ["notes": "备注\(round)"])
            try cluster.syncOnce("sh01")
            let hub = try cluster.hubStore()
            #expect(try sh.record(created.id) == hub.record(created.id), "round \(round): sh01 differs from the hub")
            // And the hub agrees that sh01 is caught up: nothing of its log is still waiting for sh01.
            let shSite = try SiteID("sh01")
            #expect(
                try cluster.eventually(timeout: 3) {
                    let acked = try hub.peer(shSite)?.ackedCursor ?? 0
                    return try hub.pendingCount(for: shSite, after: acked, clearance: .internal) == 0
                }, "round \(round): the hub still has changes for sh01 after its sync --once")
        }
    }

    @Test func confidentialRecordsReachOnlyTheSitesAllowedToHoldThem() throws {
        let cluster = try Cluster(branches: [("bj01", .internal), ("sh01", .internal), ("gz01", .confidential)])
        let bj = try cluster.store("bj01")
        let confidential = try bj.create(.customers, values: customer("110001", class: .confidential))
        let secret = try bj.create(.customers, values: customer("110002", class: .secret))
        let open = try bj.create(.customers, values: customer("110003"))
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        try cluster.syncOnce("gz01")
        let hub = try cluster.hubStore()
        #expect(try hub.record(secret.id) != nil && hub.record(confidential.id) != nil)
        let sh = try cluster.store("sh01")
        let gz = try cluster.store("gz01")
        #expect(try sh.record(confidential.id) == nil && sh.record(secret.id) == nil && sh.record(open.id) != nil)
        #expect(try gz.record(confidential.id) != nil && gz.record(secret.id) == nil)

        // Reclassified down: it reaches sh01; back up: sh01 is told to purge it.
        try bj.update(confidential.id, changes: ["class": "internal"])
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        #expect(try sh.record(confidential.id) != nil)
        try bj.update(confidential.id, changes: ["class": "confidential"])
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        #expect(try sh.record(confidential.id) == nil)
        #expect(try sh.auditTrail(AuditFilter(recordID: confidential.id)).first?.action == "purge")
    }

    /// A branch's unsent edit to a record that leaves its scope still reaches the hub (quarantined there, since the
    /// branch may no longer change it) before the branch drops its copy.
    @Test func anEditToARecordLeavingTheScopeIsNotLost() throws {
        let cluster = try Cluster()
        let sh = try cluster.store("sh01")
        let bj = try cluster.store("bj01")
        let record = try sh.create(.customers, values: customer("310001"))
        try cluster.syncOnce("sh01")
        try cluster.syncOnce("bj01")
        try bj.update(record.id, changes: ["notes": "分行备注"])
        try sh.update(record.id, changes: ["class": "confidential"])
        try cluster.syncOnce("sh01")
        try cluster.syncOnce("bj01")
        #expect(try bj.record(record.id) == nil)
        let hub = try cluster.hubStore()
        let quarantined = try hub.quarantined()
        #expect(quarantined.count == 1)
        #expect(quarantined.first?.reason.hasPrefix("site bj01 may not change customer ") == true)
        #expect(quarantined.first?.reason.hasSuffix("it is outside the site's scope") == true)
        #expect(try hub.quarantinedState(quarantined[0].id)?["notes"] == "分行备注")
        #expect(try hub.record(record.id)?.classification == .confidential)
    }

    /// Attachments travel with their documents to every site that may hold them, and only there.
    @Test func attachmentsReachTheSitesThatHoldTheirDocuments() throws {
        let cluster = try Cluster()
        let bj = try cluster.store("bj01")
        let quote = Array("报价单：框架合同 2027".utf8)
        let secret = Array("机密附件".utf8)
        let open = try bj.create(
            .documents, values: ["title": "报价单", "kind": "market", "type": "quotation"],
            attachment: Attachment(name: "quote.txt", bytes: quote))
        let confidential = try bj.create(
            .documents, values: ["title": "机密合同", "kind": "market", "type": "contract", "class": "confidential"],
            attachment: Attachment(name: "contract.txt", bytes: secret))
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        let hub = try cluster.hubStore()
        let sh = try cluster.store("sh01")
        #expect(try hub.blob(sha256: open["attachmentSha256"]!) == quote)
        #expect(try hub.blob(sha256: confidential["attachmentSha256"]!) == secret)
        #expect(try sh.blob(sha256: open["attachmentSha256"]!) == quote)
        #expect(try sh.blob(sha256: confidential["attachmentSha256"]!) == nil)
    }

    @Test func grantingBackfillsAndNarrowingPurges() throws {
        let cluster = try Cluster()
        let bj = try cluster.store("bj01")
        let confidential = try bj.create(.customers, values: customer("110001", class: .confidential))
        try cluster.syncOnce("bj01")
        try cluster.syncOnce("sh01")
        let sh = try cluster.store("sh01")
        #expect(try sh.record(confidential.id) == nil)
        try cluster.hubStore().setClearance(site: try SiteID("sh01"), clearance: .confidential)
        try cluster.syncOnce("sh01")
        #expect(try sh.record(confidential.id) != nil)
        try cluster.hubStore().setClearance(site: try SiteID("sh01"), clearance: .internal)
        try cluster.syncOnce("sh01")
        #expect(try sh.record(confidential.id) == nil)
    }

    /// A branch presents a record in another site's name that the hub never had (as a tampered node would): the hub
    /// keeps the good state of the same batch, quarantines the forged one as causally invalid, tells the branch to
    /// purge it, ends the session with INVALID_CHANGE, and flags the site until an operator drops the change.
    @Test func aForgedRecordIsQuarantinedTheSiteFlaggedAndTheGoodStatesKept() throws {
        let cluster = try Cluster()
        let sh = try cluster.store("sh01")
        var forged = RecordState(
            id: RecordID.version7(unixMilliseconds: 1, random: Array(repeating: 7, count: 10)), collection: .customers,
            owner: try SiteID("bj01"))
        forged.applyLocalWrite(
            customer("110009"),
            stamp: Stamp(
                dot: Dot(site: try SiteID("bj01"), counter: 1), time: HLCTimestamp(wallMilliseconds: 1, logical: 0)))
        try sh.apply([forged], from: try SiteID("bj01"))
        let good = try sh.create(.customers, values: customer("310001"))
        #expect {
            try cluster.syncOnce("sh01")
        } throws: { error in
            "\(error)".contains("INVALID_CHANGE") && "\(error)".contains("claiming writes of bj01 up to 1")
        }
        let hub = try cluster.hubStore()
        #expect(try hub.record(forged.id) == nil)
        #expect(try hub.record(good.id) != nil)
        let quarantined = try hub.quarantined()
        #expect(quarantined.map(\.kind) == ["invalid"])
        #expect(try hub.openIssuesByPeer()["sh01"]?.invalid == 1)
        #expect(try sh.record(forged.id) == nil, "the branch was told to purge the forged record")
        // The next sync goes through and verifies identical; the site stays flagged until an operator acts.
        let next = try cluster.syncOnce("sh01")
        #expect(next.verify?.identical == true)
        #expect(try hub.openIssuesByPeer()["sh01"]?.invalid == 1)
        try hub.dropQuarantined(quarantined[0].id)
        #expect(try hub.openIssuesByPeer()["sh01"]?.invalid ?? 0 == 0)
    }

    @Test func liveBranchesPushNewWritesAtOnce() throws {
        let cluster = try Cluster()
        let bjClient = cluster.startLive("bj01")
        _ = cluster.startLive("sh01")
        #expect(cluster.eventually { cluster.hub.registry.connectedSites.count == 2 })
        let bj = try cluster.store("bj01")
        let sh = try cluster.store("sh01")
        let created = try bj.create(.customers, values: customer("110001"))
        bjClient.notifyLocalChange()
        #expect(try cluster.eventually { try sh.record(created.id) != nil })
        // A write from another process (no notification) goes out on the next local check.
        let other = try bj.create(.customers, values: customer("110002"))
        #expect(try cluster.eventually { try sh.record(other.id) != nil })
        let status = try cluster.hubStore().peers()
        #expect(status.allSatisfy { $0.online })
    }

    @Test func badHandshakesGetAClearErrorAndTheHubKeepsServingOthers() throws {
        let cluster = try Cluster()
        try cluster.addBranch("xx01", enroll: false)
        // An unknown site and a wrong secret get the same answer: the hub does not tell which sites exist.
        let hint =
            "; check that 'branchsync site list' at the hub shows this site and that this branch holds the secret "
            + "'site add' printed"
        #expect {
            try cluster.syncOnce("xx01")
        } throws: { error in
            "\(error)"
                == "the hub refused: authentication failed for site xx01: unknown site or wrong secret (AUTHENTICATION_FAILED)"
                + hint
        }
        // Wrong secret.
        try cluster.store("sh01").setMetadata(BranchClient.secretKey, hex(try SiteCredentials.newSecret()))
        #expect {
            try cluster.syncOnce("sh01")
        } throws: { error in
            "\(error)"
                == "the hub refused: authentication failed for site sh01: unknown site or wrong secret (AUTHENTICATION_FAILED)"
                + hint
        }
        // A second session for a site that is connected.
        _ = cluster.startLive("bj01")
        #expect(cluster.eventually { cluster.hub.registry.connectedSites.contains(try! SiteID("bj01")) })
        #expect {
            try cluster.syncOnce("bj01")
        } throws: { error in
            "\(error)".hasPrefix("the hub refused: site bj01 already has a session open from 127.0.0.1:")
        }
        #expect(cluster.eventually { cluster.capture.entries.contains { $0.contains("handshake refused") } })
        #expect(cluster.capture.entries.contains { $0.contains("login failed: unknown site or wrong secret") })
    }

    @Test func malformedFramesAreRefusedWithAnErrorFrame() throws {
        let cluster = try Cluster()
        let cases: [([UInt8], ErrorCode)] = [
            ([0, 0, 0, 1, 0x7F], .malformedFrame), ([0x7F, 0xFF, 0xFF, 0xFF, 1], .frameTooLarge),
            ([0, 0, 0, 3, 0x01, 0xFF, 0xFF], .malformedFrame),
        ]
        for (garbage, code) in cases {
            let peer = try RawPeer(port: cluster.port)
            peer.send(bytes: garbage)
            guard case .error(let error) = try peer.receive() else {
                Issue.record("expected ERROR \(code)")
                continue
            }
            #expect(error.code == code)
            #expect(throws: NodeError.self) { _ = try peer.receive() }  // then the hub closes
        }
        // Mid-session too: a branch that completed the handshake and then sends garbage gets MALFORMED_FRAME.
        let secret = try cluster.addBranch("gz01")
        let peer = try RawPeer(port: cluster.port)
        guard
            case .welcome = try peer.handshake(site: "gz01", secret: secret, nonce: Array(repeating: 3, count: 32))
                .reply
        else {
            Issue.record("handshake failed")
            return
        }
        peer.send(try RawPeer.cursor(0))
        peer.send(bytes: [0, 0, 0, 2, 0x12, 0x80])
        var received: [Message] = []
        while let message = try? peer.receive() { received.append(message) }
        #expect(
            received.contains {
                if case .error(let error) = $0 { return error.code == .malformedFrame } else { return false }
            })
        // The hub still serves a well-behaved branch.
        try cluster.store("bj01").create(.customers, values: customer("110001"))
        #expect(try cluster.syncOnce("bj01").sent == 1)
    }

    @Test func anUnreachableHubIsAClearError() throws {
        let cluster = try Cluster()
        let client = BranchClient(
            directory: cluster.root + "/bj01", hubAddress: "127.0.0.1:1", options: cluster.options, logger: .silent,
            software: "t")
        #expect {
            try client.syncOnce()
        } throws: { error in
            "\(error)".hasPrefix("cannot connect to 127.0.0.1:1: ")
        }
    }
}
