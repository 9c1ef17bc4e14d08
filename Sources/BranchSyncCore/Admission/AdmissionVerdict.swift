/// The hub's decision on one state a branch sent (DESIGN.md §10–§12, Protocol.md §9.2).
public enum AdmissionVerdict: Sendable, Hashable {
    /// The state brings nothing the hub does not hold. `outOfScope`: the sender still holds a record it may not
    /// (the hub tells it to purge its copy).
    case unchanged(outOfScope: Bool)
    /// Admit: store ``Admitted/state`` (after re-stamping, if ``Admitted/restamp`` says so).
    case admit(Admitted)
    /// A policy refusal (validation, scope, authority): the hub answers with a compensating write that dominates the
    /// state, and tells the sender with `REFUSED`, so the sender converges back and lists the refusal.
    case refuse(String)
    /// Causally invalid (inconsistent, or claiming history the hub cannot have given the sender): a bug or an
    /// attack. Quarantined; the session ends with an error and the site is flagged.
    case invalid(String)
    /// Cannot be judged yet: it waits until the record `awaiting` changes at the hub (a restored hub regaining
    /// another site's writes, or a document whose customer has not arrived yet).
    case hold(String, awaiting: RecordID)
}

/// An admitted state and what the hub must do to it before storing it.
public struct Admitted: Sendable, Hashable {
    /// The merge of the hub's record and the state: what to store.
    public var outcome: MergeOutcome
    /// Fields of the sender's new writes stamped too far in the future. The hub stores a write of its own instead,
    /// with these fields re-stamped by it (``Compensation/write(content:dominating:restamp:stamp:)``), so a wrong
    /// clock cannot win later conflicts. (A tombstone's stamp only says who deleted when; it orders nothing.)
    public var restamp: Set<String>

    /// The merged state.
    public var state: RecordState { outcome.state }

    /// Whether the hub must write a re-stamped version instead of the merged state.
    public var needsRestamp: Bool { !restamp.isEmpty }
}
