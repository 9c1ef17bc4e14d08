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
}
