/// A plain-text table whose columns line up in a terminal, counting CJK characters as two columns wide.
public struct TextTable {
    private let headers: [String]
    private var rows: [[String]] = []

    public init(_ headers: [String]) {
        self.headers = headers
    }

    public mutating func append(_ row: [String]) {
        rows.append(row)
    }

    /// The table as lines, header first, without trailing spaces.
    public func render() -> String {
        let all = [headers] + rows
        var widths = [Int](repeating: 0, count: headers.count)
        for row in all {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], Self.displayWidth(cell))
            }
        }
        return all.map { row in
            var line = ""
            for (index, cell) in row.enumerated() {
                let isLast = index == row.count - 1
                line += cell
                if !isLast { line += String(repeating: " ", count: widths[index] - Self.displayWidth(cell) + 2) }
            }
            return line
        }.joined(separator: "\n") + "\n"
    }

    /// Terminal columns taken by `text`: East Asian wide and full-width characters take two.
    public static func displayWidth(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { width, scalar in
            let value = scalar.value
            let wide =
                (0x1100...0x115F).contains(value) || (0x2E80...0xA4CF).contains(value)
                || (0xAC00...0xD7A3).contains(value) || (0xF900...0xFAFF).contains(value)
                || (0xFE30...0xFE4F).contains(value) || (0xFF00...0xFF60).contains(value)
                || (0xFFE0...0xFFE6).contains(value) || (0x20000...0x3FFFD).contains(value)
            return width + (wide ? 2 : 1)
        }
    }
}
