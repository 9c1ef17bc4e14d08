import BranchSyncWire

/// The frame decoder's law: how bytes arrive (one read or many) changes nothing it returns.
enum FrameFuzzing {
    /// What a decoder made of a stream: its frames, then the error that ended it or the bytes still waiting.
    struct Outcome: Equatable {
        var frames: [Frame] = []
        var error: String?
        var buffered = 0
    }

    struct Frame: Equatable {
        var type: MessageType
        var payload: [UInt8]
    }

    static func run(_ data: [UInt8]) -> String? {
        guard data.count >= 2 else { return nil }
        // Byte 0 seeds the chunk sizes, bit 0 of byte 1 picks the limit before (4 KiB) or after `WELCOME`.
        let maximum =
            data[1] & 1 == 0 ? BranchSyncWire.Frame.handshakeMaximumLength : BranchSyncWire.Frame.maximumLength
        let stream = Array(data.dropFirst(2))
        let whole = decode(stream, maximum: maximum, chunkSizes: { stream.count })
        var random = UInt32(data[0]) &* 2_654_435_761 | 1
        let chunked = decode(
            stream, maximum: maximum,
            chunkSizes: {
                random ^= random << 13
                random ^= random >> 17
                random ^= random << 5
                return 1 + Int(random % 97)
            })
        guard whole == chunked else {
            return "fed whole the decoder returned \(whole.frames.count) frames and \(whole.error ?? "no error"); "
                + "in chunks \(chunked.frames.count) frames and \(chunked.error ?? "no error")"
        }
        for frame in whole.frames {
            if let finding = MessageFuzzing.roundTrip(type: frame.type, payload: frame.payload) { return finding }
        }
        return nil
    }

    /// Feeds `stream` in chunks and takes every frame after each, as a connection does.
    static func decode(_ stream: [UInt8], maximum: UInt32, chunkSizes: () -> Int) -> Outcome {
        var decoder = FrameDecoder(maximumLength: maximum)
        var outcome = Outcome()
        var offset = 0
        while offset < stream.count {
            let end = min(stream.count, offset + max(1, chunkSizes()))
            decoder.append(stream[offset..<end])
            offset = end
            do {
                while let (type, payload) = try decoder.next() {
                    outcome.frames.append(Frame(type: type, payload: payload))
                }
            } catch {
                outcome.error = "\(error.code)"
                return outcome
            }
        }
        outcome.buffered = decoder.bufferedCount
        return outcome
    }
}
