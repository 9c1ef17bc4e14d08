/// A value refused at entry, with the field it concerns and a message an operator can act on.
public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The field name (as in DESIGN.md §2), or a pseudo-field such as `site` or `id`.
    public var field: String
    /// What is wrong, in one line.
    public var message: String

    /// Messages often quote the offending value, which may come from a peer: the field and the message are kept to
    /// one line of bounded length (control characters escaped), so a 10 MB value never travels into a quarantine
    /// reason, an audit row or a log.
    public init(field: String, message: String) {
        self.field = field.escapedForDisplay(limit: 60)
        self.message = message.escapedForDisplay(limit: Self.maximumMessageLength)
    }

    /// Characters of a message at most.
    public static let maximumMessageLength = 400

    public var description: String { message }
}
