/// A field's current value together with the stamp of the write that set it.
///
/// An empty `value` means the field was cleared; the stamp still records who cleared it and when.
public struct FieldValue: Sendable, Hashable {
    /// The value as text (all record fields are text; see `RecordSchema` for their formats).
    public var value: String
    /// The write that set the value.
    public var stamp: Stamp

    public init(value: String, stamp: Stamp) {
        self.value = value
        self.stamp = stamp
    }
}
