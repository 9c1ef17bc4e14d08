import BranchSyncNode
import Foundation

/// The hub process as `/proc` shows it.
public struct HubProcessStats {
    public var residentMegabytes = 0
    public var threads = 0
    public var descriptors = 0
    /// User + system CPU in clock ticks.
    public var cpuTicks = 0

    /// Reads `/proc/PID` now.
    public init(pid: Int32) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if line.hasPrefix("VmRSS:"), parts.count >= 2 { residentMegabytes = (Int(parts[1]) ?? 0) / 1024 }
            if line.hasPrefix("Threads:"), parts.count >= 2 { threads = Int(parts[1]) ?? 0 }
        }
        descriptors = DescriptorLimit.inUse(pid: pid) ?? 0
        // Fields after the command name (which is in parentheses): utime is field 14, stime field 15.
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 13 { cpuTicks = (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) }
        }
    }
}
