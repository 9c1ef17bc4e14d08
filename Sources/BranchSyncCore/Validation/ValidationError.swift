/// A value refused at entry, with the field it concerns and a message an operator can act on.
public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The field name (as in DESIGN.md §2), or a pseudo-field such as `site` or `id`.
    public var field: String
    /// What is wrong, in one line.
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { message }
}
