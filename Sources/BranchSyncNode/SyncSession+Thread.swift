extension SyncSession {
    /// Drives the session on the calling thread (the branch's side): waits on the socket and the wake signal and
    /// hands what happened to ``step(received:woken:now:)``, until the peer leaves, `stop` fires, an error occurs,
    /// or (with `stopWhenCaughtUp`) both sides are caught up and verified. The hub drives its sessions from one event
    /// loop instead (``HubSessionLoop``).
    /// - Parameter onTurn: called before every step (at least once a ping interval): the loop is alive.
    func run(on connection: FramedConnection, wake: WakeSignal, onTurn: () -> Void = {}) throws -> SessionSummary {
        defer { finish() }
        try begin(now: Clock.uptimeMilliseconds())
        var received = connection.pendingHandshakeMessages
        connection.pendingHandshakeMessages = []
        var woken = false
        onTurn()
        while try !step(received: received, woken: woken, now: Clock.uptimeMilliseconds()) {
            onTurn()
            let timeout = Int32(clamping: max(1, Int64(nextDeadline) - Int64(Clock.uptimeMilliseconds())))
            let (readable, wokenNow) = connection.wait(timeoutMilliseconds: timeout, wake: wake)
            woken = wokenNow
            received = readable ? try connection.receiveAvailable() : []
        }
        return summarySoFar
    }
}
