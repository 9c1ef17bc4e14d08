/// The causal history of a record: for each site, the highest counter of that site's writes that it includes.
///
/// Missing entries count as zero, so `[:]` is the empty history.
public struct VersionVector: Sendable, Hashable, CustomStringConvertible {
    /// Non-zero entries only.
    public private(set) var counters: [SiteID: UInt64]

    /// An empty history.
    public init() {
        counters = [:]
    }

    /// A vector with the given entries; zero entries are dropped.
    public init(_ counters: [SiteID: UInt64]) {
        self.counters = counters.filter { $0.value > 0 }
    }

    /// True when no write is included.
    public var isEmpty: Bool { counters.isEmpty }

    /// The counter for `site`, zero when absent.
    public subscript(site: SiteID) -> UInt64 {
        get { counters[site] ?? 0 }
        set { counters[site] = newValue == 0 ? nil : newValue }
    }

    /// Whether the write `dot` is part of this history.
    public func covers(_ dot: Dot) -> Bool {
        self[dot.site] >= dot.counter
    }

    /// Whether every write of `other` is part of this history.
    public func dominatesOrEquals(_ other: VersionVector) -> Bool {
        other.counters.allSatisfy { self[$0.key] >= $0.value }
    }

    /// Compares two histories.
    public func compare(to other: VersionVector) -> CausalOrder {
        let selfCovers = dominatesOrEquals(other)
        let otherCovers = other.dominatesOrEquals(self)
        switch (selfCovers, otherCovers) {
        case (true, true): return .equal
        case (true, false): return .after
        case (false, true): return .before
        case (false, false): return .concurrent
        }
    }

    /// The union of two histories: the pointwise maximum.
    public func merged(with other: VersionVector) -> VersionVector {
        var result = self
        result.merge(other)
        return result
    }

    /// Replaces this history with the union of it and `other`.
    public mutating func merge(_ other: VersionVector) {
        for (site, counter) in other.counters where counter > self[site] {
            counters[site] = counter
        }
    }

    /// Entries sorted by site id: the canonical order for encoding and display.
    public var sortedEntries: [(site: SiteID, counter: UInt64)] {
        counters.sorted { $0.key < $1.key }.map { (site: $0.key, counter: $0.value) }
    }

    public var description: String {
        "{" + sortedEntries.map { "\($0.site):\($0.counter)" }.joined(separator: ", ") + "}"
    }
}
