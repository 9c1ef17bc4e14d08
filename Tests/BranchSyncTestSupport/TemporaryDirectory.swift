import Foundation

/// A fresh directory under the system temporary directory, removed when the value is released.
public final class TemporaryDirectory {
    public let path: String

    public init() {
        path = NSTemporaryDirectory() + "branchsync-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A path inside the directory (not created).
    public func file(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    /// Same as ``file(_:)``, for subdirectories.
    public func subdirectory(_ name: String) -> String {
        file(name)
    }

    /// Writes `text` to a file inside the directory and returns its path.
    public func write(_ name: String, _ text: String) -> String {
        let path = file(name)
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    deinit {
        // BRANCHSYNC_KEEP_TEMP=1 keeps the directory (logs, databases) for a look after a failure.
        if ProcessInfo.processInfo.environment["BRANCHSYNC_KEEP_TEMP"] == "1" {
            FileHandle.standardError.write(Data("kept \(path)\n".utf8))
            return
        }
        try? FileManager.default.removeItem(atPath: path)
    }
}
