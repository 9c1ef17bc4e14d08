import BranchSyncCore
import BranchSyncCrypto

/// Each site's audit trail as a hash chain (table `audit`), its shipping to the hub in audit blocks, and its
/// verification. The only writer of audit rows.
///
/// A site numbers its entries 1, 2, 3, … and each entry carries the SHA-256 of the one before, so editing or
/// deleting a row of a copied database breaks the chain where it happened. Before a branch sends its changes (at the
/// start of a session and whenever it is woken), it packs its entries not yet shipped into audit blocks (records of
/// class `secret`: only the site and the hub hold them), which replicate like any other write; the hub stores their
/// entries under the site's name. The hub's own trail stays where it is, at the hub.
enum AuditTrail {
    /// The previous hash of a site's first entry.
    static let genesis = String(repeating: "0", count: 64)
    /// The most entries in one block (a block also stops before ``AuditLine/maximumBlockCharacters``).
    static let entriesPerBlock = 1_000

    /// The hash an entry must carry.
    static func hash(of line: AuditLine, site: String) -> String {
        SHA256.hexDigest(Array(line.hashInput(site: site).utf8))
    }

    /// Appends an entry of this site's own trail, chained to its last one.
    static func append(
        _ db: DatabaseConnection, site: SiteID, at: String, actor: String, origin: String, action: String,
        collection: String?, recordID: String?, detail: String
    ) throws {
        // Inside a transaction, the entry this transaction appended last is the chain's head: no other connection
        // writes meanwhile, and only this type writes audit rows.
        var last = db.isInTransaction ? db.transactionFacts.auditChainHeads[site.rawValue] : nil
        if last == nil {
            last = try db.statement("SELECT seq, hash FROM audit WHERE site = ?1 ORDER BY seq DESC, hash LIMIT 1")
                .firstRow([.text(site.rawValue)]) { (seq: $0.int(0), hash: $0.text(1)) }
        }
        var line = AuditLine(
            seq: (last?.seq ?? 0) + 1, at: at, actor: actor, origin: origin, action: action,
            collection: collection ?? "", recordID: recordID ?? "", detail: detail,
            previousHash: last?.hash ?? genesis, hash: "")
        line.hash = hash(of: line, site: site.rawValue)
        try insert(db, line, site: site.rawValue)
        if db.isInTransaction { db.transactionFacts.auditChainHeads[site.rawValue] = (line.seq, line.hash) }
    }

    /// Stores the entries of an audit block kept in the change log: at the hub, a branch's trail; at a site, its
    /// own entries coming back after a restore from an older copy. An entry already held is skipped.
    ///
    /// The hub admitted the block only if its entries decode (rule A9). A block that does not (at a branch, which
    /// does not judge its hub's states by A9) is kept as a record but adds no entry: it must not stop the stream.
    static func receive(_ db: DatabaseConnection, block: RecordState) throws {
        guard let text = block["entries"], let lines = try? AuditLine.decodeBlock(text) else { return }
        for line in lines { try insert(db, line, site: block.owner.rawValue, received: true) }
        // Entries of any number: the site's head is read again at its next append.
        db.transactionFacts.auditChainHeads[block.owner.rawValue] = nil
    }

    private static func insert(_ db: DatabaseConnection, _ line: AuditLine, site: String, received: Bool = false)
        throws
    {
        try db.statement(
            """
            INSERT OR IGNORE INTO audit(at, actor, origin, action, collection, record_id, detail, site, seq, prev_hash,
                hash, received)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
            """
        ).run([
            .text(line.at), .text(line.actor), .text(line.origin), .text(line.action),
            .optionalText(line.collection.isEmpty ? nil : line.collection),
            .optionalText(line.recordID.isEmpty ? nil : line.recordID), .text(line.detail), .text(site),
            .integer(line.seq), .text(line.previousHash), .text(line.hash), .integer(received ? 1 : 0),
        ])
    }

    /// The `meta` key of the last entry of this site's trail already packed into a block.
    private static let shippedKey = "audit_shipped"
    /// The `meta` key of the row of `audit` up to which this site's own entries were packed. Rows, not entry numbers:
    /// a site restored from an older copy writes entries under numbers its lost entries had, and takes those back from
    /// the hub later.
    private static let shippedRowKey = "audit_shipped_row"

    private static func number(_ store: NodeStore, _ key: String) throws -> Int64 {
        Int64(try store.metadata(key) ?? "0") ?? 0
    }

    /// This site's own entries (`?1`) after the last shipped row (`?2`), found from the row number: `+site` keeps
    /// SQLite off `audit_chain`, whose `site` prefix would walk every entry the site ever wrote, once per session turn.
    private static let unshippedCondition = "id > ?2 AND +site = ?1 AND received = 0"
    static let hasUnshippedSQL = "SELECT EXISTS (SELECT 1 FROM audit WHERE \(unshippedCondition))"
    static let unshippedSQL = "SELECT \(lineColumns), id FROM audit WHERE \(unshippedCondition) ORDER BY id"

    /// Whether this site has entries of its own not packed into a block yet.
    static func hasUnshipped(_ store: NodeStore) throws -> Bool {
        try store.db.statement(hasUnshippedSQL)
            .firstRow([.text(store.identity.site.rawValue), .integer(try number(store, shippedRowKey))]) {
                $0.int(0) != 0
            } ?? false
    }

    /// The columns ``line(_:)`` reads, in its order.
    private static let lineColumns = "seq, at, actor, origin, action, collection, record_id, detail, prev_hash, hash"

    /// The entry of a row selected with ``lineColumns`` first.
    private static func line(_ row: borrowing Row) -> AuditLine {
        AuditLine(
            seq: row.int(0), at: row.text(1), actor: row.text(2), origin: row.text(3), action: row.text(4),
            collection: row.optionalText(5) ?? "", recordID: row.optionalText(6) ?? "", detail: row.text(7),
            previousHash: row.text(8), hash: row.text(9))
    }

    /// Packs this site's own entries not yet shipped (never those it received back) into audit blocks, in the order
    /// they were written, saved through `journal` in its transaction.
    static func ship(_ journal: Journal) throws {
        let store = journal.store
        var lastRow = try number(store, shippedRowKey)
        let lines = try store.db.statement(unshippedSQL).rows([.text(store.identity.site.rawValue), .integer(lastRow)])
        { row in
            lastRow = max(lastRow, row.int(10))
            return line(row)
        }
        guard !lines.isEmpty else { return }
        var block: [AuditLine] = []
        var characters = 0
        for line in lines {
            let encoded = line.encoded
            if !block.isEmpty
                && (block.count == entriesPerBlock || characters + encoded.count + 1 > AuditLine.maximumBlockCharacters)
            {
                try save(block, journal: journal)
                block = []
                characters = 0
            }
            block.append(line)
            characters += encoded.count + 1
        }
        try save(block, journal: journal)
        try store.setMetadata(shippedRowKey, String(lastRow))
        try store.setMetadata(shippedKey, String(max(try number(store, shippedKey), lines.map(\.seq).max() ?? 0)))
    }

    private static func save(_ lines: [AuditLine], journal: Journal) throws {
        guard let first = lines.first, let last = lines.last else { return }
        let store = journal.store
        let id = RecordID.version7(unixMilliseconds: journal.now, random: try SecureRandom.bytes(10))
        var state = RecordState(id: id, collection: .auditBlocks, owner: store.identity.site)
        state.applyLocalWrite(
            [
                "firstEntry": String(first.seq), "lastEntry": String(last.seq),
                "entries": lines.map(\.encoded).joined(separator: "\n"), RecordState.classField: "secret",
            ], stamp: try journal.nextStamp(for: nil))
        try journal.save(state, origin: store.identity.site.rawValue)
    }

    /// Migration 007: numbers and chains the entries a node wrote before the chain existed (all its own), then
    /// indexes the chains.
    static func chainExistingEntries(_ db: DatabaseConnection) throws {
        let site = try db.statement("SELECT value FROM meta WHERE key = 'site'").firstRow { $0.text(0) } ?? ""
        let rows = try db.statement(
            "SELECT id, at, actor, origin, action, collection, record_id, detail FROM audit ORDER BY id"
        ).rows { row in
            (
                row.int(0),
                AuditLine(
                    seq: 0, at: row.text(1), actor: row.text(2), origin: row.text(3), action: row.text(4),
                    collection: row.optionalText(5) ?? "", recordID: row.optionalText(6) ?? "", detail: row.text(7),
                    previousHash: "", hash: "")
            )
        }
        var previous = genesis
        let update = try db.statement("UPDATE audit SET site = ?2, seq = ?3, prev_hash = ?4, hash = ?5 WHERE id = ?1")
        for (index, (id, entry)) in rows.enumerated() {
            var line = entry
            line.seq = Int64(index + 1)
            line.previousHash = previous
            line.hash = hash(of: line, site: site)
            try update.run([.integer(id), .text(site), .integer(line.seq), .text(previous), .text(line.hash)])
            previous = line.hash
        }
        try db.execute("CREATE UNIQUE INDEX audit_chain ON audit(site, seq, hash)")
    }

    /// The first broken link of `site`'s chain as this node holds it, or `nil` when every entry from 1 on is there,
    /// in order, and each carries the hash of its content and of the entry before.
    ///
    /// A deleted tail leaves no gap, so the entries known to exist must all be there: for this node's own trail those
    /// it packed into blocks, for another site's those its blocks held here carry.
    static func firstBreak(_ store: NodeStore, site: String) throws -> AuditChainBreak? {
        let own = site == store.identity.site.rawValue
        var expectedSeq: Int64 = 1
        var previous = genesis
        var found: AuditChainBreak?
        try store.db.statement("SELECT \(lineColumns) FROM audit WHERE site = ?1 ORDER BY seq, hash").forEachRow(
            [.text(site)]
        ) { row in
            guard found == nil else { return }
            let line = line(row)
            if line.seq < expectedSeq {
                found = AuditChainBreak(
                    site: site, seq: line.seq,
                    problem: "entry \(line.seq) appears twice with different content (was the site restored from "
                        + "an older copy, or a row altered?)", isFork: true)
            } else if line.seq > expectedSeq {
                found = AuditChainBreak(
                    site: site, seq: expectedSeq,
                    problem: "entry \(expectedSeq)\(line.seq > expectedSeq &+ 1 ? " to \(line.seq &- 1)" : "") is "
                        + "missing (deleted?)")
            } else if line.previousHash != previous {
                found = AuditChainBreak(
                    site: site, seq: line.seq,
                    problem: "entry \(line.seq) does not follow entry \(line.seq - 1): the hash it carries of the "
                        + "entry before differs (entry \(line.seq - 1) altered or replaced?)")
            } else if hash(of: line, site: site) != line.hash {
                found = AuditChainBreak(
                    site: site, seq: line.seq, problem: "entry \(line.seq) does not match its hash (altered?)")
            }
            previous = line.hash
            expectedSeq = line.seq &+ 1
        }
        if found == nil, case let shipped = try own ? number(store, shippedKey) : lastShipped(store.db, by: site),
            shipped >= expectedSeq
        {
            found = AuditChainBreak(
                site: site, seq: expectedSeq,
                problem: "entry \(expectedSeq)\(shipped > expectedSeq ? " to \(shipped)" : "") is missing (deleted?); "
                    + (own ? "it was sent to the hub, which holds it" : "its audit block holds it"))
        }
        return found
    }
}

extension AuditTrail {
    /// The last entry of `site`'s trail that the audit blocks held here carry (0 without any).
    static func lastShipped(_ db: DatabaseConnection, by site: String) throws -> Int64 {
        var last: Int64 = 0
        try db.statement("SELECT state FROM records WHERE collection = 'auditBlocks' AND owner = ?1")
            .forEachRow([.text(site)]) { row in
                let block = try NodeStore.decodeState(row.blob(0))
                last = max(last, Int64(block["lastEntry"] ?? "") ?? 0)
            }
        return last
    }
}

/// Where a site's audit chain breaks.
public struct AuditChainBreak: Sendable, Hashable {
    public var site: String
    /// The sequence number of the first broken entry.
    public var seq: Int64
    public var problem: String
    /// Whether the break is a number used twice (the trace a site restored from an older copy leaves).
    public var isFork = false
}
