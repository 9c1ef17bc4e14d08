/// A state a peer sent, with the checks that depend on nothing but its bytes: its decoding, whether it is consistent
/// (``Admission/inconsistency(of:encoded:)``) and whether its own values pass validation.
///
/// These checks are deterministic, so they may run on any thread ahead of the writer that merges and stores: the hub
/// and a branch check a batch's states on another core while the writer applies the batch (Protocol.md §9.2).
public enum ReceivedState: Sendable {
    /// It decoded; its checks are made.
    case decoded(CheckedState)
    /// It does not decode.
    case undecodable(bytes: [UInt8], MalformedDataError)

    /// Decodes and checks `bytes`.
    public init(bytes: [UInt8]) {
        do { self = .decoded(CheckedState(try RecordState(decoding: bytes), encoded: bytes)) } catch {
            self = .undecodable(bytes: bytes, error)
        }
    }
}
