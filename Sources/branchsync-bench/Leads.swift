import BranchSyncCore
import BranchSyncFleet
import BranchSyncStore
import Foundation

extension Bench {
    /// Issue 8: with `count` customers at the hub, how long after a branch's change arrives a new suspicious-customer
    /// lead is listed (the hub applies the state under its admission rules; the lead is found in the same
    /// transaction), and what listing the leads costs.
    func leads() throws {
        print("\n# suspicious-customer leads at a hub of \(options.count) customers")
        _ = rows.count
        let hub = try node("leads-hub", role: .hub)
        let site = try SiteID("bj01")
        _ = try FleetClients.enroll([site], at: hub)
        _ = try measure("fill the hub", count: options.count) { try fill(hub, count: options.count) }
        let branch = try node("bj01", role: .branch)
        var samples: [Double] = []
        for round in 0..<20 {
            // A customer of the branch sharing a phone with one of the hub's and a credit code with another: two leads.
            var values = rows[(round * 4_999) % options.count]
            values["code"] = "65" + String(format: "%04d", round)
            values["creditCode"] = rows[(round * 7) % options.count]["creditCode"]
            values["phone"] = rows[(round * 4_999 + 1) % options.count]["phone"]
            let state = try branch.create(.customers, values: values)
            let before = try hub.openLeadCount()
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try hub.applyIncoming(
                [state.encoded()], from: site, upTo: Int64(round + 1), remaining: 0,
                policy: .hub(clearance: .internal))
            let listed = try hub.suspiciousLeads().count
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            guard listed >= before + 2 else {
                print("leads: the change did not make its two leads (\(before) -> \(listed))")
                return
            }
        }
        samples.sort()
        print(
            String(
                format: "change arrives -> lead listed (apply + list %d leads): p50 %.1f ms, max %.1f ms",
                try hub.openLeadCount(), samples[samples.count / 2], samples.last ?? 0))
        let start = DispatchTime.now().uptimeNanoseconds
        let counted = try hub.openLeadCount()
        print(
            String(
                format: "status's open-lead count at %d customers: %.1f ms", options.count,
                Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6) + " (\(counted) open)")
    }
}
