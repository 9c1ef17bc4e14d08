import BranchSyncCore
import BranchSyncCrypto
import BranchSyncTestSupport
import Testing

@testable import BranchSyncWire

func decodeAll(_ bytes: [UInt8]) throws -> [Message] {
    var decoder = FrameDecoder()
    decoder.append(bytes)
    var messages: [Message] = []
    while let frame = try decoder.next() {
        messages.append(try Message.decode(type: frame.type, payload: frame.payload))
    }
    #expect(decoder.bufferedCount == 0)
    return messages
}

@Suite struct ProtocolVectorTests {
    /// Protocol.md §10: every message vector decodes to the message described and re-encodes byte for byte.
    @Test(arguments: ProtocolExamples.messages.map(\.0))
    func messageVectorsRoundTrip(name: String) throws {
        let bytes = try #require(
            try ProtocolDocument.vector("frame-\(name)"), "Protocol.md has no vector frame-\(name)")
        let expected = ProtocolExamples.messages.first { $0.0 == name }!.1
        let messages = try decodeAll(bytes)
        #expect(messages == [expected])
        #expect(expected.encodedFrame() == bytes)
    }

    @Test func everyMessageTypeHasAVector() throws {
        let names = Set(try ProtocolDocument.vectors().map(\.name))
        for type in MessageType.allCases {
            #expect(names.contains("frame-\(type)"), "Protocol.md lacks a vector for \(type)")
        }
    }

    /// Protocol.md §8.2 and §10.6: the proof in the CHANGES vector is the documented HMAC of the documented message.
    @Test func theWorkedPositionProofIsTheDocumentedHMAC() throws {
        let messages = try decodeAll(try #require(try ProtocolDocument.vector("frame-changes")))
        guard case .changes(let changes) = messages.first, let proof = changes.proof else {
            Issue.record("the CHANGES vector carries a proof")
            return
        }
        #expect(proof.position == changes.upTo)
        #expect(hex(proof.mac) == "7a778a717be7eb21e7cd420ff74fcab37a14dc70f22c8b60a9a101ba32957e2c")
        let message = Array("branchsync-position".utf8) + ProtocolExamples.epoch + [0, 0, 0, 0, 0, 0, 0, 7]
        #expect(proof.message == message)
        #expect(proof.mac == HMACSHA256.mac(key: ProtocolExamples.positionKey, message: message))
    }

    /// Protocol.md §8 and §10.3–10.4: the AUTH proof and WELCOME signature verify with the documented secret,
    /// and fail with any other secret or nonce.
    @Test func theWorkedAuthenticationExampleVerifies() throws {
        let messages =
            try decodeAll(try #require(try ProtocolDocument.vector("frame-auth")))
            + decodeAll(try #require(try ProtocolDocument.vector("frame-welcome")))
        guard case .auth(let auth) = messages[0], case .welcome(let welcome) = messages[1] else {
            Issue.record("unexpected messages")
            return
        }
        let verifier = SiteCredentials.verifier(for: ProtocolExamples.secret)
        #expect(
            SiteCredentials.verifyClientProof(auth.proof, verifier: verifier, authMessage: ProtocolExamples.authMessage)
        )
        #expect(
            SiteCredentials.verifyServerSignature(
                welcome.serverSignature, secret: ProtocolExamples.secret, authMessage: ProtocolExamples.authMessage))
        let otherVerifier = SiteCredentials.verifier(for: Array(repeating: 9, count: 32))
        #expect(
            !SiteCredentials.verifyClientProof(
                auth.proof, verifier: otherVerifier, authMessage: ProtocolExamples.authMessage))
        // A recorded proof replayed in a session with another hub nonce fails.
        var otherChallenge = ProtocolExamples.challenge
        otherChallenge.nonce = Array(repeating: 1, count: 32)
        let replayed = SiteCredentials.authMessage(
            helloPayload: Message.hello(ProtocolExamples.hello).encodedPayload(),
            challengePayload: Message.challenge(otherChallenge).encodedPayload())
        #expect(!SiteCredentials.verifyClientProof(auth.proof, verifier: verifier, authMessage: replayed))
        // So does one whose HELLO a relay altered (here its clock): every field of HELLO and CHALLENGE is signed.
        var altered = ProtocolExamples.hello
        altered.clockMilliseconds = 1 << 63
        let relayed = SiteCredentials.authMessage(
            helloPayload: Message.hello(altered).encodedPayload(),
            challengePayload: Message.challenge(ProtocolExamples.challenge).encodedPayload())
        #expect(!SiteCredentials.verifyClientProof(auth.proof, verifier: verifier, authMessage: relayed))
    }
}

@Suite struct FrameDecoderTests {
    var session: [UInt8] { ProtocolExamples.messages.flatMap { $0.1.encodedFrame() } }

    @Test func bytesFedOneAtATimeYieldTheSameMessages() throws {
        var decoder = FrameDecoder()
        var messages: [Message] = []
        for byte in session {
            decoder.append([byte])
            while let frame = try decoder.next() {
                messages.append(try Message.decode(type: frame.type, payload: frame.payload))
            }
        }
        #expect(messages == ProtocolExamples.messages.map(\.1))
    }

    @Test func manyFramesInOneReadAreAllDecoded() throws {
        #expect(try decodeAll(session + session) == (ProtocolExamples.messages + ProtocolExamples.messages).map(\.1))
    }

    @Test func oversizedZeroLengthAndUnknownFramesAreRefused() {
        for (bytes, code) in [
            ([0x01, 0x00, 0x00, 0x01, 0x10] as [UInt8], ErrorCode.frameTooLarge),
            ([0, 0, 0, 0], .malformedFrame),
            ([0, 0, 0, 1, 0x7F], .malformedFrame),
        ] {
            var decoder = FrameDecoder()
            decoder.append(bytes)
            #expect(throws: WireError.self) { _ = try decoder.next() }
            do { _ = try decoder.next() } catch { #expect(error.code == code) }
        }
    }

    @Test func everyTruncatedOrPaddedPayloadIsMalformed() {
        for (_, message) in ProtocolExamples.messages {
            let payload = message.encodedPayload()
            for length in 0..<payload.count {
                #expect(throws: WireError.self) {
                    _ = try Message.decode(type: message.type, payload: Array(payload[0..<length]))
                }
            }
            #expect(throws: WireError.self) { _ = try Message.decode(type: message.type, payload: payload + [0]) }
        }
    }

    /// A proof is absent (0 bytes) or whole (48); a HELLO naming a proven position without a proof is not canonical.
    @Test func positionProofsOfAnyOtherShapeAreMalformed() {
        var changes = Message.changes(
            ProtocolExamples.messages.compactMap {
                if case .changes(let value) = $0.1 { value } else { nil }
            }[0]
        ).encodedPayload()
        changes[2] = 47  // the proof's length
        #expect(throws: WireError.self) { _ = try Message.decode(type: .changes, payload: changes) }
        var hello = Message.hello(ProtocolExamples.hello).encodedPayload()
        hello[hello.count - 2] = 7  // proven position 7, no proof
        #expect(throws: WireError.self) { _ = try Message.decode(type: .hello, payload: hello) }
        var withProof = ProtocolExamples.hello
        withProof.proof = ProtocolExamples.proofOf7
        let roundTrip = try? Message.decode(type: .hello, payload: Message.hello(withProof).encodedPayload())
        #expect(roundTrip == .hello(withProof))
    }

    @Test func randomPayloadsNeverCrashTheDecoder() {
        var state: UInt64 = 0x1234_5678
        func next() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        for _ in 0..<20_000 {
            let type = MessageType.allCases[Int(next()) % MessageType.allCases.count]
            let payload = (0..<Int(next() % 64)).map { _ in next() }
            _ = try? Message.decode(type: type, payload: payload)
        }
    }
}
