import BranchSyncCore

extension NodeStore {
    /// Whether reading `state` needs a stated purpose (need-to-know): confidential and secret records, whoever reads
    /// them, the owner included.
    public static func readNeedsPurpose(_ state: RecordState) -> Bool {
        state.classification >= .confidential
    }

    /// Records a read of a record in the audit trail (who, what, why) and, at a branch, packs it for the hub at once.
    /// - Parameters:
    ///   - what: what was read, e.g. `shown` or `attachment written to report.pdf`.
    ///   - purpose: why, as the reader stated it.
    public func recordRead(_ state: RecordState, what: String, purpose: String?) throws {
        try db.write {
            try auditEvent(
                action: "read",
                detail: "\(state.classification.rawValue) \(state.collection.singular) \(what)"
                    + (purpose.map { "; purpose: \($0)" } ?? ""),
                recordID: state.id, collection: state.collection)
        }
        try shipAuditTrail()
    }

    /// How many records an export would write that need a purpose to read (confidential and secret ones, tombstones
    /// included: a deleted record keeps its values).
    public func recordsNeedingPurpose() throws -> Int {
        Int(
            try db.statement(
                "SELECT count(*) FROM records WHERE class IN ('confidential', 'secret') AND collection <> 'auditBlocks'"
            ).firstRow { $0.int(0) } ?? 0)
    }

    /// Records an export in the audit trail: how many confidential and secret records it held, and why.
    public func recordExport(confidential: Int, secret: Int, total: Int, purpose: String?) throws {
        try db.write {
            try auditEvent(
                action: "export",
                detail: "\(total) record(s), of which \(confidential) confidential and \(secret) secret"
                    + (purpose.map { "; purpose: \($0)" } ?? ""))
        }
        try shipAuditTrail()
    }
}
