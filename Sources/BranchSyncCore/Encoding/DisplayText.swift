extension String {
    /// This text made safe to put in a log line, an error message or a table: control characters (newlines
    /// included) become `\u{…}` escapes and the result is cut to at most `limit` Unicode scalars as shown (then
    /// `…`), so a peer's string can neither forge a line nor flood a log.
    public func escapedForDisplay(limit: Int = 80) -> String {
        var out = ""
        var count = 0
        for scalar in unicodeScalars {
            let isControl =
                scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value)
                || scalar.value == 0x2028 || scalar.value == 0x2029
            let shown = isControl ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
            let width = shown.unicodeScalars.count
            guard count + width <= limit else {
                out += "…"
                break
            }
            out += shown
            count += width
        }
        return out
    }
}
