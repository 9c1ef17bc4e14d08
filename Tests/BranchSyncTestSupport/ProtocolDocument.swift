import Foundation

/// Reads the `Vector: NAME` hex blocks out of Protocol.md so the spec and the code cannot drift apart.
public enum ProtocolDocument {
    public static var path: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Protocol.md").path
    }

    /// Name → bytes of every vector in the document, in order.
    public static func vectors() throws -> [(name: String, bytes: [UInt8])] {
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

    /// The bytes of the vector called `name`.
    public static func vector(_ name: String) throws -> [UInt8]? {
        try vectors().first { $0.name == name }?.bytes
    }

    /// The JSON block following a vector's hex block, if any.
    public static func json(after name: String) throws -> String? {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let marker = text.range(of: "Vector: \(name)\n"),
            let start = text.range(of: "```json\n", range: marker.upperBound..<text.endIndex),
            let end = text.range(of: "\n```", range: start.upperBound..<text.endIndex)
        else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }
}
