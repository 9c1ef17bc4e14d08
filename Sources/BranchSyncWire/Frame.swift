import BranchSyncCore

/// The message types of `Protocol.md` §6.
public enum MessageType: UInt8, Sendable, CaseIterable {
    case hello = 0x01
    case challenge = 0x02
    case auth = 0x03
    case welcome = 0x04
    case cursor = 0x05
    case changes = 0x10
    case purge = 0x11
    case ack = 0x12
    case blob = 0x13
    case refused = 0x14
    case forget = 0x15
    case ping = 0x20
    case pong = 0x21
    case error = 0x30
    case bye = 0x31
    case verify = 0x40
    case verifySummary = 0x41
    case verifyList = 0x42
    case verifyEntries = 0x43
    case repair = 0x44
    case fetch = 0x45
}

/// Frame layout (`Protocol.md` §5): `u32` length of what follows (type + payload), `u8` type, payload.
public enum Frame {
    /// The largest length field accepted: 16 MiB.
    public static let maximumLength: UInt32 = 16 * 1024 * 1024
    /// The largest frame a hub accepts before `WELCOME` (`Protocol.md` §5): handshake messages are small, and a
    /// connection that has not proven its site costs the hub no more than this.
    public static let handshakeMaximumLength: UInt32 = 4096

    /// Wraps a payload in a frame.
    public static func encode(type: MessageType, payload: [UInt8]) -> [UInt8] {
        var writer = BinaryWriter(capacity: payload.count + 5)
        writer.writeUInt32(UInt32(payload.count + 1))
        writer.writeByte(type.rawValue)
        writer.writeRaw(payload)
        return writer.bytes
    }
}
