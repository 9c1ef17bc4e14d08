/// Reads the primitive encodings of `Protocol.md` §3, refusing anything truncated or out of range.
public struct BinaryReader {
    private let bytes: [UInt8]
    /// The offset of the next byte to read.
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { offset == bytes.count }

    /// The number of bytes not read yet.
    public var remaining: Int { bytes.count - offset }

    public mutating func readByte() throws(MalformedDataError) -> UInt8 {
        guard offset < bytes.count else { throw MalformedDataError("truncated: expected a byte at offset \(offset)") }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readRaw(count: Int) throws(MalformedDataError) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw MalformedDataError("truncated: expected \(count) bytes at offset \(offset), \(remaining) left")
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    public mutating func readVarint() throws(MalformedDataError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            if shift == 63 && byte > 1 { throw MalformedDataError("varint overflows 64 bits at offset \(offset - 1)") }
            // Minimal encodings only, so every value has exactly one encoding and states stay canonical.
            if byte == 0 && shift > 0 { throw MalformedDataError("non-minimal varint at offset \(offset - 1)") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw MalformedDataError("varint longer than 10 bytes at offset \(offset)") }
        }
    }

    /// A varint that must fit in `limit`.
    public mutating func readVarint(atMost limit: UInt64, _ what: String) throws(MalformedDataError) -> UInt64 {
        let value = try readVarint()
        guard value <= limit else { throw MalformedDataError("\(what) \(value) exceeds \(limit)") }
        return value
    }

    public mutating func readBytes() throws(MalformedDataError) -> [UInt8] {
        let count = try readVarint(atMost: UInt64(remaining), "length")
        return try readRaw(count: Int(count))
    }

    public mutating func readString() throws(MalformedDataError) -> String {
        let count = Int(try readVarint(atMost: UInt64(remaining), "length"))
        guard count <= remaining else {
            throw MalformedDataError("truncated: a string of \(count) bytes at offset \(offset), \(remaining) left")
        }
        let (text, valid) = bytes.withUnsafeBufferPointer { buffer in
            let input = UnsafeBufferPointer(rebasing: buffer[offset..<offset + count])
            let text = String(decoding: input, as: UTF8.self)
            // `String(decoding:)` repairs invalid UTF-8, and a repaired string differs from the bytes received. (It
            // validates much faster than `String(validating:)`, which refuses them no better.)
            let valid =
                text.utf8.withContiguousStorageIfAvailable { Self.sameBytes($0, input) }
                ?? text.utf8.elementsEqual(input)
            return (text, valid)
        }
        guard valid else { throw MalformedDataError("invalid UTF-8 in string at offset \(offset)") }
        offset += count
        return text
    }

    /// Whether `one` and `other` hold the same bytes, compared eight at a time.
    private static func sameBytes(_ one: UnsafeBufferPointer<UInt8>, _ other: UnsafeBufferPointer<UInt8>) -> Bool {
        guard one.count == other.count else { return false }
        let first = UnsafeRawBufferPointer(one)
        let second = UnsafeRawBufferPointer(other)
        var offset = 0
        while offset + 8 <= one.count {
            guard
                first.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    == second.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            else { return false }
            offset += 8
        }
        while offset < one.count {
            guard one[offset] == other[offset] else { return false }
            offset += 1
        }
        return true
    }
}
