import BranchSyncFuzzing
import BranchSyncTestSupport
import BranchSyncWire
import Foundation
import Testing

/// The committed fuzz corpus (`Tests/Fuzz/corpus`, docs/fuzzing.md): seeded from the Protocol.md vectors, replayed
/// through every fuzz target on every `swift test`, and mutated a little as a small fuzzer of its own.
/// `BRANCHSYNC_WRITE_CORPUS=1` rewrites the seeds from Protocol.md.
@Suite struct FuzzCorpusTests {
    static var corpus: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/corpus")
    }

    /// The seed inputs each target's corpus holds, by file name, from the Protocol.md vectors.
    static func seeds() throws -> [FuzzTarget: [String: [UInt8]]] {
        let vectors = try ProtocolDocument.vectors()
        let frames = vectors.filter { $0.name.hasPrefix("frame-") }
        var seeds: [FuzzTarget: [String: [UInt8]]] = [:]
        for (name, bytes) in frames {
            // Frames input: chunk seed, limit (0: before WELCOME for the handshake messages), then the stream.
            let beforeWelcome = ["frame-hello", "frame-challenge", "frame-auth", "frame-error"].contains(name)
            seeds[.frames, default: [:]][name] = [UInt8(bytes.count % 256), beforeWelcome ? 0 : 1] + bytes
            // Messages input: the type byte and the payload (the frame without its length).
            seeds[.messages, default: [:]][name] = Array(bytes.dropFirst(4))
        }
        seeds[.frames, default: [:]]["session"] = [7, 1] + frames.flatMap(\.bytes)
        seeds[.states, default: [:]]["record-state"] = try ProtocolDocument.vector("record-state") ?? []
        return seeds
    }

    static func inputs(of target: FuzzTarget) throws -> [(name: String, bytes: [UInt8])] {
        let directory = corpus.appendingPathComponent(target.rawValue)
        return try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().map {
            ($0, [UInt8](try Data(contentsOf: directory.appendingPathComponent($0))))
        }
    }

    @Test func theCorpusHoldsEveryProtocolVector() throws {
        let write = ProcessInfo.processInfo.environment["BRANCHSYNC_WRITE_CORPUS"] == "1"
        for (target, files) in try Self.seeds() {
            let directory = Self.corpus.appendingPathComponent(target.rawValue)
            if write { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
            for (name, bytes) in files {
                let url = directory.appendingPathComponent(name)
                if write { try Data(bytes).write(to: url) }
                let stored = FileManager.default.contents(atPath: url.path).map { [UInt8]($0) }
                #expect(
                    stored == bytes,
                    "\(target.rawValue)/\(name) differs from Protocol.md; rewrite the seeds with BRANCHSYNC_WRITE_CORPUS=1 swift test --filter FuzzCorpusTests"
                )
            }
        }
    }

    @Test func everyCorpusInputKeepsEveryLawOfEveryTarget() throws {
        var count = 0
        for source in FuzzTarget.allCases {
            for (name, bytes) in try Self.inputs(of: source) {
                for target in FuzzTarget.allCases {
                    #expect(target.run(bytes) == nil, "\(source.rawValue)/\(name) through \(target.rawValue)")
                    count += 1
                }
            }
        }
        #expect(count >= 3 * 40)
    }

    /// The seeds decode as what Protocol.md says they are, so the fuzzer starts from deep inside each decoder.
    @Test func theSeedsReachTheDecodersPastTheirFirstCheck() throws {
        for (name, bytes) in try Self.inputs(of: .messages) {
            let type = try #require(MessageType(rawValue: bytes[0]))
            #expect(throws: Never.self, "\(name)") {
                _ = try Message.decode(type: type, payload: Array(bytes.dropFirst()))
            }
        }
    }

    @Test func mutatedCorpusInputsKeepEveryLaw() throws {
        let seed = TestSeed.make()
        var random = SeededGenerator(seed: seed)
        let rounds = TestSeed.long ? 200_000 : 3_000
        for target in FuzzTarget.allCases {
            let inputs = try Self.inputs(of: target).map(\.bytes)
            for _ in 0..<rounds {
                var bytes = inputs[Int.random(in: 0..<inputs.count, using: &random)]
                for _ in 0...Int.random(in: 0..<4, using: &random) where !bytes.isEmpty {
                    let index = Int.random(in: 0..<bytes.count, using: &random)
                    switch Int.random(in: 0..<4, using: &random) {
                    case 0: bytes[index] = UInt8.random(in: 0...255, using: &random)
                    case 1: bytes[index] ^= 1 << UInt8.random(in: 0..<8, using: &random)
                    case 2: bytes.remove(at: index)
                    default: bytes.insert(UInt8.random(in: 0...255, using: &random), at: index)
                    }
                }
                if let finding = target.run(bytes) {
                    Issue.record(
                        "seed \(seed) (BRANCHSYNC_SEED=\(seed)): \(target.rawValue) input \(bytes.prefix(64)): \(finding)"
                    )
                    return
                }
            }
        }
    }
}
