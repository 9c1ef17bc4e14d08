import Foundation

/// A file only its owner may read (a site's secret, a handover list naming confidential records), written whole or
/// not at all: staged beside its path, readable by the owner only from the first byte (mode 0600 at creation, not
/// after) and synced, then moved into place with the move synced too.
enum PrivateFile {
    /// Writes `text` to a new file at `staged` (a leftover of a killed attempt is replaced).
    /// - Returns: `false` with `errno` set when it cannot.
    static func stage(_ text: String, at staged: String) -> Bool {
        unlink(staged)
        let descriptor = open(staged, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { return false }
            written += result
        }
        return fsync(descriptor) == 0
    }

    /// Moves the staged file over `path`, and makes the move durable.
    /// - Returns: `false` with `errno` set when the move failed (the staged file is still there).
    static func install(_ staged: String, at path: String) -> Bool {
        guard rename(staged, path) == 0 else { return false }
        let parent = (path as NSString).deletingLastPathComponent
        let directory = open(parent.isEmpty ? "." : parent, O_RDONLY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        return true
    }
}
