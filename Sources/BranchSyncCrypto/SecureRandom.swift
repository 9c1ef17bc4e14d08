import COpenSSL

/// Cryptographically strong random bytes from OpenSSL (`RAND_bytes`).
public enum SecureRandom {
    /// The system's random source could not seed OpenSSL's generator.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String {
            "the system's random source failed (OpenSSL RAND_bytes): no ids, nonces or secrets can be made; check that "
                + "the kernel's getrandom() and /dev/urandom work, then retry"
        }
    }

    /// `count` random bytes.
    /// - Throws: ``Failure`` if OpenSSL has no entropy (never silently weaker bytes).
    public static func bytes(_ count: Int) throws(Failure) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        let ok = output.withUnsafeMutableBytes {
            RAND_bytes($0.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(count))
        }
        guard ok == 1 else { throw Failure() }
        return output
    }
}
