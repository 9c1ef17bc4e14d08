import CSQLite

/// A prepared SQLite statement. Owns its `sqlite3_stmt` and finalizes it in `deinit`; never leaves its connection.
public final class Statement {
    private let pointer: OpaquePointer
    private unowned let connection: DatabaseConnection
    /// The SQL text, for error messages.
    public let sql: String

    init(connection: DatabaseConnection, sql: String) throws(StorageError) {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(connection.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw connection.error(rc, sql: sql) }
        self.pointer = statement
        self.connection = connection
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(pointer)
    }

    func reset() {
        sqlite3_reset(pointer)
        sqlite3_clear_bindings(pointer)
    }

    /// Binds values to `?1`, `?2`, … in order. Text and blobs are copied (`SQLITE_TRANSIENT`).
    @discardableResult
    public func bind(_ values: [SQLValue]) throws(StorageError) -> Statement {
        try connection.requireTransactionStillOpen()
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(pointer, index)
            case .integer(let number): rc = sqlite3_bind_int64(pointer, index, number)
            case .text(let text): rc = sqlite3_bind_text(pointer, index, text, -1, SQLITE_TRANSIENT)
            case .blob(let bytes):
                rc = bytes.withUnsafeBytes { raw in
                    sqlite3_bind_blob(
                        pointer, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count),
                        SQLITE_TRANSIENT)
                }
            }
            guard rc == SQLITE_OK else { throw fail(rc) }
        }
        return self
    }

    /// Runs a statement that returns no rows.
    public func run(_ values: [SQLValue] = []) throws(StorageError) {
        try bind(values)
        let rc = sqlite3_step(pointer)
        sqlite3_reset(pointer)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw fail(rc) }
    }

    /// Calls `body` for each row; the row is valid only during the call.
    public func forEachRow(_ values: [SQLValue] = [], _ body: (borrowing Row) throws -> Void) throws {
        try readRows(values) { row in
            try body(row)
            return true
        }
    }

    /// Calls `body` for each row until it returns `false` (the rest is not read).
    public func readRows(_ values: [SQLValue] = [], while body: (borrowing Row) throws -> Bool) throws {
        try bind(values)
        defer { sqlite3_reset(pointer) }
        while true {
            let rc = sqlite3_step(pointer)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw fail(rc) }
            guard try body(Row(pointer: pointer)) else { return }
        }
    }

    /// The rows mapped by `transform`.
    public func rows<T>(_ values: [SQLValue] = [], _ transform: (borrowing Row) throws -> T) throws -> [T] {
        var result: [T] = []
        try forEachRow(values) { result.append(try transform($0)) }
        return result
    }

    /// The first row mapped by `transform`, or `nil`.
    public func firstRow<T>(_ values: [SQLValue] = [], _ transform: (borrowing Row) throws -> T) throws -> T? {
        try bind(values)
        defer { sqlite3_reset(pointer) }
        let rc = sqlite3_step(pointer)
        if rc == SQLITE_DONE { return nil }
        guard rc == SQLITE_ROW else { throw fail(rc) }
        return try transform(Row(pointer: pointer))
    }

    private func fail(_ rc: Int32) -> StorageError {
        let error = connection.error(rc, sql: sql)
        connection.evict(sql)
        return error
    }
}

/// A value bound to a statement parameter.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])

    /// Text, or NULL when `nil`.
    public static func optionalText(_ value: String?) -> SQLValue {
        value.map(SQLValue.text) ?? .null
    }
}

/// The current row of a stepping statement; columns are numbered from 0.
public struct Row: ~Copyable {
    let pointer: OpaquePointer

    public func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(pointer, column) == SQLITE_NULL
    }

    public func int(_ column: Int32) -> Int64 {
        sqlite3_column_int64(pointer, column)
    }

    public func text(_ column: Int32) -> String {
        guard let raw = sqlite3_column_text(pointer, column) else { return "" }
        return String(cString: raw)
    }

    public func optionalText(_ column: Int32) -> String? {
        isNull(column) ? nil : text(column)
    }

    public func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(pointer, column))
        guard count > 0, let raw = sqlite3_column_blob(pointer, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: count))
    }
}
