/// A decoded state with the checks made on it alone (``ReceivedState``).
public struct CheckedState: Sendable {
    /// The state.
    public let state: RecordState
    /// The bytes it was decoded from.
    public let bytes: [UInt8]
    /// Why the state is inconsistent (``Admission/inconsistency(of:encoded:)``), or `nil`.
    public let inconsistency: String?
    /// Why the state's own values fail validation (``RecordSchema/validateValues(of:)``), or `nil`; also `nil` for an
    /// inconsistent or destroyed state, which nothing validates further. Whoever merges it uses this only when the merge leaves
    /// the state as it came, and validates the merged values otherwise.
    public let valuesProblem: ValidationError?

    /// Checks `state`, decoded from `bytes`.
    public init(_ state: RecordState, encoded bytes: [UInt8]) {
        self.state = state
        self.bytes = bytes
        inconsistency = Admission.inconsistency(of: state, encoded: bytes)
        // A destruction keeps no values, and whatever merges with it stays destroyed: never validated.
        if inconsistency == nil && !state.isDestroyed {
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

    /// Validates the values of what merging this state produced: the check already made when the merge left the
    /// state as it came, a new one otherwise.
    public func validateMerged(_ outcome: MergeOutcome) throws(ValidationError) {
        guard outcome.equalsRemote, outcome.state == state else {
            return try RecordSchema.of(outcome.state.collection).validateValues(of: outcome.state)
        }
        if let valuesProblem { throw valuesProblem }
    }
}
