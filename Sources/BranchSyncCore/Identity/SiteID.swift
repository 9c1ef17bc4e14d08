/// The identity of one BranchSync node (`hq`, `bj01`, `sh-pudong`), fixed when the node is initialised.
///
/// A site id is 1–32 characters of lowercase ASCII letters, digits and `-`; it starts with a letter or digit.
public struct SiteID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The id as text.
    public let rawValue: String

    /// The longest site id accepted.
    public static let maximumLength = 32

    /// Validates `rawValue` as a site id.
    /// - Throws: ``ValidationError`` naming what is wrong.
    public init(_ rawValue: String) throws(ValidationError) {
        guard !rawValue.isEmpty else {
            throw ValidationError(field: "site", message: "site id is empty")
        }
        guard rawValue.utf8.count <= Self.maximumLength else {
            throw ValidationError(
                field: "site", message: "site id '\(rawValue)' is longer than \(Self.maximumLength) characters")
        }
        for byte in rawValue.utf8 {
            let ok = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D
            guard ok else {
                throw ValidationError(
                    field: "site",
                    message: "site id '\(rawValue)' may contain only lowercase letters, digits and '-'")
            }
        }
        guard rawValue.utf8.first != 0x2D else {
            throw ValidationError(field: "site", message: "site id '\(rawValue)' must not start with '-'")
        }
        self.rawValue = rawValue
    }

    /// Builds a site id from text already known to be valid (read back from our own storage or encoding).
    init(trusted rawValue: String) {
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    public static func < (lhs: SiteID, rhs: SiteID) -> Bool {
        lhs.rawValue.utf8.lexicographicallyPrecedes(rhs.rawValue.utf8)
    }
}
