/// The id of a record: a time-ordered UUID (RFC 9562 version 7), written as lowercase hex with dashes.
///
/// Time-ordered ids keep SQLite's B-tree inserts append-mostly (DESIGN.md §2).
public struct RecordID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The 16 bytes of the UUID, most significant first.
    public let bytes: [UInt8]

    /// Wraps 16 raw bytes.
    /// - Throws: ``ValidationError`` when `bytes` is not 16 bytes long.
    public init(bytes: [UInt8]) throws(ValidationError) {
        guard bytes.count == 16 else {
            throw ValidationError(field: "id", message: "a record id is 16 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// Parses the canonical text form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case).
    /// - Throws: ``ValidationError`` when the text is not a UUID.
    public init(_ text: String) throws(ValidationError) {
        let utf8 = Array(text.utf8)
        // Built only when thrown: ids are parsed on every read of the store, and nearly all are valid.
        var invalid: ValidationError {
            ValidationError(field: "id", message: "'\(text)' is not a record id (expected a UUID)")
        }
        guard utf8.count == 36 else { throw invalid }
        var result: [UInt8] = []
        result.reserveCapacity(16)
        var index = 0
        while index < 36 {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard utf8[index] == 0x2D else { throw invalid }
                index += 1
                continue
            }
            guard let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1]) else { throw invalid }
            result.append(high << 4 | low)
            index += 2
        }
        self.bytes = result
    }

    /// Makes a version 7 UUID from a Unix time in milliseconds and 10 random bytes.
    ///
    /// Pure: the caller supplies the clock and the randomness, so tests can be deterministic.
    public static func version7(unixMilliseconds: UInt64, random: [UInt8]) -> RecordID {
        precondition(random.count >= 10, "version7 needs 10 random bytes")
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 {
            bytes[i] = UInt8(truncatingIfNeeded: unixMilliseconds >> (8 * (5 - i)))
        }
        bytes[6] = 0x70 | (random[0] & 0x0F)
        bytes[7] = random[1]
        bytes[8] = 0x80 | (random[2] & 0x3F)
        for i in 9..<16 {
            bytes[i] = random[i - 6]
        }
        return RecordID(uncheckedBytes: bytes)
    }

    /// Whether this is an RFC 9562 version 7 UUID (version nibble 7, variant bits `10`), as every record id a
    /// BranchSync node creates is.
    public var isVersion7: Bool {
        bytes.count == 16 && bytes[6] >> 4 == 7 && bytes[8] >> 6 == 0b10
    }

    init(uncheckedBytes: [UInt8]) {
        self.bytes = uncheckedBytes
    }

    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, byte) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(0x2D) }
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func < (lhs: RecordID, rhs: RecordID) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: return byte - 0x30
    case 0x61...0x66: return byte - 0x61 + 10
    case 0x41...0x46: return byte - 0x41 + 10
    default: return nil
    }
}
