import Foundation
import Testing

@testable import BranchSyncCore

/// Reads the `Vector: NAME` hex blocks out of Protocol.md so the spec and the code cannot drift apart.
enum ProtocolDocument {
    static var path: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Protocol.md").path
    }

    /// Name → bytes of every vector in the document, in order.
    static func vectors() throws -> [(name: String, bytes: [UInt8])] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        var result: [(String, [UInt8])] = []
        var index = 0
        while index < lines.count {
            if lines[index].hasPrefix("Vector: "), index + 1 < lines.count, lines[index + 1] == "```hex" {
                let name = String(lines[index].dropFirst("Vector: ".count))
                var bytes: [UInt8] = []
                index += 2
                while lines[index] != "```" {
                    bytes += lines[index].split(separator: " ").map { UInt8($0, radix: 16)! }
                    index += 1
                }
                result.append((name, bytes))
            }
            index += 1
        }
        return result
    }

    /// The JSON block following a vector's hex block, if any.
    static func json(after name: String) throws -> String? {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let marker = text.range(of: "Vector: \(name)\n"),
            let start = text.range(of: "```json\n", range: marker.upperBound..<text.endIndex),
            let end = text.range(of: "\n```", range: start.upperBound..<text.endIndex)
        else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }
}

@Suite struct ProtocolVectorTests {
    /// Protocol.md §4.1: the record-state vector decodes to the state described and re-encodes byte for byte.
    @Test func recordStateVectorRoundTrips() throws {
        let vectors = try ProtocolDocument.vectors().filter { $0.name == "record-state" }
        #expect(vectors.count == 1)
        for vector in vectors {
            let state = try RecordState(decoding: vector.bytes)
            #expect(state.encoded() == vector.bytes)
            #expect(state.isDeleted)
            #expect(state["code"] == "110002")
            #expect(state["name"] == "华信")
            #expect(state.versionVector == VersionVector([try SiteID("bj01"): 2, try SiteID("hq"): 5]))
            #expect(try ProtocolDocument.json(after: "record-state") == state.canonicalJSON)
        }
    }
}
