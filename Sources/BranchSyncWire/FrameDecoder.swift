import BranchSyncCore

/// Splits a byte stream into frames. Feed it whatever `read` returned; take out complete frames.
///
/// Memory is bounded: a length field over ``maximumLength`` is refused before any of the frame is buffered.
public struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    /// The largest length field accepted: ``Frame/handshakeMaximumLength`` before `WELCOME`, then
    /// ``Frame/maximumLength``.
    public var maximumLength: UInt32

    public init(maximumLength: UInt32 = Frame.maximumLength) {
        self.maximumLength = maximumLength
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedCount: Int { buffer.count - start }

    /// Appends received bytes.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame's type and payload, or `nil` if more bytes are needed.
    /// - Throws: ``WireError`` `FRAME_TOO_LARGE` for an oversized length, `MALFORMED_FRAME` for a zero length or an
    ///   unknown type.
    public mutating func next() throws(WireError) -> (type: MessageType, payload: [UInt8])? {
        guard bufferedCount >= 4 else { return nil }
        let length =
            UInt32(buffer[start]) << 24 | UInt32(buffer[start + 1]) << 16 | UInt32(buffer[start + 2]) << 8
            | UInt32(buffer[start + 3])
        guard length <= maximumLength else {
            throw WireError(.frameTooLarge, "frame of \(length) bytes exceeds the limit of \(maximumLength)")
        }
        guard length >= 1 else { throw WireError(.malformedFrame, "frame length 0 (a frame holds at least its type)") }
        guard bufferedCount >= 4 + Int(length) else { return nil }
        let typeByte = buffer[start + 4]
        guard let type = MessageType(rawValue: typeByte) else {
            throw WireError(.malformedFrame, "unknown message type 0x\(String(typeByte, radix: 16))")
        }
        let payload = Array(buffer[(start + 5)..<(start + 4 + Int(length))])
        start += 4 + Int(length)
        if start == buffer.count {
            // Keep a small buffer between frames; give back what a large frame needed.
            buffer.removeAll(keepingCapacity: buffer.capacity <= 64 << 10)
            start = 0
        }
        return (type, payload)
    }
}
