/// What one record field accepts.
public struct FieldSpec: Sendable {
    /// How a field's value is checked.
    public enum Format: Sendable {
        /// Free text up to `maxLength` characters.
        case text(maxLength: Int)
        /// One of a fixed list of words.
        case oneOf([String])
        /// A customer code (``CustomerCode``).
        case customerCode
        /// A unified social credit code (``CreditCode``).
        case creditCode
        /// A phone number (``PhoneNumber``).
        case phone
        /// An e-mail address (``EmailAddress``).
        case email
        /// A bank account number: 8–30 digits, spaces allowed between groups.
        case bankAccount
        /// A record id (UUID).
        case recordID
        /// A date `YYYY-MM-DD`.
        case date
        /// Lowercase hex SHA-256.
        case sha256
        /// A non-negative integer.
        case count
        /// A site id.
        case siteID
        /// Site ids joined by commas, in ascending order, each once (``RecordState/sharedWithField``).
        case siteList
    }

    /// The field name in records, the CSV header and JSON (camelCase, DESIGN.md §2).
    public let name: String
    /// The CLI flag without dashes and the CSV column name (kebab-case).
    public let flag: String
    /// Whether a record must have a non-empty value.
    public let isRequired: Bool
    /// Whether only BranchSync itself sets it (attachment metadata), not an operator.
    public let isSystem: Bool
    /// The accepted values.
    public let format: Format
    /// The value a new record gets when the operator gives none.
    public let defaultValue: String?
    /// One line for `--help`.
    public let summary: String
    /// The most UTF-8 bytes a value of this field may have, whatever it holds. Checked before anything else, so a
    /// hostile value (megabytes, or one character followed by millions of combining marks) is refused in time
    /// proportional to the limit, not to the value.
    public let maximumBytes: Int

    public init(
        _ name: String, flag: String? = nil, required: Bool = false, system: Bool = false, format: Format,
        default defaultValue: String? = nil, summary: String
    ) {
        self.name = name
        self.flag = flag ?? Self.kebabCase(name)
        self.isRequired = required
        self.isSystem = system
        self.format = format
        self.defaultValue = defaultValue
        self.summary = summary
        self.maximumBytes = Self.maximumBytes(of: format)
    }

    private static func maximumBytes(of format: Format) -> Int {
        switch format {
        case .text(let maxLength): return maxLength * 4
        case .oneOf(let allowed): return allowed.map(\.utf8.count).max() ?? 0
        case .customerCode: return 6
        case .creditCode: return 18
        case .phone: return 24
        case .email: return 254
        case .bankAccount: return 60
        case .recordID: return 36
        case .date: return 10
        case .sha256: return 64
        case .count: return 20
        case .siteID: return SiteID.maximumLength
        case .siteList: return RecordState.maximumShares * (SiteID.maximumLength + 1)
        }
    }

    /// Checks one non-empty value.
    /// - Throws: ``ValidationError`` naming the field and what is wrong.
    public func validate(_ value: String) throws(ValidationError) {
        let bytes = value.utf8.count
        guard bytes <= maximumBytes else {
            throw ValidationError(field: name, message: "\(flag) is \(bytes) bytes; at most \(maximumBytes)")
        }
        switch format {
        case .text(let maxLength):
            // At most 4 UTF-8 bytes per character: short values skip counting graphemes.
            guard bytes <= maxLength || value.count <= maxLength else {
                throw ValidationError(
                    field: name, message: "\(flag) is \(value.count) characters; at most \(maxLength)")
            }
            // In UTF-8 a byte below 0x20 is always that control character itself, never part of another.
            guard !value.utf8.contains(where: { $0 < 0x20 && $0 != 0x0A && $0 != 0x09 }) else {
                throw ValidationError(field: name, message: "\(flag) contains control characters")
            }
        case .oneOf(let allowed):
            guard allowed.contains(value) else {
                throw ValidationError(
                    field: name, message: "\(flag) '\(value)' is not one of: \(allowed.joined(separator: ", "))")
            }
        case .customerCode: try CustomerCode.validate(value)
        case .creditCode: try CreditCode.validate(value)
        case .phone: try PhoneNumber.validate(value, field: name)
        case .email: try EmailAddress.validate(value)
        case .bankAccount:
            let digits = value.filter { $0 != " " }
            guard (8...30).contains(digits.count), digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw ValidationError(
                    field: name,
                    message: "bank account '\(value)' must be 8 to 30 digits (spaces between groups allowed)")
            }
        case .recordID:
            do { _ = try RecordID(value) } catch { throw ValidationError(field: name, message: "\(flag): \(error)") }
        case .date: try CalendarDate.validate(value, field: name)
        case .sha256:
            guard Self.isSHA256Hex(value) else {
                throw ValidationError(field: name, message: "\(flag) must be 64 lowercase hex digits")
            }
        case .count:
            guard UInt64(value) != nil else {
                throw ValidationError(field: name, message: "\(flag) '\(value)' is not a whole number")
            }
        case .siteID:
            do { _ = try SiteID(value) } catch {
                throw ValidationError(field: name, message: "\(flag): \(error.message)")
            }
        case .siteList:
            let parts = value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            for part in parts {
                do { _ = try SiteID(part) } catch {
                    throw ValidationError(field: name, message: "\(flag): \(error.message)")
                }
            }
            guard parts.count <= RecordState.maximumShares,
                zip(parts, parts.dropFirst()).allSatisfy({ $0.utf8.lexicographicallyPrecedes($1.utf8) })
            else {
                throw ValidationError(
                    field: name,
                    message: "\(flag) must list at most \(RecordState.maximumShares) site ids, ascending, each once")
            }
        }
    }

    /// Whether `value` is a SHA-256 in lowercase hex: 64 digits `0-9a-f`.
    public static func isSHA256Hex(_ value: String) -> Bool {
        value.utf8.count == 64 && value.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    static func kebabCase(_ name: String) -> String {
        var out = ""
        for character in name {
            if character.isUppercase {
                out.append("-")
                out.append(contentsOf: character.lowercased())
            } else {
                out.append(character)
            }
        }
        return out
    }
}
