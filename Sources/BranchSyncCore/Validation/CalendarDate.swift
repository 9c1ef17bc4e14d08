/// A calendar date written `YYYY-MM-DD` (used for retention dates).
public enum CalendarDate {
    /// Checks that `text` is a real date in `YYYY-MM-DD` form.
    /// - Throws: ``ValidationError`` naming the field.
    public static func validate(_ text: String, field: String) throws(ValidationError) {
        let invalid = ValidationError(field: field, message: "date '\(text)' is not a real date of the form YYYY-MM-DD")
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (1...12).contains(month), day >= 1
        else { throw invalid }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard day <= days else { throw invalid }
    }

    /// Milliseconds since the Unix epoch at 00:00 UTC of the date `text` (`YYYY-MM-DD`).
    /// - Throws: ``ValidationError`` when it is not a real date, or before 1970.
    public static func startMilliseconds(of text: String, field: String) throws(ValidationError) -> UInt64 {
        try validate(text, field: field)
        let parts = text.split(separator: "-").compactMap { Int($0) }
        let days = daysFromCivil(year: parts[0], month: parts[1], day: parts[2])
        guard days >= 0 else {
            throw ValidationError(field: field, message: "date '\(text)' is before 1970-01-01")
        }
        return UInt64(days) * 86_400_000
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
