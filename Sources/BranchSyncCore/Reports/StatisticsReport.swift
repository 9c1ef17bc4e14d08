/// A statistics report over live records (the customer service department's customer information statistics, and
/// the same for documents): per group, how many records, how many were created and changed in the period, and the
/// open leads and conflicts on them. Pure: the caller feeds it the records and their open issues.
public struct StatisticsReport: Sendable {
    /// What records are grouped by.
    public enum Dimension: String, Sendable, CaseIterable {
        case site, region, category, industry, `class`, kind, type, status

        /// The dimensions that make sense for `collection`.
        public static func allowed(for collection: RecordCollection) -> [Dimension] {
            switch collection {
            case .customers: return [.site, .region, .category, .industry, .class]
            case .documents: return [.site, .kind, .type, .status, .class]
            case .decisions, .auditBlocks, .destructions: return [.site, .class]
            }
        }
    }

    /// One group's counts.
    public struct Row: Sendable, Hashable {
        public var group: String
        /// Live records in the group.
        public var records = 0
        /// Created within the period (the earliest write the record still carries).
        public var new = 0
        /// Changed within the period and created before it.
        public var changed = 0
        /// Open suspicious-customer leads naming a record of the group (each lead once).
        public var openLeads = 0
        /// Open conflicts on records of the group.
        public var openConflicts = 0
    }

    public let dimension: Dimension
    /// The period, in Unix milliseconds, both ends included.
    public let period: ClosedRange<UInt64>
    private var byGroup: [String: Row] = [:]
    /// The open leads naming a record of each group (a lead names two customers, maybe of one group, maybe of two).
    private var leadsByGroup: [String: Set<String>] = [:]

    public init(by dimension: Dimension, period: ClosedRange<UInt64>) {
        self.dimension = dimension
        self.period = period
    }

    /// Counts one record, if it is live, with the ids of the open leads that name it.
    public mutating func add(_ state: RecordState, openLeads: [String] = [], openConflicts: Int = 0) {
        guard !state.isDeleted else { return }
        let group = Self.group(of: state, by: dimension)
        var row = byGroup[group] ?? Row(group: group)
        row.records += 1
        let times = state.fields.values.map(\.stamp.time.wallMilliseconds)
        if let created = times.min(), let changed = times.max() {
            if period.contains(created) {
                row.new += 1
            } else if created < period.lowerBound && period.contains(changed) {
                row.changed += 1
            }
        }
        leadsByGroup[group, default: []].formUnion(openLeads)
        row.openConflicts += openConflicts
        byGroup[group] = row
    }

    /// The groups in byte order of their names, then the totals (group `total`).
    public var rows: [Row] {
        let sorted = byGroup.values.sorted { $0.group.utf8.lexicographicallyPrecedes($1.group.utf8) }.map { row in
            var row = row
            row.openLeads = leadsByGroup[row.group]?.count ?? 0
            return row
        }
        var total = Row(group: "total")
        for row in sorted {
            total.records += row.records
            total.new += row.new
            total.changed += row.changed
            total.openConflicts += row.openConflicts
        }
        total.openLeads = leadsByGroup.values.reduce(into: Set<String>()) { $0.formUnion($1) }.count
        return sorted + [total]
    }

    /// The group a record falls in; `(none)` when it has no value for the dimension.
    public static func group(of state: RecordState, by dimension: Dimension) -> String {
        switch dimension {
        case .site: return state.owner.rawValue
        case .class: return state.classification.rawValue
        case .region:
            guard let code = state["code"] else { return "(none)" }
            return String(code.prefix(2)) + " " + (CustomerCode.regionName(of: code) ?? "?")
        case .category, .industry, .kind, .type, .status:
            return state[dimension.rawValue] ?? "(none)"
        }
    }
}
