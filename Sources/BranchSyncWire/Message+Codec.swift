import BranchSyncCore

extension Message {
    /// The complete frame for this message (`Protocol.md` §5–6).
    public func encodedFrame() -> [UInt8] {
        Frame.encode(type: type, payload: encodedPayload())
    }

    /// The payload bytes (without the frame header).
    public func encodedPayload() -> [UInt8] {
        var w = BinaryWriter()
        switch self {
        case .hello(let m):
            w.writeVarint(m.minimumVersion)
            w.writeVarint(m.maximumVersion)
            w.writeString(m.site.rawValue)
            w.writeByte(m.role == .hub ? 1 : 2)
            w.writeString(m.software)
            w.writeVarint(m.schemaVersion)
            w.writeVarint(m.clockMilliseconds)
            w.writeRaw(m.nonce)
            w.writeVarint(m.proof?.position ?? 0)
            writeProof(m.proof, into: &w)
        case .challenge(let m):
            w.writeVarint(m.version)
            w.writeString(m.site.rawValue)
            w.writeString(m.software)
            w.writeVarint(m.schemaVersion)
            w.writeVarint(m.clockMilliseconds)
            w.writeRaw(m.nonce)
        case .auth(let m):
            w.writeRaw(m.proof)
        case .welcome(let m):
            w.writeRaw(m.serverSignature)
            m.resume.encode(into: &w)
            w.writeByte(m.flags)
        case .cursor(let m):
            m.resume.encode(into: &w)
        case .changes(let m):
            w.writeVarint(m.upTo)
            w.writeVarint(m.remaining)
            writeProof(m.proof, into: &w)
            w.writeVarint(UInt64(m.encodedStates.count))
            for bytes in m.encodedStates { w.writeBytes(bytes) }
        case .purge(let m):
            w.writeVarint(UInt64(m.ids.count))
            for id in m.ids { w.writeRaw(id.bytes) }
        case .forget(let m):
            w.writeVarint(UInt64(m.entries.count))
            for entry in m.entries {
                w.writeRaw(entry.id.bytes)
                entry.vector.encode(into: &w)
            }
        case .ack(let m):
            w.writeVarint(m.upTo)
        case .blob(let m):
            w.writeRaw(m.sha256)
            w.writeBytes(m.data)
        case .refused(let m):
            w.writeRaw(m.recordID.bytes)
            w.writeString(m.dot.site.rawValue)
            w.writeVarint(m.dot.counter)
            w.writeString(m.reason)
        case .ping(let m):
            w.writeVarint(m.clockMilliseconds)
            w.writeVarint(m.pending)
            w.writeVarint(m.pendingAge)
        case .pong(let m):
            w.writeVarint(m.echoedClockMilliseconds)
        case .error(let m):
            w.writeVarint(m.code.rawValue)
            w.writeString(m.message)
        case .bye(let m):
            w.writeString(m.reason)
        case .verify(let m):
            w.writeVarint(m.round)
            writePaths(m.paths, into: &w)
        case .verifySummary(let m):
            w.writeVarint(m.round)
            w.writeVarint(UInt64(m.nodes.count))
            for node in m.nodes {
                w.writeBytes(node.path)
                w.writeVarint(node.records)
                writeDigest(node.digest, into: &w)
            }
        case .verifyList(let m):
            w.writeVarint(m.round)
            writePaths(m.paths, into: &w)
        case .verifyEntries(let m):
            w.writeVarint(m.round)
            w.writeVarint(UInt64(m.entries.count))
            for entry in m.entries {
                w.writeRaw(entry.id.bytes)
                writeDigest(entry.digest, into: &w)
            }
        case .repair(let m):
            w.writeVarint(m.round)
            w.writeByte(m.kind.rawValue)
            w.writeVarint(UInt64(m.encodedStates.count))
            for bytes in m.encodedStates { w.writeBytes(bytes) }
        case .fetch(let m):
            w.writeVarint(m.round)
            w.writeVarint(UInt64(m.ids.count))
            for id in m.ids { w.writeRaw(id.bytes) }
        }
        return w.bytes
    }

    private func writePaths(_ paths: [VerifyPath], into w: inout BinaryWriter) {
        w.writeVarint(UInt64(paths.count))
        for path in paths { w.writeBytes(path) }
    }

    private func writeDigest(_ digest: UInt64, into w: inout BinaryWriter) {
        for shift in stride(from: 56, through: 0, by: -8) {
            w.writeByte(UInt8(truncatingIfNeeded: digest >> UInt64(shift)))
        }
    }

    /// Decodes a message from a frame's type and payload.
    /// - Throws: ``WireError`` `MALFORMED_FRAME` naming the message and what is wrong.
    public static func decode(type: MessageType, payload: [UInt8]) throws(WireError) -> Message {
        var r = BinaryReader(payload)
        do throws(MalformedDataError) {
            let message = try decode(type: type, reader: &r)
            guard r.isAtEnd else { throw MalformedDataError("\(r.remaining) bytes after the message") }
            return message
        } catch {
            throw WireError(.malformedFrame, "malformed \(type) message: \(error.message)")
        }
    }

    private static func decode(type: MessageType, reader r: inout BinaryReader) throws(MalformedDataError) -> Message {
        switch type {
        case .hello:
            let minimum = try r.readVarint()
            let maximum = try r.readVarint()
            let site = try SiteID.decode(from: &r)
            let role: NodeRole
            switch try r.readByte() {
            case 1: role = .hub
            case 2: role = .branch
            case let other: throw MalformedDataError("unknown role \(other)")
            }
            let software = try r.readString()
            let schemaVersion = try r.readVarint()
            let clock = try r.readVarint()
            let nonce = try r.readRaw(count: nonceLength)
            let position = try r.readVarint()
            let proof = try readProof(&r, position: position)
            guard proof != nil || position == 0 else {
                throw MalformedDataError("HELLO names proven position \(position) without a proof")
            }
            return .hello(
                Hello(
                    minimumVersion: minimum, maximumVersion: maximum, site: site, role: role, software: software,
                    schemaVersion: schemaVersion, clockMilliseconds: clock, nonce: nonce, proof: proof))
        case .challenge:
            return .challenge(
                Challenge(
                    version: try r.readVarint(), site: try SiteID.decode(from: &r), software: try r.readString(),
                    schemaVersion: try r.readVarint(), clockMilliseconds: try r.readVarint(),
                    nonce: try r.readRaw(count: nonceLength)))
        case .auth:
            return .auth(Auth(proof: try r.readRaw(count: nonceLength)))
        case .welcome:
            let signature = try r.readRaw(count: nonceLength)
            let resume = try ResumeState.decode(from: &r)
            let flags = try r.readByte()
            guard flags & ~Welcome.knownFlags == 0,
                flags & Welcome.staleSite == 0 || flags & Welcome.fullResync != 0
            else { throw MalformedDataError("unknown WELCOME flags \(flags)") }
            return .welcome(Welcome(serverSignature: signature, resume: resume, flags: flags))
        case .cursor:
            return .cursor(Cursor(resume: try ResumeState.decode(from: &r)))
        case .changes:
            let upTo = try r.readVarint()
            let remaining = try r.readVarint()
            let proof = try readProof(&r, position: upTo)
            return .changes(
                Changes(upTo: upTo, remaining: remaining, encodedStates: try readStates(&r), proof: proof))
        case .purge:
            let count = try r.readVarint(atMost: UInt64(r.remaining / 16), "id count")
            var ids: [RecordID] = []
            for _ in 0..<count {
                let bytes = try r.readRaw(count: 16)
                do { ids.append(try RecordID(bytes: bytes)) } catch { throw MalformedDataError(error.message) }
            }
            return .purge(Purge(ids: ids))
        case .forget:
            // An entry is at least 17 bytes: an id and an empty vector's count.
            let count = try r.readVarint(atMost: UInt64(r.remaining / 17), "entry count")
            var entries: [Forget.Entry] = []
            for _ in 0..<count {
                let id = try readID(&r)
                entries.append(Forget.Entry(id: id, vector: try VersionVector.decode(from: &r)))
            }
            return .forget(Forget(entries: entries))
        case .ack:
            return .ack(Ack(upTo: try r.readVarint()))
        case .blob:
            return .blob(Blob(sha256: try r.readRaw(count: 32), data: try r.readBytes()))
        case .refused:
            let id = try readID(&r)
            let dot = Dot(site: try SiteID.decode(from: &r), counter: try r.readVarint())
            return .refused(Refused(recordID: id, dot: dot, reason: try r.readString()))
        case .ping:
            return .ping(
                Ping(clockMilliseconds: try r.readVarint(), pending: try r.readVarint(), pendingAge: try r.readVarint())
            )
        case .pong:
            return .pong(Pong(echoedClockMilliseconds: try r.readVarint()))
        case .error:
            return .error(ErrorMessage(code: ErrorCode(rawValue: try r.readVarint()), message: try r.readString()))
        case .bye:
            return .bye(Bye(reason: try r.readString()))
        case .verify:
            return .verify(Verify(round: try r.readVarint(), paths: try readPaths(&r)))
        case .verifySummary:
            let round = try r.readVarint()
            let count = try r.readVarint(atMost: UInt64(r.remaining / 10), "node count")
            var nodes: [VerifyNodeSummary] = []
            for _ in 0..<count {
                let path = try readPath(&r)
                nodes.append(VerifyNodeSummary(path: path, records: try r.readVarint(), digest: try readDigest(&r)))
            }
            return .verifySummary(VerifySummary(round: round, nodes: nodes))
        case .verifyList:
            return .verifyList(VerifyList(round: try r.readVarint(), paths: try readPaths(&r)))
        case .verifyEntries:
            let round = try r.readVarint()
            let count = try r.readVarint(atMost: UInt64(r.remaining / 24), "entry count")
            var entries: [VerifyEntry] = []
            entries.reserveCapacity(Int(count))
            for _ in 0..<count {
                let id = try readID(&r)
                entries.append(VerifyEntry(id: id, digest: try readDigest(&r)))
            }
            return .verifyEntries(VerifyEntries(round: round, entries: entries))
        case .repair:
            let round = try r.readVarint()
            let code = try r.readByte()
            guard let kind = Repair.Kind(rawValue: code) else {
                throw MalformedDataError("REPAIR kind must be 0, 1 or 2, got \(code)")
            }
            return .repair(Repair(round: round, kind: kind, encodedStates: try readStates(&r)))
        case .fetch:
            let round = try r.readVarint()
            let count = try r.readVarint(atMost: UInt64(r.remaining / 16), "id count")
            var ids: [RecordID] = []
            for _ in 0..<count { ids.append(try readID(&r)) }
            return .fetch(Fetch(round: round, ids: ids))
        }
    }

    /// A count and that many length-prefixed states, kept as bytes: each is decoded (and judged) on its own.
    private static func readStates(_ r: inout BinaryReader) throws(MalformedDataError) -> [[UInt8]] {
        let count = try r.readVarint(atMost: UInt64(r.remaining), "state count")
        var encoded: [[UInt8]] = []
        encoded.reserveCapacity(Int(count))
        for _ in 0..<count { encoded.append(try r.readBytes()) }
        return encoded
    }

    private static func readID(_ r: inout BinaryReader) throws(MalformedDataError) -> RecordID {
        let bytes = try r.readRaw(count: 16)
        do { return try RecordID(bytes: bytes) } catch { throw MalformedDataError(error.message) }
    }

    private static func readPath(_ r: inout BinaryReader) throws(MalformedDataError) -> VerifyPath {
        let path = try r.readBytes()
        guard path.count <= 2 else { throw MalformedDataError("a verify path has at most 2 bytes, got \(path.count)") }
        return path
    }

    private static func readPaths(_ r: inout BinaryReader) throws(MalformedDataError) -> [VerifyPath] {
        let count = try r.readVarint(atMost: UInt64(r.remaining), "path count")
        var paths: [VerifyPath] = []
        for _ in 0..<count { paths.append(try readPath(&r)) }
        return paths
    }

    private static func readDigest(_ r: inout BinaryReader) throws(MalformedDataError) -> UInt64 {
        try r.readRaw(count: 8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}

extension ResumeState {
    func encode(into w: inout BinaryWriter) {
        w.writeVarint(cursor)
        w.writeVarint(acked)
        w.writeVarint(logHead)
        w.writeVarint(yourCounter)
        w.writeRaw(incarnation)
        w.writeRaw(yourIncarnation)
    }

    static func decode(from r: inout BinaryReader) throws(MalformedDataError) -> ResumeState {
        ResumeState(
            cursor: try r.readVarint(), acked: try r.readVarint(), logHead: try r.readVarint(),
            yourCounter: try r.readVarint(), incarnation: try r.readRaw(count: incarnationLength),
            yourIncarnation: try r.readRaw(count: incarnationLength))
    }
}

/// A position proof on the wire: `bytes` of length 0 (none) or 48 (epoch ‖ MAC); the position is the message's.
private func writeProof(_ proof: PositionProof?, into w: inout BinaryWriter) {
    w.writeBytes(proof.map { $0.epoch + $0.mac } ?? [])
}

private func readProof(_ r: inout BinaryReader, position: UInt64) throws(MalformedDataError) -> PositionProof? {
    let bytes = try r.readBytes()
    if bytes.isEmpty { return nil }
    guard bytes.count == PositionProof.epochLength + PositionProof.macLength else {
        throw MalformedDataError("a position proof has 0 or 48 bytes, got \(bytes.count)")
    }
    return PositionProof(
        position: position, epoch: Array(bytes[..<PositionProof.epochLength]),
        mac: Array(bytes[PositionProof.epochLength...]))
}
