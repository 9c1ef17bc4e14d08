import CSQLite
import Foundation

let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// Waits for another connection's write lock: 0.1 ms steps at first, then 1 ms, then 5 ms, about 9 s in all.
/// SQLite's own busy timeout sleeps up to 100 ms per step, which turns short lock waits into long stalls.
private func waitForLock(_ context: UnsafeMutableRawPointer?, _ attempts: Int32) -> Int32 {
    switch attempts {
    case ..<20: usleep(100)
    case ..<120: usleep(1_000)
    case ..<1_920: usleep(5_000)
    default: return 0
    }
    return 1
}

/// One SQLite connection with a statement cache and closure-scoped transactions.
///
/// Not `Sendable`: a connection and its statements belong to one thread (or one serial queue) at a time.
public final class DatabaseConnection {
    /// SQLite's process-wide settings, made once before the first connection opens: no memory statistics (a mutex
    /// around every allocation SQLite makes; without it a push ran 5–8 % faster, BENCHMARKS.md).
    private static let configured: Int32 = branchsync_sqlite_disable_memory_statistics()

    /// The bytes SQLite counts as allocated: 0 while its memory statistics are off.
    static var memoryCountedBySQLite: Int64 { sqlite3_memory_used() }

    let handle: OpaquePointer
    private var cache: [String: Statement] = [:]
    private var transactionDepth = 0
    /// Facts read or written in the open transaction, kept until any transaction or savepoint begins or ends
    /// (``execute(_:)`` empties it), so nothing another connection or a rollback changed is ever read from here.
    /// ``AuditTrail``, the only writer of audit rows, keeps each site's last entry in it.
    var transactionFacts = TransactionFacts()
    /// The group transaction (``beginGroup()``): writes until ``commitGroup()`` share one commit.
    private var group = GroupState.none

    private enum GroupState {
        case none
        /// Asked for; `BEGIN IMMEDIATE` runs at the first write (a group that only reads takes no write lock).
        case pending
        /// Open: each write is a savepoint inside it.
        case open
        /// SQLite rolled the whole transaction back (a full disk, an I/O error): nothing of it commits.
        case broken(StorageError)
    }

    /// Opens (or creates) the database file at `path` in WAL mode with a busy handler, so a CLI and a daemon (or
    /// several sessions) writing the same file wait for each other, about 9 seconds at most, instead of failing.
    /// - Throws: ``StorageError`` if the file cannot be opened.
    public init(path: String, create: Bool) throws(StorageError) {
        _ = Self.configured
        var db: OpaquePointer?
        var flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
        if create { flags |= SQLITE_OPEN_CREATE }
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw StorageError(code: .sqlite(rc), message: "cannot open database \(path): \(message)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_handler(db, waitForLock, nil)
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=NORMAL")
        try execute("PRAGMA foreign_keys=ON")
        // Deleted content is overwritten with zeros: a destroyed record's values do not survive in free pages.
        try execute("PRAGMA secure_delete=ON")
    }

    /// Moves the whole log into the database file and truncates it, if no reader needs it now: never waits (a long
    /// reader, such as a backup being copied, would otherwise stall this connection's writes for seconds).
    /// - Returns: whether the log was truncated.
    public func truncateLogIfIdle() -> Bool {
        sqlite3_busy_handler(handle, nil, nil)
        defer { sqlite3_busy_handler(handle, waitForLock, nil) }
        var logFrames: Int32 = 0
        var copied: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_TRUNCATE, &logFrames, &copied)
        return rc == SQLITE_OK
    }

    /// Refuses to run a statement when SQLite ended this connection's transaction by itself (`SQLITE_FULL`,
    /// `SQLITE_IOERR`, …): the statement would run on its own and commit at once, outside the transaction whose
    /// earlier writes are gone.
    func requireTransactionStillOpen() throws(StorageError) {
        guard transactionDepth > 0, sqlite3_get_autocommit(handle) != 0 else { return }
        throw StorageError(
            code: .sqlite(SQLITE_ABORT),
            message: "SQLite rolled this transaction back after an earlier error (a full disk, an I/O error): none of "
                + "its writes is stored; free space or fix the disk, then run it again")
    }

    /// Whether a transaction (or a group) is open on this connection.
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Leaves checkpoints to a background thread (``checkpointPassively()`` on another connection): this connection's
    /// commits checkpoint only when the log has grown past `pages` (about 4 KiB each), so a session's commit does not
    /// pay for copying the log and syncing the database file, unless the background thread falls far behind.
    public func deferCheckpoints(untilLogPages pages: Int) throws(StorageError) {
        try execute("PRAGMA wal_autocheckpoint=\(max(1, pages))")
    }

    /// Copies what the log holds into the database file as far as readers allow, without waiting for or blocking
    /// anyone (`SQLITE_CHECKPOINT_PASSIVE`).
    /// - Returns: the pages in the log, and how many of them are now in the database file.
    @discardableResult
    public func checkpointPassively() throws(StorageError) -> (logPages: Int, copiedPages: Int) {
        var logPages: Int32 = 0
        var copiedPages: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &logPages, &copiedPages)
        guard rc == SQLITE_OK || rc == SQLITE_BUSY else {
            throw StorageError(code: .sqlite(rc), message: "checkpoint: \(String(cString: sqlite3_errmsg(handle)))")
        }
        return (Int(logPages), Int(copiedPages))
    }

    /// Rows changed by the last `INSERT`, `UPDATE` or `DELETE` on this connection.
    public var changes: Int64 { Int64(sqlite3_changes(handle)) }

    /// Runs SQL that returns no rows (may hold several statements).
    /// - Throws: ``StorageError`` with SQLite's message.
    public func execute(_ sql: String) throws(StorageError) {
        if TransactionFacts.endsTheirLife(sql) { transactionFacts = TransactionFacts() }
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(errorMessage)
            throw StorageError(code: .sqlite(rc), message: message, sql: sql)
        }
    }

    /// A prepared statement for `sql`, cached for reuse and reset for binding.
    /// - Throws: ``StorageError`` if the SQL does not compile.
    public func statement(_ sql: String) throws(StorageError) -> Statement {
        if let cached = cache[sql] {
            cached.reset()
            return cached
        }
        let statement = try Statement(connection: self, sql: sql)
        cache[sql] = statement
        return statement
    }

    /// Forgets a cached statement (after it failed, so a broken statement is not reused).
    func evict(_ sql: String) {
        cache[sql] = nil
    }

    /// Runs `body` in a write transaction (`BEGIN IMMEDIATE`): commits when it returns, rolls back when it throws
    /// and rethrows that first error. Nested calls use savepoints, and so do writes inside a group
    /// (``beginGroup()``): those commit with the group.
    public func write<T>(_ body: () throws -> T) throws -> T {
        switch group {
        case .none, .open: break
        case .pending:
            if transactionDepth == 0 {
                try execute("BEGIN IMMEDIATE")
                group = .open
                transactionDepth = 1
            }
        case .broken(let error):
            throw StorageError(
                code: error.code, message: "the transaction these writes shared was rolled back: \(error.message)")
        }
        let depth = transactionDepth
        try execute(depth == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT sp\(depth)")
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        do {
            let result = try body()
            try execute(depth == 0 ? "COMMIT" : "RELEASE sp\(depth)")
            return result
        } catch {
            if depth == 0 {
                try? execute("ROLLBACK")
            } else {
                try? execute("ROLLBACK TO sp\(depth)")
                try? execute("RELEASE sp\(depth)")
                if case .open = group, sqlite3_get_autocommit(handle) != 0 {
                    // SQLite ended the group's transaction itself (SQLITE_FULL, SQLITE_IOERR): the writes before this
                    // one are gone too, and no later write may run outside it.
                    group = .broken(
                        error as? StorageError
                            ?? StorageError(code: .sqlite(SQLITE_ABORT), message: "\(error)"))
                }
            }
            throw error
        }
    }

    /// Whether a ``write(_:)`` started now would be a transaction of its own or a direct part of the group: not
    /// inside another write, whose rollback would take it along.
    var nextWriteIsOutermost: Bool {
        if transactionDepth == 0 { return true }
        if case .open = group { return transactionDepth == 1 }
        return false
    }

    /// Starts a group transaction: the writes made until ``commitGroup()`` (each still atomic on its own, as a
    /// savepoint) commit together, so many small writes cost one commit. Nothing is locked until the first write.
    public func beginGroup() {
        guard transactionDepth == 0, case .none = group else { return }
        group = .pending
    }

    /// Commits the group's writes. When the commit fails, or SQLite rolled the group back earlier, none of them is
    /// stored and this throws.
    /// - Returns: whether the group wrote anything.
    @discardableResult
    public func commitGroup() throws(StorageError) -> Bool {
        switch group {
        case .none, .pending:
            group = .none
            return false
        case .open:
            group = .none
            transactionDepth = 0
            do { try execute("COMMIT") } catch {
                try? execute("ROLLBACK")
                throw error
            }
            return true
        case .broken(let error):
            rollbackGroup()
            throw error
        }
    }

    /// Rolls the group's writes back (its result must not be stored).
    public func rollbackGroup() {
        let state = group
        group = .none
        if case .open = state {
            transactionDepth = 0
            try? execute("ROLLBACK")
        } else if case .broken = state {
            transactionDepth = 0
            if sqlite3_get_autocommit(handle) == 0 { try? execute("ROLLBACK") }
        }
    }

    /// Runs `body` in a read transaction, so every query inside sees one snapshot.
    public func read<T>(_ body: () throws -> T) throws -> T {
        if transactionDepth > 0 { return try body() }
        try execute("BEGIN DEFERRED")
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Whether any statement of this connection is still mid-step (used by tests on close).
    public var hasActiveStatements: Bool {
        var statement = sqlite3_next_stmt(handle, nil)
        while let current = statement {
            if sqlite3_stmt_busy(current) != 0 { return true }
            statement = sqlite3_next_stmt(handle, current)
        }
        return false
    }

    func error(_ rc: Int32, sql: String) -> StorageError {
        StorageError(code: .sqlite(rc), message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }
}
