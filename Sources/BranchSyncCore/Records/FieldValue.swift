/// A field's current value together with the stamp of the write that set it.
///
/// An empty `value` means the field was cleared; the stamp still records who cleared it and when.
///
/// Equality and hashing compare the value's UTF-8 bytes, not Swift's canonical equivalence: `é` and `e` + U+0301
/// are different values here, as they are different bytes on the wire and in every replica's database.
public struct FieldValue: Sendable, Hashable {
    /// The value as text (all record fields are text; see `RecordSchema` for their formats).
    public var value: String
    /// The write that set the value.
    public var stamp: Stamp

    public init(value: String, stamp: Stamp) {
        self.value = value
        self.stamp = stamp
    }

    public static func == (lhs: FieldValue, rhs: FieldValue) -> Bool {
        lhs.stamp == rhs.stamp && lhs.value.utf8.elementsEqual(rhs.value.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(stamp)
        for byte in value.utf8 { hasher.combine(byte) }
    }

    /// Whether two values are the same bytes (what a replica stores), unlike `String ==`.
    public static func sameBytes(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.elementsEqual(rhs.utf8)
    }
}
