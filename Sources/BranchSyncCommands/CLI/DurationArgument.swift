import BranchSyncCore

/// A duration on the command line: a whole number and a unit, `ms`, `s`, `m`, `h` or `d` (`30d`, `10s`, `500ms`).
enum DurationArgument {
    /// Milliseconds in each unit.
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// The value of `--name` in milliseconds, `defaultValue` when absent, or a usage error that says what is
    /// accepted. Durations of more than 10 years are refused as a typo.
    static func milliseconds(
        _ invocation: Invocation, _ name: String, default defaultValue: Int64, allowingZero: Bool = false
    ) throws -> Int64 {
        guard let text = invocation.value(name) else { return defaultValue }
        guard let value = parse(text, allowingZero: allowingZero) else {
            throw CLIError.usage(
                "--\(name) takes a duration such as 30d, 12h, 15m, 10s or 500ms (a "
                    + (allowingZero ? "" : "positive ")
                    + "whole number and a unit), got '\(text.escapedForDisplay(limit: 40))'")
        }
        return value
    }

    /// Milliseconds, or `nil` when `text` is not a positive (or, `allowingZero`, zero) duration of at most 10 years.
    static func parse(_ text: String, allowingZero: Bool = false) -> Int64? {
        // Longest suffix first: "ms" before "s" and "m".
        for unit in units.sorted(by: { $0.suffix.count > $1.suffix.count }) where text.hasSuffix(unit.suffix) {
            let digits = text.dropLast(unit.suffix.count)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int64(digits),
                number > 0 || (allowingZero && number == 0)
            else { return nil }
            let (product, overflow) = number.multipliedReportingOverflow(by: unit.milliseconds)
            guard !overflow, product <= 10 * 366 * 86_400_000 else { return nil }
            return product
        }
        return nil
    }
}
