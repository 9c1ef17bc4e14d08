import BranchSyncCore
import BranchSyncTestSupport
import Testing

/// Audit blocks as they travel (Protocol.md §4.5): lines of ten escaped, tab-separated fields.
@Suite struct AuditLineTests {
    /// Pieces of field text that an escape must survive: separators, the escape character itself, CR LF (one
    /// `Character` in Swift, two bytes on the line), multi-byte and combining characters.
    private static let pieces = [
        "a", "Z", "0", " ", "\t", "\n", "\r", "\r\n", "\\", "\\t", "\\\\n", "é", "e\u{301}", "王", "华信", "🏢", "\u{0}",
        "\t\u{301}", "x\\",
    ]

    private static func text(_ random: inout SeededGenerator) -> String {
        (0..<Int.random(in: 0...6, using: &random)).map { _ in pieces.randomElement(using: &random) ?? "" }.joined()
    }

    /// Seeded (`BRANCHSYNC_SEED` replays): any fields, encoded into a block and decoded, come back as they were.
    @Test func aBlockOfAnyFieldsDecodesToTheLinesEncoded() throws {
        let seed = TestSeed.make()
        var random = SeededGenerator(seed: seed)
        for round in 0..<200 {
            let lines = (1...Int.random(in: 1...8, using: &random)).map { seq in
                AuditLine(
                    seq: Int64(seq), at: Self.text(&random), actor: Self.text(&random), origin: Self.text(&random),
                    action: Self.text(&random), collection: Self.text(&random), recordID: Self.text(&random),
                    detail: Self.text(&random), previousHash: Self.text(&random), hash: Self.text(&random))
            }
            let block = lines.map(\.encoded).joined(separator: "\n")
            #expect(!block.utf8.contains(UInt8(ascii: "\r")), "seed \(seed), round \(round)")
            #expect(try AuditLine.decodeBlock(block) == lines, "seed \(seed), round \(round)")
        }
    }

    /// A line that is not ten fields with a positive sequence number is named by its number.
    @Test func aMalformedLineIsNamed() {
        let good = AuditLine(
            seq: 1, at: "2026-11-24T10:00:00.000Z", actor: "王", origin: "cli@bj", action: "create",
            collection: "customers", recordID: "", detail: "d", previousHash: "p", hash: "h"
        ).encoded
        let cases: [(String, Int)] = [
            ("", 1),
            (good + "\n", 2),
            (good + "\n" + good + "\tx", 2),
            (good + "\n" + good.replacingFirstTab(), 2),
            ("0" + good.dropFirst(), 1),
            ("x" + good.dropFirst(), 1),
            (good + "\r\n" + good, 1),
            (good + "\n\n" + good, 2),
        ]
        for (block, line) in cases {
            #expect(throws: ValidationError.self, "\(block.debugDescription)") { try AuditLine.decodeBlock(block) }
            do { _ = try AuditLine.decodeBlock(block) } catch {
                #expect(
                    error.message == "line \(line) of the audit block is not an audit entry",
                    "\(block.debugDescription)")
            }
        }
    }
}

extension String {
    fileprivate func replacingFirstTab() -> String {
        guard let tab = firstIndex(of: "\t") else { return self }
        return String(self[..<tab]) + " " + String(self[index(after: tab)...])
    }
}
