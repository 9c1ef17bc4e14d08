import Foundation

/// Polls `condition` until it holds or `timeout` seconds pass; returns its last value. For tests that wait on other
/// threads or processes (sync sessions, daemons).
public func eventually(timeout: Double = 10, poll: Double = 0.01, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: poll)
    }
    return try condition()
}
