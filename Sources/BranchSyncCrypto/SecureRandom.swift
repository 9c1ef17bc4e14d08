import COpenSSL

/// Cryptographically strong random bytes from OpenSSL (`RAND_bytes`).
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        let ok = output.withUnsafeMutableBytes {
            RAND_bytes($0.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(count))
        }
        precondition(ok == 1, "RAND_bytes failed: OpenSSL has no entropy source")
        return output
    }
}
