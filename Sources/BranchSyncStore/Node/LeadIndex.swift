import BranchSyncCore
import BranchSyncCrypto

/// The suspicious-customer leads among the live customers this node holds (table `leads`), and the only writer of
/// that table. A save of a customer refreshes that customer's leads in the save's transaction, from indexed columns:
/// a handful of index lookups per change, never a scan, so a lead is listed as soon as the change that makes it is
/// stored, here or when it arrives from another site.
enum LeadIndex {
    /// The column of `records` that holds `kind`'s value.
    static func column(_ kind: SuspicionKind) -> String {
        switch kind {
        case .phone: return "phone"
        case .bankAccount: return "bank_account"
        case .creditCode: return "credit_code"
        case .customerCode: return "code"
        }
    }

    /// The lead's id: derived from its kind, the shared value and both customer ids (in order), so every site that
    /// finds the lead names it alike. Shaped as a version 7 UUID, since the decision that clears it is a record with
    /// this id (Protocol.md §3.4).
    static func leadID(kind: SuspicionKind, value: String, first: RecordID, second: RecordID) throws -> RecordID {
        let (low, high) = first < second ? (first, second) : (second, first)
        let input = "branchsync lead\n\(kind.rawValue)\n\(value)\n\(low)\n\(high)"
        var bytes = Array(SHA256.digest(Array(input.utf8)).prefix(16))
        bytes[6] = 0x70 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        return try RecordID(bytes: bytes)
    }

    /// Brings the leads up to date after `customer` was stored: it leaves the groups of values it no longer has (all,
    /// when deleted) and joins the group of each value it has.
    ///
    /// The customers sharing one value form a star, not every pair: the oldest holder (the smallest id) is paired with
    /// each other holder. Every duplicate is named with the customer it duplicates, and a value a thousand customers
    /// share (a switchboard, a placeholder) makes 999 leads, not half a million. Joining or leaving costs a few index
    /// lookups; only a change of the oldest holder re-pairs its group.
    ///
    /// `wasHeld` is `false` when no row of the customer was stored before this save: it is then in no lead (a lead
    /// names only customers held here, and a removal takes the customer out of its leads, ``forget(_:_:at:)``), so
    /// its memberships are not looked up.
    static func refresh(_ db: DatabaseConnection, for customer: RecordState, wasHeld: Bool, at detectedAt: String)
        throws
    {
        let memberships = wasHeld ? try self.memberships(db, of: customer.id) : []
        // The common case, one statement: in no lead, and no other live customer shares any of its values.
        if memberships.isEmpty {
            guard !customer.isDeleted, try sharesAValue(db, customer) else { return }
        }
        for (kindName, value) in memberships {
            guard let kind = SuspicionKind(rawValue: kindName) else { continue }
            if customer.isDeleted || kind.value(of: customer) != value {
                try regroup(db, kind: kind, value: value, changed: customer.id, at: detectedAt)
            }
        }
        guard !customer.isDeleted else { return }
        for kind in SuspicionKind.allCases {
            guard let value = kind.value(of: customer),
                !memberships.contains(where: { $0.0 == kind.rawValue && $0.1 == value })
            else { continue }
            try regroup(db, kind: kind, value: value, changed: customer.id, at: detectedAt)
        }
    }

    /// What a customer's leads depend on: whether it is live, and its four values as `records` stores them.
    struct Facts: Equatable {
        var live: Bool
        var code: String?
        var phone: String?
        var bankAccount: String?
        var creditCode: String?
    }

    /// Takes a customer whose row was removed (purged, forgotten) out of every lead: its values stay nowhere here.
    static func forget(_ db: DatabaseConnection, _ customer: RecordID, at detectedAt: String) throws {
        for (kindName, value) in try memberships(db, of: customer) {
            guard let kind = SuspicionKind(rawValue: kindName) else { continue }
            try regroup(db, kind: kind, value: value, changed: customer, at: detectedAt)
        }
    }

    /// The (kind, value) groups `customer` is in a lead of, each once.
    private static func memberships(_ db: DatabaseConnection, of customer: RecordID) throws -> [(String, String)] {
        var memberships: [(String, String)] = []
        try db.statement(
            "SELECT kind, value FROM leads WHERE first_id = ?1 UNION ALL SELECT kind, value FROM leads WHERE second_id = ?1"
        ).forEachRow([.text(customer.description)]) { row in
            let membership = (row.text(0), row.text(1))
            if !memberships.contains(where: { $0 == membership }) { memberships.append(membership) }
        }
        return memberships
    }

    private static let sharesAValueSQL =
        "SELECT "
        + SuspicionKind.allCases.enumerated().map { index, kind in
            "EXISTS (SELECT 1 FROM records WHERE \(column(kind)) = ?\(index + 1) AND collection = 'customers' "
                + "AND deleted = 0 AND id <> ?5)"
        }.joined(separator: " OR ")

    /// Whether another live customer has one of `customer`'s values: one index probe per value, in one statement.
    private static func sharesAValue(_ db: DatabaseConnection, _ customer: RecordState) throws -> Bool {
        let values = SuspicionKind.allCases.map { $0.value(of: customer) }
        guard values.contains(where: { $0 != nil }) else { return false }
        return try db.statement(sharesAValueSQL).firstRow(
            values.map { SQLValue.optionalText($0) } + [.text(customer.id.description)]
        ) { $0.int(0) != 0 } ?? false
    }

    /// Re-pairs the group of customers sharing `value` after `changed` joined or left it.
    private static func regroup(
        _ db: DatabaseConnection, kind: SuspicionKind, value: String, changed: RecordID, at detectedAt: String
    ) throws {
        let oldestTwo = try db.statement("SELECT id \(holders(kind)) ORDER BY id LIMIT 2").rows([.text(value)]) {
            $0.text(0)
        }
        let pairedWith = try db.statement("SELECT first_id FROM leads WHERE kind = ?1 AND value = ?2 LIMIT 1")
            .firstRow([.text(kind.rawValue), .text(value)]) { $0.text(0) }
        guard oldestTwo.count == 2 else {
            // Fewer than two holders: no lead.
            if pairedWith != nil {
                try db.statement("DELETE FROM leads WHERE kind = ?1 AND value = ?2")
                    .run([.text(kind.rawValue), .text(value)])
            }
            return
        }
        let oldest = oldestTwo[0]
        guard pairedWith == oldest, let anchor = try? RecordID(oldest) else {
            // A new group, or its oldest holder changed: pair the oldest with every other holder.
            if pairedWith != nil {
                try db.statement("DELETE FROM leads WHERE kind = ?1 AND value = ?2")
                    .run([.text(kind.rawValue), .text(value)])
            }
            try pairAll(db, kind: kind, value: value, at: detectedAt)
            return
        }
        // The oldest holder stays: only `changed`'s own lead comes or goes.
        let stillHolds =
            try db.statement("SELECT 1 \(holders(kind)) AND id = ?2").firstRow(
                [.text(value), .text(changed.description)]
            ) { _ in true } ?? false
        if stillHolds {
            try insert(db, kind: kind, value: value, anchor, changed, at: detectedAt)
        } else {
            try db.statement("DELETE FROM leads WHERE kind = ?1 AND value = ?2 AND second_id = ?3")
                .run([.text(kind.rawValue), .text(value), .text(changed.description)])
        }
    }

    /// The live customers holding `kind`'s value `?1`, as the `FROM … WHERE …` of a query.
    private static func holders(_ kind: SuspicionKind) -> String {
        "FROM records WHERE \(column(kind)) = ?1 AND collection = 'customers' AND deleted = 0"
    }

    /// Pairs the oldest live holder of `value` with every other.
    private static func pairAll(_ db: DatabaseConnection, kind: SuspicionKind, value: String, at detectedAt: String)
        throws
    {
        let ids = try db.statement("SELECT id \(holders(kind)) ORDER BY id").rows([.text(value)]) { $0.text(0) }
            .compactMap { try? RecordID($0) }
        guard let anchor = ids.first else { return }
        for other in ids.dropFirst() { try insert(db, kind: kind, value: value, anchor, other, at: detectedAt) }
    }

    /// Re-pairs every group that has a lead naming a customer not live here (left behind by a removal under an
    /// earlier build; migration 015), from the indexes alone: nothing is decoded, and the other leads keep their
    /// dates.
    static func repairStale(_ db: DatabaseConnection) throws {
        func live(_ column: String) -> String {
            "EXISTS (SELECT 1 FROM records WHERE id = l.\(column) AND collection = 'customers' AND deleted = 0)"
        }
        let stale = try db.statement(
            "SELECT DISTINCT kind, value FROM leads l WHERE NOT \(live("first_id")) OR NOT \(live("second_id"))"
        ).rows { ($0.text(0), $0.text(1)) }
        let now = Timestamp.nowISO8601()
        for (kindName, value) in stale {
            try db.statement("DELETE FROM leads WHERE kind = ?1 AND value = ?2").run([.text(kindName), .text(value)])
            guard let kind = SuspicionKind(rawValue: kindName) else { continue }
            try pairAll(db, kind: kind, value: value, at: now)
        }
    }

    /// Recomputes every lead from the stored customers (migration 006, for nodes that held customers before leads
    /// existed).
    static func rebuild(_ db: DatabaseConnection) throws {
        let customers = try db.statement("SELECT state FROM records WHERE collection = 'customers'").rows {
            try NodeStore.decodeState($0.blob(0))
        }
        let update = try db.statement("UPDATE records SET credit_code = ?2 WHERE id = ?1")
        for customer in customers {
            try update.run([
                .text(customer.id.description), .optionalText(SuspicionKind.creditCode.value(of: customer)),
            ])
        }
        try db.statement("DELETE FROM leads").run()
        let now = Timestamp.nowISO8601()
        for kind in SuspicionKind.allCases {
            let shared = try db.statement(
                "SELECT DISTINCT \(column(kind)) FROM records WHERE \(column(kind)) IS NOT NULL "
                    + "AND collection = 'customers' AND deleted = 0"
            ).rows { $0.text(0) }
            for value in shared { try pairAll(db, kind: kind, value: value, at: now) }
        }
    }

    private static func insert(
        _ db: DatabaseConnection, kind: SuspicionKind, value: String, _ one: RecordID, _ other: RecordID,
        at detectedAt: String
    ) throws {
        let (first, second) = one < other ? (one, other) : (other, one)
        try db.statement(
            "INSERT OR IGNORE INTO leads(id, kind, value, first_id, second_id, detected_at) "
                + "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ).run([
            .text(try leadID(kind: kind, value: value, first: first, second: second).description), .text(kind.rawValue),
            .text(value), .text(first.description), .text(second.description), .text(detectedAt),
        ])
    }
}

extension LeadIndex.Facts {
    /// The facts of a state about to be stored, read the way the save fills the columns.
    init(of customer: RecordState) {
        self.init(
            live: !customer.isDeleted, code: SuspicionKind.customerCode.value(of: customer),
            phone: SuspicionKind.phone.value(of: customer), bankAccount: SuspicionKind.bankAccount.value(of: customer),
            creditCode: SuspicionKind.creditCode.value(of: customer))
    }
}
