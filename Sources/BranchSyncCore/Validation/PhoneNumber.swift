/// Mainland China phone numbers as the group writes them.
///
/// - mobile: 11 digits, `1[3-9]` then 9 digits (`13812345678`);
/// - landline: area code `0` + 2–3 digits, `-`, 7–8 digits, optional `-` extension of 1–6 digits
///   (`010-12345678`, `0755-1234567-8001`).
public enum PhoneNumber {
    /// Checks a phone number.
    /// - Throws: ``ValidationError`` describing the accepted forms.
    public static func validate(_ phone: String, field: String = "phone") throws(ValidationError) {
        let bytes = Array(phone.utf8)
        if isMobile(bytes) || isLandline(bytes) { return }
        throw ValidationError(
            field: field,
            message: "phone '\(phone)' is neither a mobile number (11 digits starting 13-19, e.g. 13812345678) "
                + "nor a landline with area code (e.g. 010-12345678 or 0755-1234567-8001)")
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private static func isMobile(_ bytes: [UInt8]) -> Bool {
        bytes.count == 11 && bytes.allSatisfy(isDigit) && bytes[0] == 0x31 && bytes[1] >= 0x33
    }

    private static func isLandline(_ bytes: [UInt8]) -> Bool {
        let parts = bytes.split(separator: 0x2D, omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, parts.allSatisfy({ $0.allSatisfy(isDigit) }) else {
            return false
        }
        let area = parts[0]
        let number = parts[1]
        guard area.first == 0x30, (3...4).contains(area.count), (7...8).contains(number.count) else { return false }
        guard number.first != 0x30 else { return false }
        if parts.count == 3 { return (1...6).contains(parts[2].count) }
        return true
    }
}
