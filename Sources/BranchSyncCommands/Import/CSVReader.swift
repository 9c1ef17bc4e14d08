/// Reads RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF) from UTF-8 bytes, one record at a time, with the
/// line number each record starts on.
struct CSVReader {
    /// One CSV record.
    struct Record {
        /// The physical line the record starts on (1-based).
        var line: Int
        var fields: [String]
    }

    /// A file that is not CSV we can read.
    struct FormatError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    private let bytes: [UInt8]
    private var offset: Int
    private var line = 1

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        // Skip a UTF-8 byte-order mark (spreadsheet programs write one).
        offset = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    }

    /// The number of physical lines, for progress.
    var lineCount: Int {
        bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } + (bytes.last == 0x0A || bytes.isEmpty ? 0 : 1)
    }

    /// The next record, or `nil` at the end. Blank lines are skipped.
    mutating func next() throws(FormatError) -> Record? {
        while offset < bytes.count && (bytes[offset] == 0x0A || bytes[offset] == 0x0D) {
            if bytes[offset] == 0x0A { line += 1 }
            offset += 1
        }
        guard offset < bytes.count else { return nil }
        let startLine = line
        var fields: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        var quotedField = false

        func finishField() throws(FormatError) {
            guard let text = String(validating: field, as: UTF8.self) else {
                throw FormatError(
                    line: line, message: "the file is not UTF-8 text; save it as 'CSV UTF-8' and import again")
            }
            fields.append(text)
            field.removeAll(keepingCapacity: true)
            quotedField = false
        }

        while offset < bytes.count {
            let byte = bytes[offset]
            offset += 1
            if inQuotes {
                if byte == 0x22 {
                    if offset < bytes.count && bytes[offset] == 0x22 {
                        field.append(0x22)
                        offset += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    if byte == 0x0A { line += 1 }
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case 0x22 where field.isEmpty && !quotedField:
                inQuotes = true
                quotedField = true
            case 0x22:
                throw FormatError(
                    line: line, message: "a quote inside an unquoted field; quote the field and double the quote")
            case 0x2C:
                try finishField()
            case 0x0D where offset < bytes.count && bytes[offset] == 0x0A:
                continue
            case 0x0A:
                try finishField()
                line += 1
                return Record(line: startLine, fields: fields)
            default:
                if quotedField {
                    throw FormatError(
                        line: line, message: "text after a closing quote; a quoted field must end at a comma")
                }
                field.append(byte)
            }
        }
        if inQuotes { throw FormatError(line: startLine, message: "a quoted field is never closed") }
        try finishField()
        return Record(line: startLine, fields: fields)
    }
}
