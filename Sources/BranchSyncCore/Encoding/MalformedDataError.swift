/// Bytes that do not decode: truncated, an unknown code, invalid UTF-8, or a value out of range.
public struct MalformedDataError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong and where.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
