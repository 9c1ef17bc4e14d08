/// Which records a site may hold (DESIGN.md §6), decided from the record and the site's clearance.
///
/// The hub holds everything. Any other site holds the records it owns, and others' records up to its clearance:
/// public and internal by default, confidential when granted, and a confidential record the hub shared with it
/// (need-to-know, `customer share`). Secret records go only to their owner and the hub; no clearance or share
/// reaches them.
public enum Scope {
    /// The clearance every enrolled branch starts with.
    public static let defaultClearance: Classification = .internal

    /// Whether `site`, with `clearance`, may hold `state` (its custodian counts as its owner).
    public static func mayHold(_ state: RecordState, site: SiteID, clearance: Classification) -> Bool {
        mayHold(
            owner: state.custodian.rawValue, classification: state.classification,
            sharedWith: state[RecordState.sharedWithField] ?? "", site: site, clearance: clearance)
    }

    /// The same rule from a record's owner, class and share list alone (as stored in index columns).
    /// - Parameter sharedWith: the `sharedWith` field's value: site ids joined by commas.
    public static func mayHold(
        owner: String, classification: Classification, sharedWith: String = "", site: SiteID,
        clearance: Classification
    ) -> Bool {
        if owner == site.rawValue { return true }
        if classification == .secret { return false }
        if classification <= clearance { return true }
        return classification == .confidential && !sharedWith.isEmpty
            && sharedWith.split(separator: ",").contains { $0.utf8.elementsEqual(site.rawValue.utf8) }
    }

    /// The SQL condition (on `records` or `digest_buckets` columns `owner`, `class`, `shared_with`) true for the rows
    /// `site`, with `clearance`, may hold; the site id is bound as parameter `?index`.
    public static func sqlCondition(clearance: Classification, parameter index: Int) -> String {
        let visible = Classification.allCases.filter { $0 <= clearance && $0 != .secret }.map { "'\($0.rawValue)'" }
        return "(owner = ?\(index) OR class IN (\(visible.joined(separator: ","))) OR (class = 'confidential' AND "
            + "instr(shared_with, ',' || ?\(index) || ',') > 0))"
    }

    /// The `shared_with` column's form of a share list: `,a,b,` (so a site is found as `,site,`), empty for none.
    public static func sharedWithColumn(_ sharedWith: String?) -> String {
        guard let sharedWith, !sharedWith.isEmpty else { return "" }
        return "," + sharedWith + ","
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
