import BranchSyncCore

extension NodeStore {
    /// The suspicious-customer leads among the customers this node holds, oldest first: the open ones, and with
    /// `includeCleared` also the cleared ones (including cleared leads that no longer hold here).
    public func suspiciousLeads(includeCleared: Bool = false) throws -> [SuspiciousLead] {
        try leads(includeCleared: includeCleared, only: nil)
    }

    /// One lead, open or cleared, or `nil` when this node knows no lead with that id.
    public func suspiciousLead(_ id: RecordID) throws -> SuspiciousLead? {
        try leads(includeCleared: true, only: id).first
    }

    /// Leads (all, or the one with id `only`), each with its two customers and any decision, decoded only for the
    /// leads returned.
    private func leads(includeCleared: Bool, only id: RecordID?) throws -> [SuspiciousLead] {
        let values: [SQLValue] = id.map { [.text($0.description)] } ?? []
        return try db.read {
            var conditions: [String] = []
            if !includeCleared { conditions.append("d.id IS NULL") }
            if id != nil { conditions.append("l.id = ?1") }
            var result = try db.statement(
                """
                SELECT l.id, l.kind, l.value, l.first_id, l.second_id, l.detected_at, d.state FROM leads l
                LEFT JOIN records d ON d.id = l.id AND d.collection = 'decisions' AND d.deleted = 0
                """ + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
                    + " ORDER BY l.detected_at, l.id"
            ).rows(values) { row -> (SuspiciousLead, [UInt8]?) in
                let lead = SuspiciousLead(
                    id: try RecordID(row.text(0)), kind: SuspicionKind(rawValue: row.text(1)) ?? .phone,
                    value: row.text(2), first: try customerSummary(try RecordID(row.text(3))),
                    second: try customerSummary(try RecordID(row.text(4))), detectedAt: row.text(5))
                return (lead, row.isNull(6) ? nil : row.blob(6))
            }.map { lead, decision in
                var lead = lead
                if let decision { lead.clearance = .init(decision: try Self.decodeState(decision)) }
                return lead
            }
            if includeCleared {
                let gone = try db.statement(
                    "SELECT state FROM records WHERE collection = 'decisions' AND deleted = 0 "
                        + "AND id NOT IN (SELECT id FROM leads)" + (id == nil ? "" : " AND id = ?1") + " ORDER BY id"
                ).rows(values) { try Self.decodeState($0.blob(0)) }
                for decision in gone { result.append(try lead(fromDecision: decision)) }
            }
            return result
        }
    }

    /// Leads no decision clears, as a condition on `leads l`.
    private static let leadIsOpen =
        "NOT EXISTS (SELECT 1 FROM records d WHERE d.id = l.id AND d.collection = 'decisions' AND d.deleted = 0)"

    /// How many leads wait for an investigation (no decision clears them).
    public func openLeadCount() throws -> Int {
        Int(try db.statement("SELECT count(*) FROM leads l WHERE \(Self.leadIsOpen)").firstRow { $0.int(0) } ?? 0)
    }

    /// The customers named by open leads, with the ids of the open leads that name each (for reports).
    func openLeadsPerCustomer() throws -> [String: [String]] {
        var leads: [String: [String]] = [:]
        try db.statement("SELECT id, first_id, second_id FROM leads l WHERE \(Self.leadIsOpen)").forEachRow {
            leads[$0.text(1), default: []].append($0.text(0))
            leads[$0.text(2), default: []].append($0.text(0))
        }
        return leads
    }

    private func customerSummary(_ id: RecordID) throws -> SuspiciousLead.Customer? {
        try db.statement("SELECT owner, state FROM records WHERE id = ?1").firstRow([.text(id.description)]) {
            let state = try Self.decodeState($0.blob(1))
            return SuspiciousLead.Customer(
                id: id, owner: $0.text(0), name: state["name"] ?? "", code: state["code"] ?? "")
        } ?? nil
    }

    private func lead(fromDecision decision: RecordState) throws -> SuspiciousLead {
        var lead = SuspiciousLead(
            id: decision.id, kind: SuspicionKind(rawValue: decision["lead"] ?? "") ?? .phone,
            value: decision["value"] ?? "",
            first: try decision["firstCustomer"].flatMap { try customerSummary(try RecordID($0)) },
            second: try decision["secondCustomer"].flatMap { try customerSummary(try RecordID($0)) }, detectedAt: nil)
        lead.clearance = .init(decision: decision)
        return lead
    }

    /// Clears an open lead at the hub: a decision record with the lead's id, which replicates to every site that
    /// holds the customers, so the lead is cleared everywhere.
    /// - Throws: ``StorageError`` `.notFound` for an unknown lead, `.invalidOperation` at a branch or for a lead
    ///   already cleared; ``ValidationError`` for an empty reason.
    @discardableResult
    public func clearLead(_ id: RecordID, reason: String) throws -> RecordState {
        try batch { try $0.clearLead(id, reason: reason) }
    }

    /// Merges the customer `duplicate` into `keep` at the hub, as replicated writes in one transaction: every live
    /// document of the duplicate is re-linked to `keep`, and the duplicate is deleted with `mergedInto` naming `keep`.
    /// - Returns: how many documents were re-linked.
    @discardableResult
    public func mergeCustomer(_ duplicate: RecordID, into keep: RecordID) throws -> Int {
        try batch { try $0.mergeCustomer(duplicate, into: keep) }
    }
}
