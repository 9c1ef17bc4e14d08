/// One entry of a site's audit trail as it travels in an audit block (Protocol.md §4.5): ten fields separated by
/// tabs, each escaped so that it holds no tab or line break (`\\` → `\\\\`, tab → `\t`, LF → `\n`, CR → `\r`).
/// Pure: hashing the chain is the store's job; this only writes and reads the lines.
public struct AuditLine: Sendable, Hashable {
    /// The entry's number in its site's trail: 1, 2, 3, …
    public var seq: Int64
    public var at: String
    public var actor: String
    public var origin: String
    public var action: String
    public var collection: String
    public var recordID: String
    public var detail: String
    /// SHA-256 (hex) of the previous entry of the site's trail; 64 zeros for the first.
    public var previousHash: String
    /// SHA-256 (hex) of this entry's fields and `previousHash`.
    public var hash: String

    public init(
        seq: Int64, at: String, actor: String, origin: String, action: String, collection: String,
        recordID: String, detail: String, previousHash: String, hash: String
    ) {
        self.seq = seq
        self.at = at
        self.actor = actor
        self.origin = origin
        self.action = action
        self.collection = collection
        self.recordID = recordID
        self.detail = detail
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The text whose SHA-256 is the entry's `hash`: the site, then every field but the hash, each escaped as on the
    /// line, separated by tabs.
    public func hashInput(site: String) -> String {
        ([site, String(seq), at, actor, origin, action, collection, recordID, detail, previousHash]).map(Self.escape)
            .joined(separator: "\t")
    }

    /// The most characters of a block's `entries` field; a block is cut before it would exceed this.
    public static let maximumBlockCharacters = 200_000

    /// The highest entry number accepted in a block (2^53): far beyond any real trail, and far from overflow.
    public static let maximumSequence: Int64 = 1 << 53

    /// The line, without its line break.
    public var encoded: String {
        [String(seq), at, actor, origin, action, collection, recordID, detail, previousHash, hash]
            .map(Self.escape).joined(separator: "\t")
    }

    /// The lines of a block, in order.
    /// - Throws: ``ValidationError`` naming the first line that is not ten fields with a sequence number.
    public static func decodeBlock(_ text: String) throws(ValidationError) -> [AuditLine] {
        var text = text
        let (lines, badLine) = text.withUTF8 { decodeLines($0) }
        if let badLine {
            throw ValidationError(field: "entries", message: "line \(badLine) of the audit block is not an audit entry")
        }
        return lines
    }

    /// Splits a block's UTF-8 bytes at line feeds and tabs (bytes that never occur inside a multi-byte character).
    /// Earlier builds split `Character`s, which keep a CR LF together; no encoder writes a raw CR, so one is refused
    /// here, and a CR LF never passes for a line break.
    /// - Returns: the lines, or the number of the first line that is not ten fields with a sequence number.
    private static func decodeLines(_ bytes: UnsafeBufferPointer<UInt8>) -> (lines: [AuditLine], badLine: Int?) {
        var lines: [AuditLine] = []
        var fields: [String] = []
        fields.reserveCapacity(10)
        var fieldStart = 0
        var index = 0
        while true {
            let atEnd = index == bytes.count
            let byte = atEnd ? UInt8(ascii: "\n") : bytes[index]
            // Escaping leaves no carriage return on a line: one there is not an entry written by `encoded`.
            if byte == UInt8(ascii: "\r") { return (lines, lines.count + 1) }
            if byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") {
                if fields.count == 10 { return (lines, lines.count + 1) }
                fields.append(unescape(UnsafeBufferPointer(rebasing: bytes[fieldStart..<index])))
                fieldStart = index + 1
                if byte == UInt8(ascii: "\n") {
                    guard fields.count == 10, let seq = Int64(fields[0]), seq > 0 else {
                        return (lines, lines.count + 1)
                    }
                    lines.append(
                        AuditLine(
                            seq: seq, at: fields[1], actor: fields[2], origin: fields[3], action: fields[4],
                            collection: fields[5], recordID: fields[6], detail: fields[7], previousHash: fields[8],
                            hash: fields[9]))
                    fields.removeAll(keepingCapacity: true)
                    if atEnd { return (lines, nil) }
                }
            }
            index += 1
        }
    }

    /// Checks a block's entries: increasing sequence numbers from `first` to `last` (consecutive, except where a site
    /// restored from an older copy took back entries it had lost), hashes of 64 hex digits. Whether the hashes chain is
    /// for `audit verify`, which names the first broken link.
    /// - Returns: `nil`, or what is wrong.
    public static func problem(inBlock text: String, first: Int64, last: Int64) -> String? {
        let lines: [AuditLine]
        do { lines = try decodeBlock(text) } catch { return error.message }
        guard first >= 1, last >= first, last <= AuditLine.maximumSequence, let firstLine = lines.first,
            let lastLine = lines.last,
            firstLine.seq == first, lastLine.seq == last, Int64(lines.count) <= last - first + 1
        else {
            return "the audit block says entries \(first) to \(last) but holds \(lines.count) from "
                + "\(lines.first?.seq ?? 0) to \(lines.last?.seq ?? 0)"
        }
        var previous: Int64 = 0
        for line in lines {
            guard line.seq > previous else {
                return "entry \(line.seq) is out of order in the audit block (after \(previous))"
            }
            previous = line.seq
            guard FieldSpec.isSHA256Hex(line.hash), FieldSpec.isSHA256Hex(line.previousHash) else {
                return "entry \(line.seq) of the audit block has a malformed hash"
            }
        }
        return nil
    }

    static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "\\" || $0 == "\t" || $0 == "\n" || $0 == "\r" }) else {
            return text
        }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A field's text from its escaped UTF-8 bytes (a backslash before any other character stands for that
    /// character).
    private static func unescape(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        guard bytes.contains(UInt8(ascii: "\\")) else { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var escaping = false
        for byte in bytes {
            if escaping {
                switch byte {
                case UInt8(ascii: "t"): out.append(UInt8(ascii: "\t"))
                case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "r"): out.append(UInt8(ascii: "\r"))
                default: out.append(byte)
                }
                escaping = false
            } else if byte == UInt8(ascii: "\\") {
                escaping = true
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
