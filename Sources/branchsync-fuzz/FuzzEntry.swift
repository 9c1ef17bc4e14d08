import BranchSyncFuzzing
import Foundation

// Built two ways (docs/fuzzing.md):
// - for libFuzzer, with `-Xswiftc -DBRANCHSYNC_LIBFUZZER` and the fuzzer sanitizer: libFuzzer supplies `main` and
//   calls `LLVMFuzzerTestOneInput` with each input; `BRANCHSYNC_FUZZ_TARGET` picks the target;
// - normally: a replayer that runs files (or directories of them) through a target, for reproducing a crash without
//   the sanitizer toolchain.

/// The target named by `BRANCHSYNC_FUZZ_TARGET` (`frames`, `messages`, `states`); `frames` when unset.
let selectedTarget: FuzzTarget? = FuzzTarget(
    rawValue: ProcessInfo.processInfo.environment["BRANCHSYNC_FUZZ_TARGET"] ?? FuzzTarget.frames.rawValue)

#if BRANCHSYNC_LIBFUZZER
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
        guard let target = selectedTarget else {
            FileHandle.standardError.write(Data("BRANCHSYNC_FUZZ_TARGET must be frames, messages or states\n".utf8))
            exit(2)
        }
        if let finding = target.run(Array(UnsafeBufferPointer(start: data, count: size))) {
            // Deliberate: a broken law must crash so that libFuzzer keeps the input that shows it.
            fatalError("fuzz target \(target.rawValue): \(finding)")
        }
        return 0
    }
#else
    @main struct CorpusReplay {
        static func main() {
            let paths = Array(CommandLine.arguments.dropFirst())
            guard let target = selectedTarget, !paths.isEmpty, paths.first != "--help" else {
                print(
                    """
                    usage: BRANCHSYNC_FUZZ_TARGET=frames|messages|states branchsync-fuzz FILE|DIR...
                    Replays inputs through a fuzz target and reports the first broken law. To fuzz, build with
                    libFuzzer (docs/fuzzing.md).
                    """)
                exit(paths.first == "--help" ? 0 : 2)
            }
            var count = 0
            for path in paths.flatMap(files(at:)) {
                guard let data = FileManager.default.contents(atPath: path) else {
                    print("cannot read \(path)")
                    exit(2)
                }
                count += 1
                if let finding = target.run(Array(data)) {
                    print("\(path): \(finding)")
                    exit(1)
                }
            }
            print("\(target.rawValue): \(count) input(s), no finding")
        }

        static func files(at path: String) -> [String] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                return [path]
            }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return names.sorted().map { path + "/" + $0 }
        }
    }
#endif
