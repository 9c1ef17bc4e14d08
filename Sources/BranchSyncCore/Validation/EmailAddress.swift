/// The shape of an e-mail address: `local@domain.tld`, no spaces, one `@`, a dot in the domain.
public enum EmailAddress {
    /// Checks the shape of an address (deliverability is not checked).
    /// - Throws: ``ValidationError`` when the shape is wrong.
    public static func validate(_ email: String) throws(ValidationError) {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        let invalid = ValidationError(field: "email", message: "e-mail '\(email)' is not of the form name@domain.tld")
        guard parts.count == 2, !parts[0].isEmpty, !email.contains(where: { $0.isWhitespace }) else { throw invalid }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty }), let tld = labels.last, tld.count >= 2 else {
            throw invalid
        }
    }
}
