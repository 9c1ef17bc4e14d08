/// A failure of the node engine (networking, handshake, session), with an operator-readable message.
public struct NodeError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in one line, with what to do where possible.
    public var message: String
    /// Whether retrying later may help (network down) or not (bad secret, unknown site).
    public var isRetryable: Bool

    public init(_ message: String, retryable: Bool = true) {
        self.message = message
        self.isRetryable = retryable
    }

    public var description: String { message }
}
