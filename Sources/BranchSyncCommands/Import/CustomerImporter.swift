import BranchSyncCore
import BranchSyncStore

/// Imports an existing customer ledger from CSV: bad rows are reported with their line and reason, good rows are
/// committed in batches, and a customer whose code already exists is updated rather than duplicated, so a re-run
/// after fixing bad rows is safe.
struct CustomerImporter {
    /// What happened to the rows.
    struct Report {
        var created = 0
        var updated = 0
        var unchanged = 0
        var refused: [(line: Int, message: String)] = []
        var rows: Int { created + updated + unchanged + refused.count }
    }

    /// Rows per transaction.
    var batchSize = 1000

    /// Imports every row of `reader` into `store`.
    /// - Parameter progress: called after each committed batch with (rows done, rows in the file).
    /// - Throws: ``CLIError`` for a header that cannot be imported or a malformed file; storage errors stop the
    ///   import, leaving earlier batches committed.
    func run(
        _ reader: inout CSVReader, into store: NodeStore, progress: (Int, Int) -> Void
    ) throws -> Report {
        let total = max(0, reader.lineCount - 1)
        guard let header = try next(&reader) else {
            throw CLIError(exitCode: ExitCode.invalidData, message: "the file is empty")
        }
        let columns = try Self.columns(header)
        var report = Report()
        var firstLineOfCode: [String: Int] = [:]
        var finished = false
        while !finished {
            var batch: [CSVReader.Record] = []
            while batch.count < batchSize, let record = try next(&reader) { batch.append(record) }
            finished = batch.count < batchSize
            if batch.isEmpty { break }
            try store.batch { writer in
                for record in batch {
                    try importRow(record, columns: columns, writer: writer, seen: &firstLineOfCode, report: &report)
                }
            }
            progress(report.rows, total)
        }
        return report
    }

    private func next(_ reader: inout CSVReader) throws -> CSVReader.Record? {
        do { return try reader.next() } catch {
            throw CLIError(exitCode: ExitCode.invalidData, message: error.description)
        }
    }

    private func importRow(
        _ record: CSVReader.Record, columns: [String], writer: LocalWriter, seen: inout [String: Int],
        report: inout Report
    ) throws {
        guard record.fields.count == columns.count else {
            report.refused.append((record.line, "has \(record.fields.count) fields, the header has \(columns.count)"))
            return
        }
        var values: [String: String] = [:]
        for (name, cell) in zip(columns, record.fields) {
            let trimmed = Self.trimmed(cell)
            if !trimmed.isEmpty { values[name] = trimmed }
        }
        if let code = values["code"] {
            if let first = seen[code] {
                report.refused.append((record.line, "customer code \(code) already appears on line \(first)"))
                return
            }
            seen[code] = record.line
        }
        do {
            if let code = values["code"], let existingID = try writer.liveCustomerID(code: code) {
                let result = try writer.update(existingID, changes: values)
                if result.changed.isEmpty { report.unchanged += 1 } else { report.updated += 1 }
            } else {
                try writer.create(.customers, values: values)
                report.created += 1
            }
        } catch let error as ValidationError {
            report.refused.append((record.line, error.message))
        } catch let error as StorageError where error.code == .invalidOperation || error.code == .notFound {
            report.refused.append((record.line, error.message))
        }
        // Anything else (a full disk, an I/O error) stops the import: SQLite may have rolled the batch back.
    }

    /// `text` without leading and trailing spaces and tabs (Foundation's trimming is slow per cell).
    static func trimmed(_ text: String) -> String {
        let utf8 = text.utf8
        guard let first = utf8.first, let last = utf8.last,
            first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09
        else { return text }
        let start = utf8.firstIndex { $0 != 0x20 && $0 != 0x09 } ?? utf8.endIndex
        let end = utf8.lastIndex { $0 != 0x20 && $0 != 0x09 }.map { utf8.index(after: $0) } ?? start
        return start < end ? String(text[start..<end]) : ""
    }

    /// Maps header cells (flag or field names) to field names.
    static func columns(_ header: CSVReader.Record) throws -> [String] {
        let schema = RecordSchema.customers
        var names: [String] = []
        for cell in header.fields {
            let label = trimmed(cell)
            guard let field = schema.field(named: label), !field.isSystem else {
                let known = schema.fields.filter { !$0.isSystem }.map(\.flag).joined(separator: ",")
                throw CLIError(
                    exitCode: ExitCode.invalidData,
                    message: "line \(header.line): unknown column '\(label)'; the columns are: \(known)")
            }
            guard !names.contains(field.name) else {
                throw CLIError(
                    exitCode: ExitCode.invalidData, message: "line \(header.line): column '\(label)' appears twice")
            }
            names.append(field.name)
        }
        for field in schema.fields where field.isRequired && !names.contains(field.name) {
            throw CLIError(
                exitCode: ExitCode.invalidData,
                message: "line \(header.line): the header has no '\(field.flag)' column, which is required")
        }
        return names
    }
}
