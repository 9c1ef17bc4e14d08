/// The fuzz targets (`docs/fuzzing.md`): each takes any bytes and returns a finding (a broken law, described) or
/// `nil`. They never trap on their own input; the libFuzzer entry point (`branchsync-fuzz`) turns a finding into a
/// crash so libFuzzer keeps the input, and `swift test` replays the committed corpus through every target.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// The frame decoder fed the same stream whole and in chunks (sizes drawn from the first byte): the same frames
    /// and the same error, in the same order; every frame that decodes as a message re-encodes to itself.
    case frames
    /// Every message decoder: the first byte is the message type, the rest its payload. What decodes re-encodes to a
    /// payload that decodes to the same message and encodes to the same bytes again.
    case messages
    /// The record-state decoder: decode → re-encode → decode gives the same state and the same bytes; the merge with
    /// fixed states of the same record is commutative and idempotent; the hub's admission judges it without trapping.
    case states

    /// Runs the target on one input.
    /// - Returns: what law the input broke, or `nil`.
    public func run(_ data: [UInt8]) -> String? {
        switch self {
        case .frames: return FrameFuzzing.run(data)
        case .messages: return MessageFuzzing.run(data)
        case .states: return StateFuzzing.run(data)
        }
    }
}
