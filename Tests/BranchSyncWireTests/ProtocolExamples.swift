import BranchSyncCore
import BranchSyncCrypto
import BranchSyncWire

/// The worked example of `Protocol.md` §10: the messages of one session between branch bj01 and hub hq.
enum ProtocolExamples {
    static let secret: [UInt8] = Array(0..<32)
    static let branchNonce: [UInt8] = Array(0x40..<0x60)
    static let hubNonce: [UInt8] = Array(0x60..<0x80)
    static let bj01 = try! SiteID("bj01")
    static let hq = try! SiteID("hq")

    static let hubIncarnation: [UInt8] = Array(0x90..<0xA0)
    static let branchIncarnation: [UInt8] = Array(0xA0..<0xB0)
    /// The hub's history epoch and position key of §10.6.
    static let epoch: [UInt8] = Array(0xB0..<0xC0)
    static let positionKey: [UInt8] = Array(0xC0..<0xE0)

    /// The hub's proof of position 7 (§8.2), as §10.6 carries it.
    static var proofOf7: PositionProof {
        PositionProof(
            position: 7, epoch: epoch,
            mac: HMACSHA256.mac(key: positionKey, message: PositionProof.message(position: 7, epoch: epoch)))
    }

    static let hello = Hello(
        minimumVersion: 2, maximumVersion: 2, site: bj01, role: .branch, software: "0.2.0", schemaVersion: 1,
        clockMilliseconds: 1_700_000_000_000, nonce: branchNonce)
    static let challenge = Challenge(
        version: 2, site: hq, software: "0.2.0", schemaVersion: 1, clockMilliseconds: 1_700_000_000_050,
        nonce: hubNonce)

    static var authMessage: [UInt8] {
        SiteCredentials.authMessage(
            helloPayload: Message.hello(hello).encodedPayload(),
            challengePayload: Message.challenge(challenge).encodedPayload())
    }

    static var recordState: RecordState {
        var state = RecordState(
            id: try! RecordID("01890a5d-ac96-774b-bcce-b302099a8057"), collection: .customers, owner: bj01)
        state.applyLocalWrite(
            ["name": "华信", "code": "110001"],
            stamp: Stamp(
                dot: Dot(site: bj01, counter: 1), time: HLCTimestamp(wallMilliseconds: 1_700_000_000_000, logical: 0)))
        state.applyLocalWrite(
            ["code": "110002"],
            stamp: Stamp(
                dot: Dot(site: hq, counter: 5), time: HLCTimestamp(wallMilliseconds: 1_700_000_000_500, logical: 2)))
        state.applyLocalDelete(
            stamp: Stamp(
                dot: Dot(site: bj01, counter: 2), time: HLCTimestamp(wallMilliseconds: 1_700_000_001_000, logical: 0)))
        return state
    }

    /// Name → message, in session order.
    static var messages: [(String, Message)] {
        let verifier = SiteCredentials.verifier(for: secret)
        return [
            ("hello", .hello(hello)),
            ("challenge", .challenge(challenge)),
            ("auth", .auth(Auth(proof: SiteCredentials.clientProof(secret: secret, authMessage: authMessage)))),
            (
                "welcome",
                .welcome(
                    Welcome(
                        serverSignature: SiteCredentials.serverSignature(verifier: verifier, authMessage: authMessage),
                        resume: ResumeState(
                            cursor: 0, acked: 0, logHead: 1_700_000_000_007, yourCounter: 0,
                            incarnation: hubIncarnation,
                            yourIncarnation: Array(repeating: 0, count: 16))))
            ),
            (
                "cursor",
                .cursor(
                    Cursor(
                        resume: ResumeState(
                            cursor: 42, acked: 0, logHead: 1_700_000_000_012, yourCounter: 5,
                            incarnation: branchIncarnation, yourIncarnation: hubIncarnation)))
            ),
            ("changes", .changes(Changes(upTo: 7, remaining: 0, states: [recordState], proof: proofOf7))),
            ("purge", .purge(Purge(ids: [recordState.id]))),
            (
                "forget",
                .forget(
                    Forget(entries: [
                        Forget.Entry(id: recordState.id, vector: VersionVector([bj01: 3, hq: 5]))
                    ]))
            ),
            ("ack", .ack(Ack(upTo: 7))),
            ("blob", .blob(Blob(sha256: SHA256.digest(Array("报价 100 万元".utf8)), data: Array("报价 100 万元".utf8)))),
            (
                "refused",
                .refused(
                    Refused(
                        recordID: recordState.id, dot: Dot(site: bj01, counter: 3),
                        reason: "only the owner hq changes the class"))
            ),
            ("ping", .ping(Ping(clockMilliseconds: 1_700_000_001_000, pending: 3, pendingAge: 1_500))),
            ("pong", .pong(Pong(echoedClockMilliseconds: 1_700_000_001_000))),
            (
                "error",
                .error(
                    ErrorMessage(
                        code: .authenticationFailed,
                        message: "authentication failed for site bj01: unknown site or wrong secret"))
            ),
            ("bye", .bye(Bye(reason: "caught up"))),
            ("verify", .verify(Verify(round: 1, paths: [[]]))),
            (
                "verifySummary",
                .verifySummary(
                    VerifySummary(
                        round: 1, nodes: [VerifyNodeSummary(path: [], records: 2, digest: 0x0123_4567_89AB_CDEF)]))
            ),
            ("verifyList", .verifyList(VerifyList(round: 1, paths: [[0x57]]))),
            (
                "verifyEntries",
                .verifyEntries(
                    VerifyEntries(round: 1, entries: [VerifyEntry(id: recordState.id, digest: 0xFEDC_BA98_7654_3210)]))
            ),
            ("repair", .repair(Repair(round: 1, kind: .finalReply, encodedStates: [recordState.encoded()]))),
            ("fetch", .fetch(Fetch(round: 1, ids: [recordState.id]))),
        ]
    }
}
