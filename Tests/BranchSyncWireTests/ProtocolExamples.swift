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

    static var authMessage: [UInt8] {
        SiteCredentials.authMessage(branch: "bj01", hub: "hq", branchNonce: branchNonce, hubNonce: hubNonce)
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
            (
                "hello",
                .hello(
                    Hello(
                        minimumVersion: 1, maximumVersion: 1, site: bj01, role: .branch, software: "0.1.0",
                        schemaVersion: 1, clockMilliseconds: 1_700_000_000_000, nonce: branchNonce))
            ),
            (
                "challenge",
                .challenge(
                    Challenge(
                        version: 1, site: hq, software: "0.1.0", schemaVersion: 1, clockMilliseconds: 1_700_000_000_050,
                        nonce: hubNonce))
            ),
            ("auth", .auth(Auth(proof: SiteCredentials.clientProof(secret: secret, authMessage: authMessage)))),
            (
                "welcome",
                .welcome(
                    Welcome(
                        serverSignature: SiteCredentials.serverSignature(verifier: verifier, authMessage: authMessage),
                        cursor: 0))
            ),
            ("cursor", .cursor(Cursor(cursor: 42))),
            ("changes", .changes(Changes(upTo: 7, remaining: 0, states: [recordState]))),
            ("purge", .purge(Purge(ids: [recordState.id]))),
            ("ack", .ack(Ack(upTo: 7))),
            ("blob", .blob(Blob(sha256: SHA256.digest(Array("报价 100 万元".utf8)), data: Array("报价 100 万元".utf8)))),
            ("ping", .ping(Ping(clockMilliseconds: 1_700_000_001_000, pending: 3))),
            ("pong", .pong(Pong(echoedClockMilliseconds: 1_700_000_001_000))),
            (
                "error",
                .error(
                    ErrorMessage(
                        code: .authenticationFailed, message: "authentication failed for site bj01: wrong secret"))
            ),
            ("bye", .bye(Bye(reason: "caught up"))),
        ]
    }
}
