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

/// A decoded state with the checks made on it alone (``ReceivedState``).
public struct CheckedState: Sendable {
    /// The state.
    public let state: RecordState
    /// The bytes it was decoded from.
    public let bytes: [UInt8]
    /// Why the state is inconsistent (``Admission/inconsistency(of:encoded:)``), or `nil`.
    public let inconsistency: String?
    /// Why the state's own values fail validation (``RecordSchema/validateValues(of:)``), or `nil`; also `nil` for an
    /// inconsistent state, which nothing validates further. Whoever merges it uses this only when the merge leaves
    /// the state as it came, and validates the merged values otherwise.
    public let valuesProblem: ValidationError?

    /// Checks `state`, decoded from `bytes`.
    public init(_ state: RecordState, encoded bytes: [UInt8]) {
        self.state = state
        self.bytes = bytes
        inconsistency = Admission.inconsistency(of: state, encoded: bytes)
        if inconsistency == nil {
            do throws(ValidationError) {
                try RecordSchema.of(state.collection).validateValues(of: state)
                valuesProblem = nil
            } catch {
                valuesProblem = error
            }
        } else {
            valuesProblem = nil
        }
    }

    /// Validates `merged`, the result of merging this state: the check already made when the merge left the state as
    /// it came, a new one otherwise.
    public func validate(merged: RecordState, equalsThis: Bool) throws(ValidationError) {
        guard equalsThis else { return try RecordSchema.of(merged.collection).validateValues(of: merged) }
        if let valuesProblem { throw valuesProblem }
    }
}
