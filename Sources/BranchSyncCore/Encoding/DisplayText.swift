extension String {
    /// This text made safe to put in a log line, an error message or a table: control characters (newlines
    /// included) become `\u{…}` escapes and the result is cut to at most `limit` Unicode scalars as shown (then
    /// `…`), so a peer's string can neither forge a line nor flood a log.
    public func escapedForDisplay(limit: Int = 80) -> String {
        // Nearly every string is already safe and short enough: one pass over the bytes finds out, with no copy.
        if isDisplaySafe(within: limit) { return self }
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

    /// Whether ``escapedForDisplay(limit:)`` would return this text unchanged: no control character (C0, DEL, C1,
    /// U+2028, U+2029) and at most `limit` Unicode scalars. Reads the UTF-8 bytes once.
    private func isDisplaySafe(within limit: Int) -> Bool {
        var scalars = 0
        var previous: UInt8 = 0
        var beforePrevious: UInt8 = 0
        for byte in utf8 {
            if byte < 0x20 || byte == 0x7F { return false }
            // U+0080–U+009F: C2 80 … C2 9F.
            if previous == 0xC2 && (0x80...0x9F).contains(byte) { return false }
            // U+2028, U+2029: E2 80 A8, E2 80 A9.
            if beforePrevious == 0xE2 && previous == 0x80 && (byte == 0xA8 || byte == 0xA9) { return false }
            if byte & 0xC0 != 0x80 {
                scalars += 1
                if scalars > limit { return false }
            }
            beforePrevious = previous
            previous = byte
        }
        return true
    }
}
