import BranchSyncCore

/// Rows with named columns, printed the way the operator asked: a terminal table, `--json` (an array of objects, one
/// per line) or `--csv` (RFC 4180, for a spreadsheet).
struct Listing {
    /// A column: its name (the JSON key and CSV header) and whether its cells are numbers (unquoted in JSON).
    struct Column {
        var name: String
        var numeric = false
    }

    var columns: [Column]
    var rows: [[String]] = []

    init(_ columns: [Column]) {
        self.columns = columns
    }

    /// Text columns with these names.
    init(_ names: [String], numeric: Set<String> = []) {
        self.columns = names.map { Column(name: $0, numeric: numeric.contains($0)) }
    }

    mutating func append(_ row: [String]) {
        rows.append(row)
    }

    /// Prints in the format the invocation asked for (`--json`, `--csv`, else a table).
    func print(to invocation: Invocation) {
        if invocation.flag("json") {
            invocation.console.write(json())
        } else if invocation.flag("csv") {
            invocation.console.write(csv())
        } else {
            var table = TextTable(columns.map(\.name))
            for row in rows { table.append(row.map { $0.replacingOccurrences(of: "\n", with: "⏎") }) }
            invocation.console.write(table.render())
        }
    }

    func json() -> String {
        JSONLines.array(
            rows.map { row in
                CanonicalJSON.object(
                    zip(columns, row).map { column, cell in
                        (column.name, column.numeric && Int64(cell) != nil ? cell : CanonicalJSON.quote(cell))
                    })
            })
    }

    func csv() -> String {
        ([columns.map(\.name)] + rows).map(CSV.row).joined()
    }
}

extension OptionSpec {
    /// `--csv`, for listings people open in a spreadsheet.
    static let csv = OptionSpec.flag("csv", help: "print CSV (RFC 4180) for a spreadsheet instead of text")
}
