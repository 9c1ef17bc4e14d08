import Synchronization

/// The hub's open connections, overall and per source address, shared by the accepting loop and the session
/// threads: a connection is admitted only while both counts are under their limits, and released when it closes.
final class ConnectionBook: Sendable {
    private struct Counts {
        var total = 0
        var byAddress: [String: Int] = [:]
    }

    /// Connections at most, overall.
    let maximum: Int
    /// Connections at most from one source address.
    let maximumPerAddress: Int
    private let counts = Mutex(Counts())

    init(maximum: Int, maximumPerAddress: Int) {
        self.maximum = maximum
        self.maximumPerAddress = maximumPerAddress
    }

    /// The limit a new connection from `host` meets and why, or `nil` after counting it in.
    func admit(host: String) -> (limit: HubLimit, reason: String)? {
        counts.withLock { counts in
            if counts.total >= maximum { return (.connections, "the hub holds its maximum of \(maximum) connections") }
            if counts.byAddress[host, default: 0] >= maximumPerAddress {
                return (.connectionsPerAddress, "\(maximumPerAddress) connections from this address are open already")
            }
            counts.total += 1
            counts.byAddress[host, default: 0] += 1
            return nil
        }
    }

    /// Counts out a connection admitted from `host`.
    func release(host: String) {
        counts.withLock { counts in
            counts.total -= 1
            let left = counts.byAddress[host, default: 1] - 1
            counts.byAddress[host] = left > 0 ? left : nil
        }
    }
}
