/// Mutual challenge-response authentication between a branch and its hub, after SCRAM (RFC 5802) with
/// HMAC-SHA256, for a high-entropy enrolment secret.
///
/// - The branch keeps the 32-byte secret. The hub keeps only the verifier: `StoredKey = SHA256(ClientKey)` and
///   `ServerKey`, so a copy of the hub's database does not let anyone pose as a branch.
/// - The branch proves it knows `ClientKey` with `ClientKey XOR HMAC(StoredKey, AuthMessage)`; the hub proves it
///   knows the verifier with `HMAC(ServerKey, AuthMessage)`. Neither the secret nor a key crosses the wire.
/// - `AuthMessage` binds both handshake messages, with both sites and both sessions' nonces, so a recorded proof is
///   useless in another session.
public enum SiteCredentials {
    /// The secret's length in bytes.
    public static let secretLength = 32

    /// What the hub stores for an enrolled site.
    public struct Verifier: Sendable, Hashable {
        public var storedKey: [UInt8]
        public var serverKey: [UInt8]

        public init(storedKey: [UInt8], serverKey: [UInt8]) {
            self.storedKey = storedKey
            self.serverKey = serverKey
        }
    }

    /// A new random secret.
    /// - Throws: ``SecureRandom/Failure`` if the system has no random source.
    public static func newSecret() throws(SecureRandom.Failure) -> [UInt8] {
        try SecureRandom.bytes(secretLength)
    }

    static func clientKey(_ secret: [UInt8]) -> [UInt8] {
        HMACSHA256.mac(key: secret, message: Array("BranchSync client key".utf8))
    }

    /// The verifier the hub stores for `secret`.
    public static func verifier(for secret: [UInt8]) -> Verifier {
        Verifier(
            storedKey: SHA256.digest(clientKey(secret)),
            serverKey: HMACSHA256.mac(key: secret, message: Array("BranchSync server key".utf8)))
    }

    /// The bytes both proofs sign (`Protocol.md` §8): a label and the SHA-256 of the whole `HELLO` and `CHALLENGE`
    /// payloads. Every field of both (sites, nonces, versions, software, clocks) is covered, so a relay that
    /// alters any of them makes the proofs fail instead of slipping a forged value into the session.
    public static func authMessage(helloPayload: [UInt8], challengePayload: [UInt8]) -> [UInt8] {
        Array("branchsync-v2".utf8) + SHA256.digest(helloPayload) + SHA256.digest(challengePayload)
    }

    /// The branch's proof for `authMessage`.
    public static func clientProof(secret: [UInt8], authMessage: [UInt8]) -> [UInt8] {
        let key = clientKey(secret)
        let signature = HMACSHA256.mac(key: SHA256.digest(key), message: authMessage)
        return zip(key, signature).map { $0 ^ $1 }
    }

    /// Whether `proof` shows knowledge of the secret behind `verifier`.
    public static func verifyClientProof(_ proof: [UInt8], verifier: Verifier, authMessage: [UInt8]) -> Bool {
        guard proof.count == 32 else { return false }
        let signature = HMACSHA256.mac(key: verifier.storedKey, message: authMessage)
        let recoveredKey = zip(proof, signature).map { $0 ^ $1 }
        return constantTimeEqual(SHA256.digest(recoveredKey), verifier.storedKey)
    }

    /// The hub's signature for `authMessage`.
    public static func serverSignature(verifier: Verifier, authMessage: [UInt8]) -> [UInt8] {
        HMACSHA256.mac(key: verifier.serverKey, message: authMessage)
    }

    /// Whether the hub's signature is right, checked by the branch from its secret.
    public static func verifyServerSignature(_ signature: [UInt8], secret: [UInt8], authMessage: [UInt8]) -> Bool {
        constantTimeEqual(signature, serverSignature(verifier: verifier(for: secret), authMessage: authMessage))
    }
}
