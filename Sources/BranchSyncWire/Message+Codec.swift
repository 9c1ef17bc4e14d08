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
            w.writeVarint(m.cursor)
        case .cursor(let m):
            w.writeVarint(m.cursor)
        case .changes(let m):
            w.writeVarint(m.upTo)
            w.writeVarint(m.remaining)
            w.writeVarint(UInt64(m.encodedStates.count))
            for bytes in m.encodedStates { w.writeBytes(bytes) }
        case .purge(let m):
            w.writeVarint(UInt64(m.ids.count))
            for id in m.ids { w.writeRaw(id.bytes) }
        case .ack(let m):
            w.writeVarint(m.upTo)
        case .blob(let m):
            w.writeRaw(m.sha256)
            w.writeBytes(m.data)
        case .ping(let m):
            w.writeVarint(m.clockMilliseconds)
            w.writeVarint(m.pending)
        case .pong(let m):
            w.writeVarint(m.echoedClockMilliseconds)
        case .error(let m):
            w.writeVarint(m.code.rawValue)
            w.writeString(m.message)
        case .bye(let m):
            w.writeString(m.reason)
        }
        return w.bytes
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
            return .hello(
                Hello(
                    minimumVersion: minimum, maximumVersion: maximum, site: site, role: role,
                    software: try r.readString(), schemaVersion: try r.readVarint(),
                    clockMilliseconds: try r.readVarint(), nonce: try r.readRaw(count: nonceLength)))
        case .challenge:
            return .challenge(
                Challenge(
                    version: try r.readVarint(), site: try SiteID.decode(from: &r), software: try r.readString(),
                    schemaVersion: try r.readVarint(), clockMilliseconds: try r.readVarint(),
                    nonce: try r.readRaw(count: nonceLength)))
        case .auth:
            return .auth(Auth(proof: try r.readRaw(count: nonceLength)))
        case .welcome:
            return .welcome(Welcome(serverSignature: try r.readRaw(count: nonceLength), cursor: try r.readVarint()))
        case .cursor:
            return .cursor(Cursor(cursor: try r.readVarint()))
        case .changes:
            let upTo = try r.readVarint()
            let remaining = try r.readVarint()
            let count = try r.readVarint(atMost: UInt64(r.remaining), "state count")
            var states: [RecordState] = []
            var encoded: [[UInt8]] = []
            states.reserveCapacity(Int(count))
            encoded.reserveCapacity(Int(count))
            for _ in 0..<count {
                let bytes = try r.readBytes()
                states.append(try RecordState(decoding: bytes))
                encoded.append(bytes)
            }
            return .changes(Changes(upTo: upTo, remaining: remaining, states: states, encodedStates: encoded))
        case .purge:
            let count = try r.readVarint(atMost: UInt64(r.remaining / 16), "id count")
            var ids: [RecordID] = []
            for _ in 0..<count {
                let bytes = try r.readRaw(count: 16)
                do { ids.append(try RecordID(bytes: bytes)) } catch { throw MalformedDataError(error.message) }
            }
            return .purge(Purge(ids: ids))
        case .ack:
            return .ack(Ack(upTo: try r.readVarint()))
        case .blob:
            return .blob(Blob(sha256: try r.readRaw(count: 32), data: try r.readBytes()))
        case .ping:
            return .ping(Ping(clockMilliseconds: try r.readVarint(), pending: try r.readVarint()))
        case .pong:
            return .pong(Pong(echoedClockMilliseconds: try r.readVarint()))
        case .error:
            return .error(ErrorMessage(code: ErrorCode(rawValue: try r.readVarint()), message: try r.readString()))
        case .bye:
            return .bye(Bye(reason: try r.readString()))
        }
    }
}
