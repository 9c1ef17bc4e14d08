/// The hub's proof that a position of its change log belongs to the hub's history (Protocol.md §8.2): the history
/// epoch the position was reached in, and an HMAC only the hub can make. A branch keeps the last one it received
/// and presents it at every handshake; a hub that no longer holds that epoch up to that position has provably gone
/// back in time (restored from an older copy), on no branch's word.
public struct PositionProof: Sendable, Hashable {
    /// The position of the hub's log.
    public var position: UInt64
    /// The history epoch (16 random bytes) the position was reached in.
    public var epoch: [UInt8]
    /// HMAC-SHA256, under the hub's position key, of ``message``.
    public var mac: [UInt8]

    /// The length of an epoch id.
    public static let epochLength = 16
    /// The length of the MAC.
    public static let macLength = 32

    public init(position: UInt64, epoch: [UInt8], mac: [UInt8]) {
        self.position = position
        self.epoch = epoch
        self.mac = mac
    }

    /// What the MAC covers: the bytes of `"branchsync-position"`, the epoch, and the position as 8 bytes big-endian.
    public var message: [UInt8] {
        Self.message(position: position, epoch: epoch)
    }

    /// What the MAC of a proof of `position` in `epoch` covers.
    public static func message(position: UInt64, epoch: [UInt8]) -> [UInt8] {
        Array("branchsync-position".utf8) + epoch
            + (0..<8).reversed().map { UInt8(truncatingIfNeeded: position >> ($0 * 8)) }
    }
}
