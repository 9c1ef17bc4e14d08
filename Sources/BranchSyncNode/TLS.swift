import COpenSSL
@preconcurrency import Glibc

/// TLS 1.3 for BranchSync connections (`Protocol.md` §5): the hub presents a certificate, the branch verifies it
/// against the group's CA and the hub's address, and frames then travel inside TLS. Optional: without it,
/// authentication still works, but records cross the network in clear.
///
/// Creating a context makes the process ignore SIGPIPE: OpenSSL writes to sockets without `MSG_NOSIGNAL`, and a
/// peer that hangs up must end one session with an error, not the whole process.
public final class TLSContext: @unchecked Sendable {
    // @unchecked: the SSL_CTX is configured once in init and only read afterwards (SSL_new), which OpenSSL allows
    // from several threads.
    let context: OpaquePointer
    let isServer: Bool

    private init(server: Bool) throws {
        signal(SIGPIPE, SIG_IGN)
        guard let ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()) else {
            throw NodeError("cannot create a TLS context: \(TLSContext.lastError())", code: .configuration)
        }
        context = ctx
        isServer = server
        _ = branchsync_SSL_CTX_set_min_proto_version(ctx, branchsync_TLS1_3_VERSION())
        _ = branchsync_SSL_CTX_set_mode(
            ctx, branchsync_SSL_MODE_ENABLE_PARTIAL_WRITE() | branchsync_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER())
    }

    deinit { SSL_CTX_free(context) }

    /// The hub's context: its certificate chain and private key, PEM files.
    /// - Throws: ``NodeError`` naming the file that could not be used.
    public static func server(certificateFile: String, keyFile: String) throws -> TLSContext {
        let tls = try TLSContext(server: true)
        guard SSL_CTX_use_certificate_chain_file(tls.context, certificateFile) == 1 else {
            throw NodeError("cannot use TLS certificate \(certificateFile): \(lastError())", code: .configuration)
        }
        guard SSL_CTX_use_PrivateKey_file(tls.context, keyFile, SSL_FILETYPE_PEM) == 1 else {
            throw NodeError("cannot use TLS key \(keyFile): \(lastError())", code: .configuration)
        }
        guard SSL_CTX_check_private_key(tls.context) == 1 else {
            throw NodeError(
                "TLS key \(keyFile) does not belong to certificate \(certificateFile)", code: .configuration)
        }
        return tls
    }

    /// A branch's context: trusts the CA certificates in `trustedPEM` (the group's CA, or the hub's own certificate).
    /// - Throws: ``NodeError`` if the PEM holds no certificate.
    public static func client(trustedPEM: String) throws -> TLSContext {
        let tls = try TLSContext(server: false)
        SSL_CTX_set_verify(tls.context, SSL_VERIFY_PEER, nil)
        let store = SSL_CTX_get_cert_store(tls.context)
        var added = 0
        let bytes = Array(trustedPEM.utf8)
        let bio = bytes.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
        defer { BIO_free(bio) }
        while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
            X509_STORE_add_cert(store, certificate)
            X509_free(certificate)
            added += 1
        }
        ERR_clear_error()
        guard added > 0 else { throw NodeError("the TLS CA file holds no PEM certificate", code: .configuration) }
        return tls
    }

    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "unknown TLS error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        ERR_clear_error()
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One TLS connection over a non-blocking socket. Not `Sendable`: owned by its connection's thread.
final class TLSSession {
    private let ssl: OpaquePointer

    enum IOResult {
        case transferred(Int)
        case wouldBlock
        case closed
        case failed(String)
    }

    /// Wraps `fd`; for a client, `host` is checked against the hub's certificate (DNS name or IP address).
    init(context: TLSContext, fd: Int32, host: String?) throws {
        guard let ssl = SSL_new(context.context) else {
            throw NodeError("cannot create a TLS session: \(TLSContext.lastError())")
        }
        self.ssl = ssl
        SSL_set_fd(ssl, fd)
        if let host {
            var address = in6_addr()
            let isIP = inet_pton(AF_INET, host, &address) == 1 || inet_pton(AF_INET6, host, &address) == 1
            if isIP {
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
            } else {
                SSL_set1_host(ssl, host)
                // Server name indication; OpenSSL copies the name.
                _ = host.withCString {
                    SSL_ctrl(
                        ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name),
                        UnsafeMutableRawPointer(mutating: $0))
                }
            }
        }
    }

    deinit { SSL_free(ssl) }

    /// Where a non-blocking TLS handshake stands.
    enum HandshakeProgress {
        case done
        /// Call ``handshakeStep(server:)`` again when the socket is readable.
        case wantRead
        /// Call ``handshakeStep(server:)`` again when the socket is writable.
        case wantWrite
    }

    /// Advances the TLS handshake as far as the socket allows without blocking.
    /// - Throws: ``NodeError`` with OpenSSL's reason (e.g. certificate verify failed).
    func handshakeStep(server: Bool) throws -> HandshakeProgress {
        ERR_clear_error()
        let rc = server ? SSL_accept(ssl) : SSL_connect(ssl)
        if rc == 1 { return .done }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        default:
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK {
                throw NodeError(
                    "TLS handshake failed: \(String(cString: X509_verify_cert_error_string(Int(verify))))",
                    code: .configuration)
            }
            throw NodeError("TLS handshake failed: \(TLSContext.lastError())", code: .configuration)
        }
    }

    /// Runs the TLS handshake, waiting at most `timeout` seconds.
    /// - Throws: ``NodeError`` with OpenSSL's reason (e.g. certificate verify failed).
    func handshake(fd: Int32, server: Bool, timeout: Double) throws {
        let deadline = Clock.uptimeMilliseconds() + UInt64(timeout * 1000)
        while true {
            let events: Int16
            switch try handshakeStep(server: server) {
            case .done: return
            case .wantRead: events = Int16(POLLIN)
            case .wantWrite: events = Int16(POLLOUT)
            }
            let now = Clock.uptimeMilliseconds()
            guard now < deadline else { throw NodeError("TLS handshake timed out after \(Int(timeout)) s") }
            var pollFD = pollfd(fd: fd, events: events, revents: 0)
            _ = poll(&pollFD, 1, Int32(min(deadline - now, 1000)))
        }
    }

    /// Bytes decrypted and buffered inside OpenSSL (poll cannot see them).
    var pending: Int { Int(SSL_pending(ssl)) }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        ERR_clear_error()
        let count = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
        if count > 0 { return .transferred(Int(count)) }
        return status(count)
    }

    func write(_ buffer: UnsafeRawBufferPointer) -> IOResult {
        ERR_clear_error()
        let count = SSL_write(ssl, buffer.baseAddress, Int32(buffer.count))
        if count > 0 { return .transferred(Int(count)) }
        return status(count)
    }

    /// Sends TLS close_notify (best effort).
    func shutdown() {
        SSL_shutdown(ssl)
    }

    private func status(_ rc: Int32) -> IOResult {
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wouldBlock
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL where errno == 0 || errno == ECONNRESET || errno == EPIPE: return .closed
        default: return .failed(TLSContext.lastError())
        }
    }
}
