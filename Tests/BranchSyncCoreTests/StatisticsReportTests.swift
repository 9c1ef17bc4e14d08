import BranchSyncTestSupport
import Testing

@testable import BranchSyncCore

@Suite struct StatisticsReportTests {
    let bj = try! SiteID("bj01")
    let sh = try! SiteID("sh01")
    let day: UInt64 = 86_400_000

    func customer(_ owner: SiteID, code: String, createdDay: UInt64, changedDay: UInt64? = nil) -> RecordState {
        let id = RecordID.version7(
            unixMilliseconds: createdDay * day, random: Array(repeating: UInt8(code.count), count: 10))
        var state = RecordState(id: id, collection: .customers, owner: owner)
        let created = Stamp(
            dot: Dot(site: owner, counter: 1), time: HLCTimestamp(wallMilliseconds: createdDay * day, logical: 0))
        state.applyLocalWrite(["code": code, "name": "客户", "creditCode": "91110000802100433B"], stamp: created)
        if let changedDay {
            let changed = Stamp(
                dot: Dot(site: owner, counter: 2),
                time: HLCTimestamp(wallMilliseconds: changedDay * day + 5, logical: 0))
            state.applyLocalWrite(["name": "客户（改）"], stamp: changed)
        }
        return state
    }

    /// New means created in the period (both ends included), changed means created before it and changed in it;
    /// deleted records are not counted; a lead counts once per group and once in the total, whichever customers
    /// it names.
    @Test func countsNewAndChangedInThePeriodPerGroupAndTotals() throws {
        let period = (10 * day)...(20 * day + day - 1)  // days 10 to 20 inclusive
        var report = StatisticsReport(by: .site, period: period)
        report.add(customer(bj, code: "110001", createdDay: 10), openLeads: ["L1", "L2"])
        report.add(customer(bj, code: "110002", createdDay: 20), openLeads: ["L2"])
        report.add(customer(bj, code: "110003", createdDay: 3, changedDay: 20), openConflicts: 2)
        report.add(customer(sh, code: "310001", createdDay: 3, changedDay: 21), openLeads: ["L1"])
        report.add(customer(sh, code: "310002", createdDay: 21))
        var deleted = customer(sh, code: "310003", createdDay: 12)
        deleted.applyLocalDelete(
            stamp: Stamp(dot: Dot(site: sh, counter: 9), time: HLCTimestamp(wallMilliseconds: 13 * day, logical: 0)))
        report.add(deleted)
        let rows = report.rows
        #expect(rows.map(\.group) == ["bj01", "sh01", "total"])
        #expect(
            rows[0]
                == StatisticsReport.Row(group: "bj01", records: 3, new: 2, changed: 1, openLeads: 2, openConflicts: 2))
        #expect(
            rows[1]
                == StatisticsReport.Row(group: "sh01", records: 2, new: 0, changed: 0, openLeads: 1, openConflicts: 0))
        #expect(
            rows[2]
                == StatisticsReport.Row(group: "total", records: 5, new: 2, changed: 1, openLeads: 2, openConflicts: 2))
    }

    @Test func groupsByRegionNameAndMissingValues() {
        let state = customer(bj, code: "440301", createdDay: 1)
        #expect(StatisticsReport.group(of: state, by: .region) == "44 Guangdong")
        #expect(StatisticsReport.group(of: state, by: .industry) == "(none)")
        #expect(StatisticsReport.group(of: state, by: .class) == "internal")
        #expect(StatisticsReport.group(of: state, by: .category) == "(none)")
    }

    @Test func datesAreDaysSinceTheEpochInUTC() throws {
        #expect(try CalendarDate.startMilliseconds(of: "1970-01-01", field: "from") == 0)
        #expect(try CalendarDate.startMilliseconds(of: "2000-03-01", field: "from") == 951_868_800_000)
        #expect(try CalendarDate.startMilliseconds(of: "2026-11-24", field: "from") == 1_795_478_400_000)
        #expect(throws: ValidationError.self) { try CalendarDate.startMilliseconds(of: "1969-12-31", field: "from") }
    }
}
