/// A storage failure: the SQLite result code, SQLite's message and the SQL that failed.
///
/// The description leaves out bound values, which may hold customer data.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure, for callers that react to it.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Kind: Sendable, Hashable {
            case sqlite(Int32)
            case notInitialized
            case alreadyInitialized
            case corrupt
            case schemaTooNew
            case notFound
            case invalidOperation
            case insecure
            case quotaExceeded
            case fileSystem
        }

        fileprivate let kind: Kind

        /// SQLite returned an error result code.
        public static func sqlite(_ code: Int32) -> Code { Code(kind: .sqlite(code)) }
        /// The data directory has no BranchSync database.
        public static let notInitialized = Code(kind: .notInitialized)
        /// `init` was run on a directory that already has a database.
        public static let alreadyInitialized = Code(kind: .alreadyInitialized)
        /// Stored bytes did not decode.
        public static let corrupt = Code(kind: .corrupt)
        /// The database was written by a newer BranchSync.
        public static let schemaTooNew = Code(kind: .schemaTooNew)

        /// The record (or conflict, or blob) asked for does not exist.
        public static let notFound = Code(kind: .notFound)
        /// The operation does not apply to the record in its current state (e.g. updating a deleted record).
        public static let invalidOperation = Code(kind: .invalidOperation)
        /// Files are open to other users.
        public static let insecure = Code(kind: .insecure)
        /// A peer reached a quota (e.g. its quarantine rows at the hub); nothing of the operation was stored.
        public static let quotaExceeded = Code(kind: .quotaExceeded)
        /// A file outside the database (a backup, an exported list) could not be created, read or written.
        public static let fileSystem = Code(kind: .fileSystem)

        /// The SQLite primary result code, if this is an SQLite error.
        public var sqliteCode: Int32? {
            if case .sqlite(let code) = kind { return code }
            return nil
        }

        public var description: String {
            switch kind {
            case .sqlite(let code): return "sqlite(\(code))"
            case .notInitialized: return "notInitialized"
            case .alreadyInitialized: return "alreadyInitialized"
            case .corrupt: return "corrupt"
            case .schemaTooNew: return "schemaTooNew"
            case .notFound: return "notFound"
            case .invalidOperation: return "invalidOperation"
            case .insecure: return "insecure"
            case .quotaExceeded: return "quotaExceeded"
            case .fileSystem: return "fileSystem"
            }
        }
    }

    /// What kind of failure.
    public var code: Code
    /// An operator-readable message.
    public var message: String
    /// The SQL statement concerned, if any.
    public var sql: String?

    public init(code: Code, message: String, sql: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    /// SQLite's primary result codes that mean the file system refused (not a bug in a statement): what to check.
    static let fileSystemAdvice: [Int32: String] = [
        8: "it is read-only for this user, or on a read-only file system; check the data directory's owner and mount",
        10: "an I/O error occurred; check the disk and the file system",
        14: "it cannot be opened; check that the data directory exists and is writable",
        23: "access was denied; check the data directory's permissions",
    ]

    /// Whether the disk (or its quota) is full.
    public var isDiskFull: Bool { code.sqliteCode.map { $0 & 0xFF == 13 } ?? false }

    public var description: String {
        if isDiskFull { return "the disk is full (\(message)); free space in the data directory and retry" }
        if let primary = code.sqliteCode.map({ $0 & 0xFF }), let advice = Self.fileSystemAdvice[primary] {
            return "the database file could not be written: \(advice) (\(message))"
        }
        if let sql { return "\(message) (SQLite \(code), in: \(sql))" }
        return message
    }
}
