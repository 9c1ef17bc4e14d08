import BranchSyncCrypto
import Foundation

/// The backups in one directory: subdirectories `0001-full`, `0002-incremental`, … each with its manifest. The
/// *chain* restore uses is the last full backup and the incrementals after it.
public struct BackupChain: Sendable {
    /// One backup: its directory and manifest.
    public struct Backup: Sendable {
        public var directory: String
        public var manifest: BackupManifest
    }

    /// Every backup in the directory, in order.
    public let all: [Backup]

    /// Reads the manifests in `directory` (none if it does not exist yet).
    /// - Throws: ``StorageError`` `.corrupt` for an unreadable manifest.
    public init(directory: String) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var backups: [Backup] = []
        for name in names.sorted() where Self.isBackupName(name) {
            let path = (directory as NSString).appendingPathComponent(name)
            let manifestPath = (path as NSString).appendingPathComponent(BackupManifest.fileName)
            guard let data = FileManager.default.contents(atPath: manifestPath) else {
                throw StorageError(
                    code: .corrupt,
                    message: "\(path) has no \(BackupManifest.fileName): an interrupted backup? Remove it")
            }
            backups.append(Backup(directory: path, manifest: try BackupManifest(json: data, at: manifestPath)))
        }
        all = backups
    }

    /// `NNNN-full` or `NNNN-incremental`.
    static func isBackupName(_ name: String) -> Bool {
        let parts = name.split(separator: "-", maxSplits: 1)
        return parts.count == 2 && parts[0].count == 4 && parts[0].allSatisfy(\.isNumber)
            && BackupManifest.Kind(rawValue: String(parts[1])) != nil
    }

    /// The directory name of the next backup.
    func nextName(_ kind: BackupManifest.Kind) -> String {
        String(format: "%04d-%@", all.count + 1, kind.rawValue)
    }

    /// The last full backup and the incrementals on top of it, checked to follow one another.
    /// - Throws: ``StorageError`` `.notFound` without a full backup, `.corrupt` for a broken chain.
    public func restorable() throws -> [Backup] {
        guard let start = all.lastIndex(where: { $0.manifest.kind == .full }) else {
            throw StorageError(code: .notFound, message: "no full backup in this directory: nothing to restore from")
        }
        let chain = Array(all[start...])
        for (previous, next) in zip(chain, chain.dropFirst()) {
            guard next.manifest.kind == .incremental, next.manifest.site == previous.manifest.site,
                next.manifest.sequence == previous.manifest.sequence + 1,
                next.manifest.fromSeq == previous.manifest.toSeq,
                next.manifest.fromAuditRow == previous.manifest.toAuditRow
            else {
                throw StorageError(
                    code: .corrupt,
                    message: "\(next.directory) does not continue \(previous.directory) (another site, or a gap)")
            }
        }
        return chain
    }

    /// Checks every file of `backup` against its manifest.
    /// - Throws: ``StorageError`` `.corrupt` naming the first file that is missing or has another SHA-256.
    public static func verify(_ backup: Backup) throws {
        for file in backup.manifest.files {
            let path = (backup.directory as NSString).appendingPathComponent(file.path)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw StorageError(code: .corrupt, message: "\(path) is missing (listed in the manifest)")
            }
            let sha = SHA256.hexDigest([UInt8](data))
            guard sha == file.sha256, Int64(data.count) == file.bytes else {
                throw StorageError(
                    code: .corrupt,
                    message: "\(path) has SHA-256 \(sha) (\(data.count) bytes); the manifest says \(file.sha256) "
                        + "(\(file.bytes) bytes): the backup is damaged")
            }
        }
    }

    /// The attachments some backup of the chain ending at the last one already holds (by SHA-256).
    func attachmentsInCurrentChain() -> Set<String> {
        guard let start = all.lastIndex(where: { $0.manifest.kind == .full }) else { return [] }
        var hashes: Set<String> = []
        for backup in all[start...] {
            for file in backup.manifest.files where file.path.hasPrefix("attachments/") {
                hashes.insert(String(file.path.dropFirst("attachments/".count)))
            }
        }
        return hashes
    }
}
