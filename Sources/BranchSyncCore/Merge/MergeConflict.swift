/// A true conflict found while merging: two sites changed the same thing without seeing each other's change.
///
/// The merge keeps one side deterministically; the other side's value is reported here so nothing is lost.
public struct MergeConflict: Sendable, Hashable {
    /// What kind of conflict it was.
    public enum Kind: String, Sendable, Hashable {
        /// Both sites set the same field to different values.
        case field
        /// One site deleted the record while another updated it; the update won and the record stays.
        case deleteVersusUpdate = "delete-update"
    }

    /// The record concerned.
    public var recordID: RecordID
    /// The kind of conflict.
    public var kind: Kind
    /// The field concerned (`(deleted)` for ``Kind/deleteVersusUpdate``).
    public var field: String
    /// The value kept.
    public var kept: FieldValue
    /// The value that lost; for a delete conflict the value is `deleted` with the delete's stamp.
    public var lost: FieldValue

    public init(recordID: RecordID, kind: Kind, field: String, kept: FieldValue, lost: FieldValue) {
        self.recordID = recordID
        self.kind = kind
        self.field = field
        self.kept = kept
        self.lost = lost
    }

    /// The pseudo-field name used for delete conflicts.
    public static let deletedField = "(deleted)"
}
