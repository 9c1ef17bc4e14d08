/// The canonical binary form of a record state (`Protocol.md` §4). Canonical: fields and vector entries are sorted,
/// so equal states encode to equal bytes.
extension RecordState {
    /// The encoding format version written in the first byte.
    public static let binaryFormatVersion: UInt8 = 1

    /// Encodes the state.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 64 + fields.count * 48)
        encode(into: &writer)
        return writer.bytes
    }

    /// Appends the encoding to `writer`.
    public func encode(into writer: inout BinaryWriter) {
        writer.writeByte(Self.binaryFormatVersion)
        writer.writeRaw(id.bytes)
        writer.writeByte(collection.code)
        writer.writeString(owner.rawValue)
        versionVector.encode(into: &writer)
        if let deletion {
            writer.writeByte(deletion.isDestruction ? 2 : 1)
            deletion.context.encode(into: &writer)
            deletion.stamp.encode(into: &writer)
        } else {
            writer.writeByte(0)
        }
        let sorted = fields.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        writer.writeVarint(UInt64(sorted.count))
        for (name, field) in sorted {
            writer.writeString(name)
            writer.writeString(field.value)
            field.stamp.encode(into: &writer)
        }
    }

    /// Decodes a state encoded by ``encoded()``; the bytes must hold exactly one state.
    /// - Throws: ``MalformedDataError`` saying what is wrong.
    public init(decoding bytes: [UInt8]) throws(MalformedDataError) {
        var reader = BinaryReader(bytes)
        try self.init(from: &reader)
        guard reader.isAtEnd else { throw MalformedDataError("\(reader.remaining) bytes after the record state") }
    }

    /// Decodes one state from `reader`.
    /// - Throws: ``MalformedDataError`` saying what is wrong.
    public init(from reader: inout BinaryReader) throws(MalformedDataError) {
        let version = try reader.readByte()
        guard version == Self.binaryFormatVersion else {
            throw MalformedDataError("record state format \(version) is not supported (expected 1)")
        }
        let id = RecordID(uncheckedBytes: try reader.readRaw(count: 16))
        let code = try reader.readByte()
        guard let collection = RecordCollection(code: code) else {
            throw MalformedDataError("unknown collection code \(code)")
        }
        let owner = try SiteID.decode(from: &reader)
        let vector = try VersionVector.decode(from: &reader)
        var deletion: Deletion?
        switch try reader.readByte() {
        case 0: deletion = nil
        case let flag where flag == 1 || flag == 2:
            deletion = Deletion(
                context: try VersionVector.decode(from: &reader), stamp: try Stamp.decode(from: &reader),
                isDestruction: flag == 2)
        case let flag: throw MalformedDataError("deletion flag must be 0, 1 or 2, got \(flag)")
        }
        let count = try reader.readVarint(atMost: UInt64(reader.remaining), "field count")
        var fields: [String: FieldValue] = [:]
        fields.reserveCapacity(Int(count))
        var previous: String?
        for _ in 0..<count {
            let name = try reader.readString()
            if let previous, !previous.utf8.lexicographicallyPrecedes(name.utf8) {
                throw MalformedDataError("field names not in strictly ascending order at '\(name)'")
            }
            previous = name
            // Swift compares dictionary keys by canonical equivalence: `e` + U+0301 after `é` (ascending as bytes)
            // would silently collapse into one key and the state would no longer re-encode to the bytes received.
            guard fields[name] == nil else {
                throw MalformedDataError("field name '\(name)' is canonically equivalent to an earlier field name")
            }
            let value = try reader.readString()
            fields[name] = FieldValue(value: value, stamp: try Stamp.decode(from: &reader))
        }
        self.init(
            id: id, collection: collection, owner: owner, versionVector: vector, fields: fields, deletion: deletion)
    }
}

extension SiteID {
    /// Decodes a `site` (`Protocol.md` §3), refusing invalid site ids.
    public static func decode(from reader: inout BinaryReader) throws(MalformedDataError) -> SiteID {
        let text = try reader.readString()
        do { return try SiteID(text) } catch { throw MalformedDataError("invalid site id: \(error.message)") }
    }
}

extension VersionVector {
    /// Appends the canonical encoding: a count, then (site, counter) sorted by site.
    public func encode(into writer: inout BinaryWriter) {
        let entries = sortedEntries
        writer.writeVarint(UInt64(entries.count))
        for entry in entries {
            writer.writeString(entry.site.rawValue)
            writer.writeVarint(entry.counter)
        }
    }

    /// Decodes a vector written by ``encode(into:)``.
    public static func decode(from reader: inout BinaryReader) throws(MalformedDataError) -> VersionVector {
        let count = try reader.readVarint(atMost: UInt64(reader.remaining), "vector size")
        var counters: [SiteID: UInt64] = [:]
        var previous: SiteID?
        for _ in 0..<count {
            let site = try SiteID.decode(from: &reader)
            if let previous, !(previous < site) {
                throw MalformedDataError("version vector sites not in strictly ascending order at '\(site)'")
            }
            previous = site
            let counter = try reader.readVarint()
            guard counter > 0 else { throw MalformedDataError("version vector entry for \(site) is zero") }
            counters[site] = counter
        }
        return VersionVector(counters)
    }
}

extension Stamp {
    /// Appends site, counter, wall milliseconds and logical counter.
    public func encode(into writer: inout BinaryWriter) {
        writer.writeString(dot.site.rawValue)
        writer.writeVarint(dot.counter)
        writer.writeVarint(time.wallMilliseconds)
        writer.writeVarint(UInt64(time.logical))
    }

    /// Decodes a stamp written by ``encode(into:)``.
    public static func decode(from reader: inout BinaryReader) throws(MalformedDataError) -> Stamp {
        let site = try SiteID.decode(from: &reader)
        let counter = try reader.readVarint()
        let wall = try reader.readVarint()
        let logical = try reader.readVarint(atMost: UInt64(UInt32.max), "logical clock")
        return Stamp(
            dot: Dot(site: site, counter: counter),
            time: HLCTimestamp(wallMilliseconds: wall, logical: UInt32(logical)))
    }
}
