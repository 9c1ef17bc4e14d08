import BranchSyncCore

extension NodeStore {
    /// A statistics report over the live records of `collection` this node holds, from one snapshot, decoding one
    /// record at a time.
    public func statistics(
        of collection: RecordCollection, by dimension: StatisticsReport.Dimension, period: ClosedRange<UInt64>
    ) throws -> StatisticsReport {
        try db.read {
            var report = StatisticsReport(by: dimension, period: period)
            var conflicts: [String: Int] = [:]
            try db.statement("SELECT record_id, count(*) FROM conflicts WHERE status = 'open' GROUP BY record_id")
                .forEachRow { conflicts[$0.text(0)] = Int($0.int(1)) }
            let leads = collection == .customers ? try openLeadsPerCustomer() : [:]
            try db.statement("SELECT id, state FROM records WHERE collection = ?1 AND deleted = 0")
                .forEachRow([.text(collection.rawValue)]) { row in
                    let id = row.text(0)
                    report.add(
                        try Self.decodeState(row.blob(1)), openLeads: leads[id] ?? [],
                        openConflicts: conflicts[id] ?? 0)
                }
            return report
        }
    }
}
