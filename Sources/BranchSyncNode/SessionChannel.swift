import BranchSyncWire

/// Where a ``SyncSession`` sends its messages: a socket (``FramedConnection``) in the daemons, a queue in the
/// session tests. The session never reads from it: its driver hands it what arrived.
protocol SessionChannel: AnyObject {
    /// Queues a message.
    func send(_ message: Message)
    /// Writes as much queued output as can go now.
    /// - Throws: when the peer is gone.
    func flush() throws
    /// Bytes queued and not yet written.
    var pendingOutputCount: Int { get }
    /// Bytes the peer's socket did not take yet. Output the driver holds back until its writes commit is not
    /// counted: it goes out as soon as they did.
    var outputBacklog: Int { get }
    /// When bytes last arrived from the peer (uptime milliseconds), for the silence timeout.
    var lastReceiveUptime: UInt64 { get }
    /// The peer sent `ERROR`: no error goes back.
    func peerSentError()
}

extension FramedConnection: SessionChannel {}
