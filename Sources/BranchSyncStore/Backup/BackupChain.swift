import BranchSyncCrypto
import Foundation
import Glibc

/// The backups in one directory: subdirectories `0001-full`, `0002-incremental`, … each with its manifest, in the
/// order of their numbers. The *chain* restore uses is the last full backup and the incrementals after it.
public struct BackupChain: Sendable {
    /// One backup: its number, directory and manifest.
    public struct Backup: Sendable {
        public var number: Int
        public var directory: String
        public var manifest: BackupManifest
    }

    /// Every backup in the directory, by number.
    public let all: [Backup]

    /// Reads the manifests in `directory` (none if it does not exist yet). Interrupted backups (`….partial`) are
    /// ignored.
    /// - Throws: ``StorageError`` `.corrupt` for an unreadable manifest.
    public init(directory: String) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var backups: [Backup] = []
        for name in names {
            guard let number = Self.number(ofBackupNamed: name) else { continue }
            let path = (directory as NSString).appendingPathComponent(name)
            let manifestPath = (path as NSString).appendingPathComponent(BackupManifest.fileName)
            guard let data = FileManager.default.contents(atPath: manifestPath) else {
                throw StorageError(code: .corrupt, message: "\(path) has no \(BackupManifest.fileName); remove it")
            }
            backups.append(
                Backup(number: number, directory: path, manifest: try BackupManifest(json: data, at: manifestPath)))
        }
        all = backups.sorted { $0.number < $1.number }
    }

    /// The number of `NNNN-full` or `NNNN-incremental` (four digits or more), or `nil` for any other name.
    static func number(ofBackupNamed name: String) -> Int? {
        let parts = name.split(separator: "-", maxSplits: 1)
        guard parts.count == 2, parts[0].count >= 4, parts[0].count <= 7, parts[0].allSatisfy(\.isASCII),
            let number = Int(parts[0]), number >= 1, BackupManifest.Kind(rawValue: String(parts[1])) != nil
        else { return nil }
        return number
    }

    /// The directory name of the next backup: one above the highest number, so pruned backups leave no gap to fill.
    func nextName(_ kind: BackupManifest.Kind) -> String {
        String(format: "%04d-%@", (all.last?.number ?? 0) + 1, kind.rawValue)
    }

    /// The last full backup and the incrementals on top of it, checked to follow one another.
    /// - Throws: ``StorageError`` `.notFound` without a full backup, `.corrupt` for a broken chain.
    public func restorable() throws -> [Backup] {
        guard let start = all.lastIndex(where: { $0.manifest.kind == .full }) else {
            throw StorageError(code: .notFound, message: "no full backup in this directory: nothing to restore from")
        }
        let chain = Array(all[start...])
        for backup in chain {
            guard
                backup.manifest.listsExpectedFiles(
                    databaseFile: NodeStore.databaseFileName, changesFile: NodeStore.changesFileName)
            else {
                throw StorageError(
                    code: .corrupt, message: "\(backup.directory): its manifest does not list the files a backup has")
            }
        }
        for (previous, next) in zip(chain, chain.dropFirst()) {
            guard next.manifest.kind == .incremental, next.manifest.site == previous.manifest.site,
                next.manifest.sequence == previous.manifest.sequence + 1,
                next.manifest.fromSeq == previous.manifest.toSeq,
                next.manifest.fromAuditRow == previous.manifest.toAuditRow,
                next.manifest.schema == previous.manifest.schema
            else {
                throw StorageError(
                    code: .corrupt,
                    message: "\(next.directory) does not continue \(previous.directory) (another site or version, or "
                        + "a gap)")
            }
        }
        return chain
    }

    /// Checks every file of `backup` against its manifest, reading in chunks.
    /// - Throws: ``StorageError`` `.corrupt` naming the first file that is missing or has another SHA-256.
    public static func verify(_ backup: Backup) throws {
        for file in backup.manifest.files {
            try verify(file, at: (backup.directory as NSString).appendingPathComponent(file.path))
        }
    }

    /// Checks one file (or a copy of it at `path`) against its manifest entry.
    static func verify(_ file: BackupManifest.File, at path: String) throws {
        guard let actual = SHA256.hexDigest(ofFileAt: path) else {
            throw StorageError(code: .corrupt, message: "\(path) is missing or unreadable (listed in the manifest)")
        }
        guard actual.sha256 == file.sha256, actual.bytes == file.bytes else {
            throw StorageError(
                code: .corrupt,
                message: "\(path) has SHA-256 \(actual.sha256) (\(actual.bytes) bytes); the manifest says "
                    + "\(file.sha256) (\(file.bytes) bytes): the backup is damaged")
        }
    }

    /// Reads a backup's inventory: the record ids and attachment hashes the node held at its moment.
    static func inventory(of backup: Backup) throws -> (records: Set<String>, attachments: Set<String>) {
        let path = (backup.directory as NSString).appendingPathComponent(BackupManifest.inventoryFileName)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StorageError(code: .corrupt, message: "\(path) is missing")
        }
        var records: Set<String> = []
        var attachments: Set<String> = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("r ") { records.insert(String(line.dropFirst(2))) }
            if line.hasPrefix("b ") { attachments.insert(String(line.dropFirst(2))) }
        }
        return (records, attachments)
    }

    /// Holds `DIR/.lock` (an exclusive `flock`) while a backup is written, so two runs (the weekly and the daily
    /// timer catching up at boot) never write one chain at once.
    static func lock(_ directory: String) throws -> Int32 {
        let path = (directory as NSString).appendingPathComponent(".lock")
        let fd = Glibc.open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StorageError(code: .fileSystem, message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(fd)
            throw StorageError(
                code: .invalidOperation, message: "another backup is being written to \(directory); try again later")
        }
        return fd
    }
}
