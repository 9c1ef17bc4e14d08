import BranchSyncTestSupport
import Testing

@testable import BranchSyncCore

/// `escapedForDisplay`, which makes a peer's string safe for a log line or a table.
@Suite struct DisplayTextTests {
    /// The escaping as specified, one scalar at a time: what the fast path must agree with.
    static func reference(_ text: String, limit: Int) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            let isControl =
                scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value)
                || scalar.value == 0x2028 || scalar.value == 0x2029
            let shown = isControl ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
            guard count + shown.unicodeScalars.count <= limit else {
                out += "…"
                break
            }
            out += shown
            count += shown.unicodeScalars.count
        }
        return out
    }

    @Test func controlCharactersAreEscapedAndLengthIsCapped() {
        #expect("bj01 华信".escapedForDisplay() == "bj01 华信")
        #expect("a\nb".escapedForDisplay() == "a\\u{a}b")
        #expect("x\u{2028}y\u{85}z\u{7F}".escapedForDisplay() == "x\\u{2028}y\\u{85}z\\u{7f}")
        #expect("abcdef".escapedForDisplay(limit: 3) == "abc…")
        #expect("华信科技".escapedForDisplay(limit: 4) == "华信科技")
        #expect("华信科技有".escapedForDisplay(limit: 4) == "华信科技…")
        // Bytes that only look like the encodings of U+0085 or U+2028 in other characters are not controls.
        #expect("\u{C5}\u{2029}".escapedForDisplay() == "\u{C5}\\u{2029}")
        #expect("\u{20A8}\u{E280}".escapedForDisplay() == "\u{20A8}\u{E280}")
    }

    /// Random strings mixing ASCII, controls, C1 controls, line separators, CJK and emoji, with random limits, escape
    /// exactly as the scalar-by-scalar reference does.
    @Test func theFastPathAgreesWithTheReference() {
        let seed = TestSeed.make()
        var random = SeededGenerator(seed: seed)
        let alphabet: [Unicode.Scalar] = [
            "a", "Z", " ", "\n", "\t", "\u{0}", "\u{7F}", "\u{80}", "\u{85}", "\u{9F}", "\u{A0}", "\u{C2}", "\u{2028}",
            "\u{2029}", "\u{202A}", "\u{E280}", "华", "信", "😀", "é",
        ]
        for _ in 0..<2_000 {
            var text = ""
            for _ in 0..<Int.random(in: 0...12, using: &random) {
                text.unicodeScalars.append(alphabet.randomElement(using: &random) ?? "a")
            }
            let limit = Int.random(in: 0...14, using: &random)
            #expect(
                text.escapedForDisplay(limit: limit) == Self.reference(text, limit: limit),
                "seed \(seed): \(Array(text.unicodeScalars)) limit \(limit)")
        }
    }
}

/// The e-mail shape rule's byte-level path agrees with the character-level one on every ASCII address.
@Suite struct EmailShapeTests {
    @Test func theByteLevelRuleAgreesWithTheCharacterLevelRule() {
        let seed = TestSeed.make()
        var random = SeededGenerator(seed: seed)
        let alphabet = Array("ab.@.@ \t-_1Z")
        for _ in 0..<5_000 {
            let text = String(
                (0..<Int.random(in: 0...10, using: &random)).map { _ in
                    alphabet.randomElement(using: &random) ?? "a"
                })
            #expect(
                EmailAddress.hasShape(ascii: text.utf8) == EmailAddress.hasShape(text), "seed \(seed): '\(text)'")
        }
        for (text, valid) in [
            ("li@hq.example.cn", true), ("li@cn", false), ("@hq.cn", false), ("li@hq.c", false), ("li@.cn", false),
            ("li@hq..cn", false), ("li@hq.cn.", false), ("l i@hq.cn", false), ("li@@hq.cn", false),
            ("李@公司.中国", true), ("李@公司.中", false),
        ] {
            #expect(((try? EmailAddress.validate(text)) != nil) == valid, "\(text)")
        }
    }
}
