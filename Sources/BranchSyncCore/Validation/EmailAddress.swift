/// The shape of an e-mail address: `local@domain.tld`, no spaces, one `@`, a dot in the domain.
public enum EmailAddress {
    /// Checks the shape of an address (deliverability is not checked).
    /// - Throws: ``ValidationError`` when the shape is wrong.
    public static func validate(_ email: String) throws(ValidationError) {
        let wellFormed = email.utf8.allSatisfy { $0 < 0x80 } ? hasShape(ascii: email.utf8) : hasShape(email)
        guard wellFormed else {
            throw ValidationError(field: "email", message: "e-mail '\(email)' is not of the form name@domain.tld")
        }
    }

    /// The rule over ASCII bytes, with no `Character` work (the common case, on the hub's hot path).
    static func hasShape(ascii bytes: String.UTF8View) -> Bool {
        var ats = 0
        var localLength = 0
        var labels = 0
        var labelLength = 0
        for byte in bytes {
            switch byte {
            case 0x09...0x0D, 0x20: return false
            case 0x40:
                ats += 1
                guard ats == 1 else { return false }
                labels = 0
                labelLength = 0
            case 0x2E where ats == 1:
                guard labelLength > 0 else { return false }
                labels += 1
                labelLength = 0
            default:
                if ats == 0 { localLength += 1 } else { labelLength += 1 }
            }
        }
        // The last label (the top-level domain) has at least two characters; at least one dot came before it.
        return ats == 1 && localLength > 0 && labels >= 1 && labelLength >= 2
    }

    /// The rule over characters, for an address with non-ASCII text.
    static func hasShape(_ email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !email.contains(where: { $0.isWhitespace }) else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy({ !$0.isEmpty }) && (labels.last?.count ?? 0) >= 2
    }
}
