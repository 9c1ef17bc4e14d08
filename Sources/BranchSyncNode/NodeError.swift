/// A failure of the node engine (networking, handshake, session), with an operator-readable message.
public struct NodeError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure, for callers that react to it (retry or not).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Kind: Sendable, Hashable {
            case transient, connection, refusedForGood, authentication, protocolViolation, configuration
        }

        fileprivate let kind: Kind

        /// A failure a later retry may not meet (a dropped link, a busy hub, a timeout).
        public static let transient = Code(kind: .transient)
        /// The peer could not be reached, or closed the connection.
        public static let connection = Code(kind: .connection)
        /// The hub refused this branch for a reason a retry cannot fix (unknown site, schema, version, role).
        public static let refusedForGood = Code(kind: .refusedForGood)
        /// A proof or signature was wrong.
        public static let authentication = Code(kind: .authentication)
        /// The peer broke the protocol.
        public static let protocolViolation = Code(kind: .protocolViolation)
        /// This node is not set up for what was asked (no hub address, no secret, wrong role).
        public static let configuration = Code(kind: .configuration)

        /// Whether retrying later may help.
        public var isRetryable: Bool { kind == .transient || kind == .connection }

        public var description: String { "\(kind)" }
    }

    public var code: Code
    /// What went wrong, in one line, with what to do where possible.
    public var message: String

    /// Whether retrying later may help (network down) or not (bad secret, unknown site).
    public var isRetryable: Bool { code.isRetryable }

    public init(_ message: String, code: Code = .transient) {
        self.message = message
        self.code = code
    }

    public var description: String { message }
}
