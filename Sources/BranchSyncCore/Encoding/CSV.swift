/// CSV (RFC 4180) cells and rows, as listings and the handover list write them.
public enum CSV {
    /// A CSV cell: quoted when it holds a comma, quote or line break; a text starting with `=`, `+`, `-` or `@`
    /// gets a leading `'` so that a spreadsheet does not run it as a formula (OWASP, CSV injection).
    public static func cell(_ value: String) -> String {
        var cell = value
        if let first = cell.unicodeScalars.first, "=+-@".unicodeScalars.contains(first), Double(cell) == nil {
            cell = "'" + cell
        }
        guard cell.unicodeScalars.contains(where: { ",\"\n\r".unicodeScalars.contains($0) }) else { return cell }
        // By scalars: a quote followed by a combining mark is one Character, and must still be doubled.
        var quoted = String.UnicodeScalarView()
        quoted.append("\"")
        for scalar in cell.unicodeScalars {
            quoted.append(scalar)
            if scalar == "\"" { quoted.append("\"") }
        }
        quoted.append("\"")
        return String(quoted)
    }

    /// One row, CRLF-terminated.
    public static func row(_ cells: [String]) -> String {
        cells.map(cell).joined(separator: ",") + "\r\n"
    }
}
