import BranchSyncCore
import BranchSyncWire
@preconcurrency import Glibc

/// One TCP connection speaking BranchSync frames: buffered, non-blocking, with bounded memory.
///
/// Not `Sendable`: owned by the one thread that runs its session.
final class FramedConnection {
    let fd: Int32
    /// `host:port` of the peer, for logs.
    let peerAddress: String
    private var decoder = FrameDecoder()
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var closed = false
    /// When bytes last arrived (monotonic milliseconds), for liveness checks.
    private(set) var lastReceiveUptime = Clock.uptimeMilliseconds()
    /// Whether an `ERROR` was queued or received: the connection must end, and no (further) error should follow.
    private var errorExchanged = false

    init(fd: Int32, peerAddress: String) {
        self.fd = fd
        self.peerAddress = peerAddress
    }

    /// Takes over a connection whose handshake began elsewhere (the hub's gate): with the bytes already received and
    /// not yet decoded, the TLS session, and output not yet written.
    init(fd: Int32, peerAddress: String, decoder: FrameDecoder, tls: TLSSession?, pendingOutput: [UInt8]) {
        self.fd = fd
        self.peerAddress = peerAddress
        self.decoder = decoder
        self.tls = tls
        self.output = pendingOutput
    }

    /// Decodes the complete frames already received (after a hand-over, before waiting on the socket).
    func takeBufferedMessages() throws {
        while let frame = try decoder.next() {
            pendingHandshakeMessages.append(try Message.decode(type: frame.type, payload: frame.payload))
        }
    }

    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        tls?.shutdown()
        Glibc.close(fd)
    }

    /// The TLS session when the connection is encrypted (set after the TLS handshake).
    var tls: TLSSession?

    /// Bytes queued but not yet written.
    var pendingOutputCount: Int { output.count - outputOffset }

    /// While set, ``flush()`` writes nothing: the hub's session loop holds a turn's output (acknowledgements, changes
    /// read from the turn's writes) until the turn's group commit stored what it says.
    var holdsOutput = false {
        didSet {
            backlogWhenHeld = pendingOutputCount
            errorQueuedWhileHeld = false
        }
    }
    private var backlogWhenHeld = 0

    /// Drops the output queued while held (it spoke of writes that were not stored) and stops holding.
    func discardHeldOutput() {
        guard holdsOutput else { return }
        output.removeSubrange(min(output.count, outputOffset + backlogWhenHeld)...)
        let droppedError = errorQueuedWhileHeld
        holdsOutput = false
        // An ERROR among the dropped bytes was never sent: the reason for ending goes out instead.
        if droppedError { errorExchanged = false }
    }
    private var errorQueuedWhileHeld = false

    /// Bytes the socket did not take at the last flush (output held back since does not count).
    var outputBacklog: Int { holdsOutput ? backlogWhenHeld : pendingOutputCount }

    /// Queues a message; call ``flush()`` to write.
    func send(_ message: Message) {
        if case .error = message {
            errorQueuedWhileHeld = errorQueuedWhileHeld || (holdsOutput && !errorExchanged)
            errorExchanged = true
        }
        output.append(contentsOf: message.encodedFrame())
    }

    /// The peer sent `ERROR`: the connection ends without an error in reply.
    func peerSentError() {
        errorExchanged = true
    }

    /// Ends a failed connection: writes what is queued, tells the peer why with `ERROR` (unless an error was sent or
    /// received already) and closes.
    /// Only protocol errors are described; anything else goes out as a generic internal error.
    func fail(with error: any Error) {
        if !errorExchanged {
            if let wire = error as? WireError {
                send(.error(ErrorMessage(code: wire.code, message: wire.message)))
            } else {
                send(.error(ErrorMessage(code: .internalError, message: "the session failed; retry later")))
            }
        }
        try? flush()
        guard !closed else { return }
        closed = true
        tls?.shutdown()
        // Input left unread would make the kernel reset the connection and destroy the ERROR before the peer reads it.
        Socket.closeAfterDraining(fd)
    }

    /// Writes as much queued output as the socket takes now.
    /// - Throws: ``NodeError`` if the peer is gone.
    func flush() throws {
        if holdsOutput { return }
        sending: while outputOffset < output.count {
            let result = output.withUnsafeBytes { raw in
                StreamIO.write(fd: fd, tls: tls, UnsafeRawBufferPointer(rebasing: raw[outputOffset...]))
            }
            switch result {
            case .transferred(let count): outputOffset += count
            case .wouldBlock: break sending
            case .closed:
                throw NodeError("\(peerAddress) closed the connection while this node was sending", code: .connection)
            case .failed(let reason):
                throw NodeError("connection to \(peerAddress) lost while sending: \(reason)", code: .connection)
            }
        }
        if outputOffset == output.count {
            // A hub holds thousands of connections: only a small buffer is kept between bursts.
            output.removeAll(keepingCapacity: output.capacity <= Self.retainedBufferBytes)
            outputOffset = 0
        } else if outputOffset > 1 << 20 {
            output.removeFirst(outputOffset)
            outputOffset = 0
        }
    }

    /// Buffer capacity a connection keeps once its output or input is drained; more is given back.
    static let retainedBufferBytes = 64 << 10

    /// Bytes read per call at most: a peer sending faster than this node applies waits in TCP (backpressure)
    /// instead of growing this process's memory.
    static let maximumReadPerCall = 4 << 20

    /// Whether input may be waiting that the socket's readiness does not show: TLS records OpenSSL already
    /// decrypted, or bytes left when the last read stopped at ``maximumReadPerCall``.
    var mayHoldUnreadInput: Bool { readStoppedAtLimit || (tls?.pending ?? 0) > 0 }
    private var readStoppedAtLimit = false

    /// Reads what has arrived (up to ``maximumReadPerCall`` bytes) and returns the complete messages in it.
    /// - Throws: ``WireError`` for a malformed frame; ``NodeError`` when the peer closed the connection.
    func receiveAvailable() throws -> [Message] {
        // The read buffer lives only for this call: a hub holding thousands of idle connections keeps none.
        try withUnsafeTemporaryAllocation(byteCount: Self.readChunk, alignment: 1) { buffer in
            try receiveAvailable(using: buffer)
        }
    }

    /// Bytes asked of the socket per read.
    static let readChunk = 65_536

    private func receiveAvailable(using buffer: UnsafeMutableRawBufferPointer) throws -> [Message] {
        var messages: [Message] = []
        var readThisCall = 0
        readStoppedAtLimit = false
        while readThisCall < Self.maximumReadPerCall {
            switch StreamIO.read(fd: fd, tls: tls, into: buffer) {
            case .transferred(let count):
                readThisCall += count
                lastReceiveUptime = Clock.uptimeMilliseconds()
                decoder.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                while let frame = try decoder.next() {
                    messages.append(try Message.decode(type: frame.type, payload: frame.payload))
                }
            case .closed:
                if messages.isEmpty { throw NodeError("\(peerAddress) closed the connection", code: .connection) }
                return messages
            case .wouldBlock:
                return messages
            case .failed(let reason):
                throw NodeError("connection to \(peerAddress) lost: \(reason)", code: .connection)
            }
        }
        readStoppedAtLimit = true
        return messages
    }

    /// Waits until the socket is readable (or writable, when output is pending), the wake signal fires, or
    /// `timeoutMilliseconds` pass.
    func wait(timeoutMilliseconds: Int32, wake: WakeSignal?) -> (readable: Bool, woken: Bool) {
        // Bytes OpenSSL already decrypted are invisible to poll.
        if let tls, tls.pending > 0 { return (true, false) }
        var fds = [pollfd(fd: fd, events: Int16(POLLIN) | (pendingOutputCount > 0 ? Int16(POLLOUT) : 0), revents: 0)]
        if let wake { fds.append(pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0)) }
        let rc = poll(&fds, nfds_t(fds.count), timeoutMilliseconds)
        guard rc > 0 else { return (false, false) }
        let readable = fds[0].revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0
        let woken = fds.count > 1 && fds[1].revents & Int16(POLLIN) != 0
        if woken { wake?.drain() }
        return (readable, woken)
    }

    /// Waits for the next message (handshake steps), at most `timeout` seconds.
    /// - Throws: ``WireError`` `TIMEOUT` when nothing came in time, or for malformed frames; ``NodeError`` for a
    ///   closed connection.
    func receive(timeout: Double) throws -> Message {
        let deadline = Clock.uptimeMilliseconds() + UInt64(timeout * 1000)
        while true {
            if !pendingHandshakeMessages.isEmpty { return pendingHandshakeMessages.removeFirst() }
            try flush()
            pendingHandshakeMessages = try receiveAvailable()
            if !pendingHandshakeMessages.isEmpty { continue }
            let now = Clock.uptimeMilliseconds()
            guard now < deadline else {
                throw WireError(.timeout, "nothing received for \(Int(timeout)) s during the handshake")
            }
            _ = wait(timeoutMilliseconds: Int32(min(deadline - now, 1000)), wake: nil)
        }
    }

    /// Messages read during the handshake that belong to later steps; the session takes them over.
    var pendingHandshakeMessages: [Message] = []
}

/// Monotonic time.
enum Clock {
    static func uptimeMilliseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1000 + UInt64(spec.tv_nsec) / 1_000_000
    }
}
