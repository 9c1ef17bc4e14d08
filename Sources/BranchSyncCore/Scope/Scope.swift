/// Which records a site may hold (DESIGN.md §6), decided from the record and the site's clearance.
///
/// The hub holds everything. Any other site holds the records it owns, and others' records up to its clearance:
/// public and internal by default, confidential when granted. Secret records go only to their owner and the hub;
/// no clearance reaches them.
public enum Scope {
    /// The clearance every enrolled branch starts with.
    public static let defaultClearance: Classification = .internal

    /// Whether `site`, with `clearance`, may hold `state`.
    public static func mayHold(_ state: RecordState, site: SiteID, clearance: Classification) -> Bool {
        mayHold(owner: state.owner.rawValue, classification: state.classification, site: site, clearance: clearance)
    }

    /// The same rule from a record's owner and class alone (as stored in index columns).
    public static func mayHold(owner: String, classification: Classification, site: SiteID, clearance: Classification)
        -> Bool
    {
        if owner == site.rawValue { return true }
        if classification == .secret { return false }
        return classification <= clearance
    }

    /// Checks a clearance an operator asks to grant.
    /// - Throws: ``ValidationError`` for `secret`, which is never granted.
    public static func validateClearance(_ clearance: Classification) throws(ValidationError) {
        guard clearance != .secret else {
            throw ValidationError(
                field: "class-access",
                message: "secret records go only to their owner and the hub; grant at most confidential")
        }
    }
}
