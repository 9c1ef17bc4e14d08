import BranchSyncCore
import Foundation
import Glibc

/// A node's database: records, change log, conflicts, audit trail and attachments, in one SQLite file.
///
/// Every local write is one transaction holding the record, its change-log position and its audit row.
/// Not `Sendable`: use a store from one thread at a time (open one per process or per serial queue).
public final class NodeStore {
    /// The database file's name inside the data directory.
    public static let databaseFileName = "branchsync.sqlite"

    /// The data directory.
    public let directory: String
    /// This node's identity.
    public let identity: NodeIdentity
    /// Who the audit trail names for writes through this store.
    public var actor: AuditActor
    /// The wall clock, milliseconds since the Unix epoch (tests set a wrong one).
    public var wallClock: @Sendable () -> UInt64 = Timestamp.nowMilliseconds
    let db: DatabaseConnection
    /// Called between the statements of a local write, for tests that interrupt writes; see ``FaultPoint``.
    var faultInjector: ((FaultPoint) throws -> Void)?
    private let crashPoint: FaultPoint?
    /// A place where this connection's first write fails as a full disk would (tests of the daemons, through
    /// `BRANCHSYNC_TEST_FAIL_ONCE_AT`).
    private var failOncePoint: FaultPoint?
    /// Hub: the history epoch this store's writes belong to, started with its first log position (Protocol.md
    /// §8.2). `nil` until then, so every process that writes after a restore starts an epoch the old history lacks.
    var historyEpoch: [UInt8]?

    private init(directory: String, db: DatabaseConnection, actor: AuditActor) throws {
        self.directory = directory
        self.db = db
        self.actor = actor
        let meta = try Self.readMeta(db)
        guard let siteText = meta["site"], let roleText = meta["role"], let role = NodeRole(rawValue: roleText) else {
            throw StorageError(
                code: .corrupt, message: "the database in \(directory) has no node identity; re-run init")
        }
        let site: SiteID
        do { site = try SiteID(siteText) } catch {
            throw StorageError(code: .corrupt, message: "the stored site id is invalid: \(error.message)")
        }
        identity = NodeIdentity(site: site, role: role, hubAddress: meta["hub"])
        let environment = ProcessInfo.processInfo.environment
        crashPoint = environment["BRANCHSYNC_TEST_CRASH_AT"].flatMap(FaultPoint.init(rawValue:))
        failOncePoint = environment["BRANCHSYNC_TEST_FAIL_ONCE_AT"].flatMap(FaultPoint.init(rawValue:))
    }

    /// The path of the database file in `directory`.
    public static func databasePath(in directory: String) -> String {
        (directory as NSString).appendingPathComponent(databaseFileName)
    }

    /// Creates the data directory and a new node database in it.
    /// - Throws: ``StorageError`` `.alreadyInitialized` if the directory already holds a database.
    public static func initialize(directory: String, identity: NodeIdentity, actor: AuditActor) throws -> NodeStore {
        let path = databasePath(in: directory)
        if FileManager.default.fileExists(atPath: path) {
            throw StorageError(
                code: .alreadyInitialized,
                message: "\(directory) already holds a BranchSync node; use another --data directory")
        }
        do {
            // The database holds the branch's hub secret and every attachment: owner only (0700, files 0600).
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
        } catch {
            throw StorageError(
                code: .notInitialized,
                message: "cannot create data directory \(directory): \(error.localizedDescription)")
        }
        // SQLite gives the -wal and -shm files the database file's mode.
        let fd = Glibc.open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StorageError(
                code: .notInitialized, message: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        Glibc.close(fd)
        let db = try DatabaseConnection(path: path, create: true)
        try SchemaMigrator.migrate(db)
        try db.write {
            let insert = try db.statement("INSERT INTO meta(key, value) VALUES (?1, ?2)")
            var entries: [(String, String)] = [
                ("site", identity.site.rawValue), ("role", identity.role.rawValue), ("counter", "0"),
                ("hlc", "0.0"), ("last_seq", "0"), ("created_at", Timestamp.nowISO8601()),
            ]
            if let hub = identity.hubAddress { entries.append(("hub", hub)) }
            for (key, value) in entries { try insert.run([.text(key), .text(value)]) }
            try insertAudit(
                db, site: identity.site, at: Timestamp.nowISO8601(), actor: actor, action: "init", collection: nil,
                recordID: nil,
                detail: "site \(identity.site) as \(identity.role.rawValue)"
                    + (identity.hubAddress.map { ", hub \($0)" } ?? ""))
        }
        let store = try NodeStore(directory: directory, db: db, actor: actor)
        if identity.role == .hub { try store.preparePositionKey() }
        return store
    }

    /// Refuses a data directory other users can read or enter: it holds the node's secrets and attachments.
    /// - Throws: ``StorageError`` `.insecure`, saying how to fix it.
    public static func checkPrivate(directory: String) throws {
        var info = stat()
        guard stat(directory, &info) == 0 else { return }
        let mode = info.st_mode & 0o777
        guard mode & 0o007 != 0 else { return }
        throw StorageError(
            code: .insecure,
            message: "the data directory \(directory) is open to other users (mode \(String(mode, radix: 8))); it "
                + "holds this node's secret and every attachment. Run: chmod 700 \(directory)")
    }

    /// Opens the node database in `directory`, migrating it to the current schema.
    /// - Parameter daemonRunning: a `branchsync run` holds the node (this is a command beside it). That daemon may be
    ///   an older build, whose writes rely on the schema it started with: a migration is then refused, and left to the
    ///   new build's daemon when it starts.
    /// - Throws: ``StorageError`` `.notInitialized` when there is none; `.invalidOperation` when a migration is due
    ///   while a daemon runs.
    public static func open(directory: String, actor: AuditActor, daemonRunning: Bool = false) throws -> NodeStore {
        let path = databasePath(in: directory)
        guard FileManager.default.fileExists(atPath: path) else {
            throw StorageError(
                code: .notInitialized,
                message: "no BranchSync node in \(directory); run `branchsync init --site ID --role hub|branch` first, "
                    + "or point --data (or BRANCHSYNC_DATA) at the node's directory")
        }
        let db = try DatabaseConnection(path: path, create: false)
        if daemonRunning, let pending = try SchemaMigrator.pending(db).first {
            throw StorageError(
                code: .invalidOperation,
                message:
                    "the database of \(directory) needs migration \(pending) for this build, and a `branchsync run` "
                    + "is using it: a daemon of this build started just now is migrating it (wait, then run this "
                    + "again); one of an older build relies on the schema it started with, so restart the daemon "
                    + "(systemctl restart branchsync-hub or branchsync-branch) and the new build migrates the database")
        }
        try SchemaMigrator.migrate(db)
        return try NodeStore(directory: directory, db: db, actor: actor)
    }

    /// Moves everything in the write-ahead log into the database file (SQLite's `wal_checkpoint(TRUNCATE)`), so the
    /// file alone holds every committed write; for copies of a stopped node.
    public func checkpoint() throws {
        try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Whether a statement is still running (tests assert this is false after each operation).
    public var hasActiveStatements: Bool { db.hasActiveStatements }

    static func readMeta(_ db: DatabaseConnection) throws -> [String: String] {
        var meta: [String: String] = [:]
        try db.statement("SELECT key, value FROM meta").forEachRow { meta[$0.text(0)] = $0.text(1) }
        return meta
    }

    /// Runs `body` with a writer in one transaction: all its writes commit together or not at all.
    public func batch<T>(_ body: (LocalWriter) throws -> T) throws -> T {
        try journaled { try body(LocalWriter(journal: $0)) }
    }

    /// Runs `body` with the node's journal in one write transaction, saving the counter, clock and log head with it.
    func journaled<T>(_ body: (Journal) throws -> T) throws -> T {
        var startedEpoch: [UInt8]?
        var head: Int64 = 0
        var written: (entries: [LogEntry], after: Int64)?
        let outermost = db.nextWriteIsOutermost
        journalDepth += 1
        if journalDepth > 1 { nestedWriteSeen = true }
        defer {
            journalDepth -= 1
            if journalDepth == 0 { nestedWriteSeen = false }
        }
        let result = try db.write {
            let journal = try Journal(store: self)
            let result = try body(journal)
            try journal.commit()
            startedEpoch = journal.startedEpoch
            head = journal.lastSeq
            written = journal.written.map { ($0, journal.startHead) }
            return result
        }
        if let startedEpoch { historyEpoch = startedEpoch }
        logHeadWrittenHere = max(logHeadWrittenHere, head)
        // Only a whole outermost write is handed on. A write inside another (journaled or not) may still roll back
        // with it, and one with a journal inside has entries the outer journal's do not follow: the window reads
        // SQLite instead.
        if logFeed != nil && journalDepth == 1 {
            if nestedWriteSeen || !outermost {
                logFeed?.forget()
            } else if let written {
                logFeed?.append(written.entries, after: written.after)
            }
        }
        if !db.isInTransaction { checkpointAfterWipe() }
        return result
    }

    /// Whether a committed (or group-pending) write destroyed a record since the log was last truncated.
    var wipedSinceCheckpoint = false

    /// After a destruction commits, moves the log into the database file and truncates it, so no old page holding
    /// the destroyed values stays behind in the write-ahead log (the database file's freed space is zeroed by
    /// `secure_delete`). A reader holding the log open blocks the truncation (it does not wait): it is tried again
    /// after the next commit of this connection.
    func checkpointAfterWipe() {
        guard wipedSinceCheckpoint else { return }
        if db.truncateLogIfIdle() { wipedSinceCheckpoint = false }
    }

    /// Leaves the log's checkpoints to a background thread (``checkpointPassively()``), for the long-running connections of a
    /// daemon's sessions: their commits stay short. They still checkpoint themselves past about 40 MB of log, in case
    /// the background thread stalls.
    public func deferCheckpoints() throws {
        try db.deferCheckpoints(untilLogPages: 10_000)
    }

    /// Copies the log into the database file as far as readers allow, without blocking anyone (a daemon's
    /// background checkpoint; ``checkpoint()`` moves everything, for copies of a stopped node).
    /// - Returns: the pages in the log, and how many of them are now in the database file.
    @discardableResult
    public func checkpointPassively() throws -> (logPages: Int, copiedPages: Int) {
        try db.checkpointPassively()
    }

    /// Starts a group commit: the writes until ``commitGroup()`` (each atomic on its own) commit together. The hub's
    /// session loop wraps each turn in one, so the batches of many branches cost one commit; it holds back everything
    /// it would send in the turn (acknowledgements above all) until the commit returned.
    public func beginGroup() {
        db.beginGroup()
        groupAppliedIncoming = false
    }

    /// Commits the group's writes.
    /// - Returns: whether the group wrote anything.
    /// - Throws: when nothing of the group was stored (the commit failed, or SQLite rolled it back earlier); this
    ///   connection's cached positions are reset to what is stored.
    @discardableResult
    public func commitGroup() throws -> Bool {
        do {
            if groupAppliedIncoming { try injectFault(.beforeGroupCommit) }
            let wrote = try db.commitGroup()
            checkpointAfterWipe()
            return wrote
        } catch {
            db.rollbackGroup()
            historyEpoch = nil
            logHeadWrittenHere = (try? lastSeq()) ?? 0
            logFeed?.forget()
            throw error
        }
    }

    /// How many ``journaled(_:)`` writes are open on this connection (more than one: a write inside another).
    private var journalDepth = 0
    /// Whether the outermost open write had a write inside it.
    private var nestedWriteSeen = false

    /// The entries this connection wrote for a ``RecentLog`` to take; `nil` until one asks.
    var logFeed: LogFeed?

    /// The log entries this connection wrote after `cursor`, for a ``RecentLog`` that holds the log up to `cursor`:
    /// `nil` when this connection cannot tell (it was not keeping them yet, another process wrote between, a group
    /// commit failed), and the caller reads them from SQLite. The first call starts keeping them.
    func takeWrittenEntries(after cursor: Int64) -> [LogEntry]? {
        guard logFeed != nil else {
            logFeed = LogFeed()
            return nil
        }
        return logFeed?.take(after: cursor)
    }

    /// Whether the open group applied a peer's states (a test may stop the process right before such a commit).
    var groupAppliedIncoming = false

    /// The log head as of this connection's last write (0 before any): a ``RecentLog`` behind it reads the new
    /// entries, whatever wrote them (an apply, a compensating write, a re-admission).
    public private(set) var logHeadWrittenHere: Int64 = 0

    /// The metadata key present while a restored hub regains what it lost (DESIGN.md §12).
    public static let recoveringKey = "recovering_since"

    func injectFault(_ point: FaultPoint) throws {
        if crashPoint == point {
            kill(getpid(), SIGKILL)
        }
        if failOncePoint == point {
            failOncePoint = nil
            throw StorageError(
                code: .sqlite(13),  // SQLITE_FULL
                message: "database or disk is full (injected at \(point.rawValue) by BRANCHSYNC_TEST_FAIL_ONCE_AT)")
        }
        try faultInjector?(point)
    }
}

/// Places inside a write where tests may interrupt it.
enum FaultPoint: String, Sendable {
    /// After the record row is written, before the audit row.
    case afterRecordRow = "after-record-row"
    /// After the audit row, before the node's counter and clock are saved.
    case beforeMetaSave = "before-meta-save"
    /// Before the commit of a group (``NodeStore/beginGroup()``) that applied a peer's states.
    case beforeGroupCommit = "before-group-commit"
}
