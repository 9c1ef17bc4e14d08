/// The confidentiality class of a record, from least to most restricted.
public enum Classification: String, Sendable, Hashable, CaseIterable, Comparable {
    case `public`
    case `internal`
    case confidential
    case secret

    /// Parses the class name as an operator types it.
    /// - Throws: ``ValidationError`` listing the allowed names.
    public init(parsing text: String) throws(ValidationError) {
        guard let value = Classification(rawValue: text) else {
            throw ValidationError(
                field: "class",
                message: "class '\(text)' is not one of: public, internal, confidential, secret")
        }
        self = value
    }

    private var rank: Int {
        switch self {
        case .public: return 0
        case .internal: return 1
        case .confidential: return 2
        case .secret: return 3
        }
    }

    public static func < (lhs: Classification, rhs: Classification) -> Bool {
        lhs.rank < rhs.rank
    }
}
