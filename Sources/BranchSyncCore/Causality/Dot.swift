/// One write event: the site that made it and that site's counter value at the time.
public struct Dot: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The site that made the write.
    public var site: SiteID
    /// The site's counter after the write; counters start at 1.
    public var counter: UInt64

    public init(site: SiteID, counter: UInt64) {
        self.site = site
        self.counter = counter
    }

    public var description: String { "\(site):\(counter)" }

    public static func < (lhs: Dot, rhs: Dot) -> Bool {
        lhs.site != rhs.site ? lhs.site < rhs.site : lhs.counter < rhs.counter
    }
}

extension Dot {
    /// Parses `site:counter` (``description``).
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let site = try? SiteID(String(text[..<colon])),
            let counter = UInt64(text[text.index(after: colon)...])
        else { return nil }
        self.init(site: site, counter: counter)
    }
}
