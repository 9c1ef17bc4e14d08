/// What a write transaction may remember instead of reading it again, valid until the transaction or one of its
/// savepoints begins or ends (a commit lets other connections write; a rollback undoes what was remembered).
struct TransactionFacts {
    /// Each site's last audit entry (its number and hash), as this transaction wrote it.
    var auditChainHeads: [String: (seq: Int64, hash: String)] = [:]

    /// Whether `sql` begins, ends or rolls back a transaction or savepoint.
    static func endsTheirLife(_ sql: String) -> Bool {
        var utf8 = sql.utf8.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") }
        var keyword: [UInt8] = []
        while let byte = utf8.first, keyword.count < 9, (byte | 0x20) >= UInt8(ascii: "a"),
            (byte | 0x20) <= UInt8(ascii: "z")
        {
            keyword.append(byte | 0x20)
            utf8 = utf8.dropFirst()
        }
        return transactionKeywords.contains(keyword)
    }

    private static let transactionKeywords: Set<[UInt8]> = Set(
        ["begin", "commit", "end", "rollback", "savepoint", "release"].map { Array($0.utf8) })
}
