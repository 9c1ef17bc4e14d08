extension String {
    /// This text made safe to put in a log line, an error message or a table: control characters (newlines
    /// included) become `\u{…}` escapes and the result is cut to about `limit` characters with `…`, so a peer's
    /// string can neither forge a line nor flood a log.
    public func escapedForDisplay(limit: Int = 80) -> String {
        var out = ""
        var count = 0
        for scalar in unicodeScalars {
            guard count < limit else {
                out += "…"
                break
            }
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value)
                || scalar.value == 0x2028 || scalar.value == 0x2029
            {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
