/// A protocol error: what a peer sent was not acceptable, or a session cannot go on.
///
/// Carried on the wire in an `ERROR` message (`Protocol.md` §7) as its numeric code and message.
public struct WireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error code sent in `ERROR` messages.
    public var code: ErrorCode
    /// One line for operators and logs.
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.name): \(message)" }
}

/// The error codes of `Protocol.md` §7. Unknown codes received from a newer peer are kept as their number.
public struct ErrorCode: Sendable, Hashable, CustomStringConvertible {
    /// The number on the wire.
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public static let malformedFrame = ErrorCode(rawValue: 1)
    public static let frameTooLarge = ErrorCode(rawValue: 2)
    public static let unsupportedVersion = ErrorCode(rawValue: 3)
    public static let schemaMismatch = ErrorCode(rawValue: 4)
    public static let unknownSite = ErrorCode(rawValue: 5)
    public static let authenticationFailed = ErrorCode(rawValue: 6)
    public static let duplicateSession = ErrorCode(rawValue: 7)
    public static let roleMismatch = ErrorCode(rawValue: 8)
    public static let unexpectedMessage = ErrorCode(rawValue: 9)
    public static let internalError = ErrorCode(rawValue: 10)
    public static let shuttingDown = ErrorCode(rawValue: 11)
    public static let timeout = ErrorCode(rawValue: 12)
    public static let invalidChange = ErrorCode(rawValue: 13)
    /// The hub is at a limit (connections, failed-login throttle); retry after a while.
    public static let tryLater = ErrorCode(rawValue: 14)

    /// The code's name as `Protocol.md` spells it.
    public var name: String {
        switch rawValue {
        case 1: return "MALFORMED_FRAME"
        case 2: return "FRAME_TOO_LARGE"
        case 3: return "UNSUPPORTED_VERSION"
        case 4: return "SCHEMA_MISMATCH"
        case 5: return "UNKNOWN_SITE"
        case 6: return "AUTHENTICATION_FAILED"
        case 7: return "DUPLICATE_SESSION"
        case 8: return "ROLE_MISMATCH"
        case 9: return "UNEXPECTED_MESSAGE"
        case 10: return "INTERNAL_ERROR"
        case 11: return "SHUTTING_DOWN"
        case 12: return "TIMEOUT"
        case 13: return "INVALID_CHANGE"
        case 14: return "TRY_LATER"
        default: return "ERROR_\(rawValue)"
        }
    }

    public var description: String { name }
}
