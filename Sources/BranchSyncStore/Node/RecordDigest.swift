import BranchSyncCore
import BranchSyncCrypto

/// The per-record summary that verify compares (DESIGN.md §13, Protocol.md §9.5): the first 8 bytes of the SHA-256
/// of the record's canonical state, and the record's bucket, the last byte of its id.
enum RecordDigest {
    /// The digest of a canonical state, as the signed 64-bit integer SQLite stores.
    static func digest(of encoded: [UInt8]) -> Int64 {
        let hash = SHA256.digest(encoded)
        var value: UInt64 = 0
        for byte in hash.prefix(8) { value = value << 8 | UInt64(byte) }
        return Int64(bitPattern: value)
    }

    /// The level-1 bucket of a record: the last byte of its id.
    static func bucket(of id: RecordID) -> Int64 {
        Int64(id.bytes.last ?? 0)
    }

    /// Fills in digests and buckets of records stored before they existed (migration 003), and gives the node an
    /// incarnation.
    static func backfill(_ db: DatabaseConnection) throws {
        let rows = try db.statement("SELECT id, state FROM records").rows { ($0.text(0), $0.blob(1)) }
        let update = try db.statement("UPDATE records SET digest = ?2, bucket = ?3 WHERE id = ?1")
        for (id, state) in rows {
            let bucket = (try? RecordID(id)).map(bucket(of:)) ?? 0
            try update.run([.text(id), .integer(digest(of: state)), .integer(bucket)])
        }
        try db.statement("INSERT OR IGNORE INTO meta(key, value) VALUES ('incarnation', ?1)")
            .run([.text(hex(try SecureRandom.bytes(16)))])
    }
}
