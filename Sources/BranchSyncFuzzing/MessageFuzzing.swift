import BranchSyncWire

/// Every message decoder's law: what decodes re-encodes to itself.
enum MessageFuzzing {
    static func run(_ data: [UInt8]) -> String? {
        guard let first = data.first, let type = MessageType(rawValue: first) else { return nil }
        return roundTrip(type: type, payload: Array(data.dropFirst()))
    }

    /// Decodes a payload; if it is a message, checks that it re-encodes to a payload decoding to the same message and
    /// encoding to the same bytes (the encoding is canonical from then on).
    static func roundTrip(type: MessageType, payload: [UInt8]) -> String? {
        guard let message = try? Message.decode(type: type, payload: payload) else { return nil }
        _ = VerifyRound.excess(of: message)
        let encoded = message.encodedPayload()
        guard let again = try? Message.decode(type: type, payload: encoded) else {
            return "\(type) decoded, but its re-encoding does not decode"
        }
        guard again == message else { return "\(type) re-encoded decodes to a different message" }
        guard again.encodedPayload() == encoded else { return "\(type) does not re-encode to the same bytes" }
        guard message.encodedFrame() == BranchSyncWire.Frame.encode(type: type, payload: encoded) else {
            return "\(type)'s frame is not its type and payload"
        }
        return nil
    }
}
