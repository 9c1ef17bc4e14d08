import Foundation

/// Checks text against the Prometheus text exposition format 0.0.4, line by line, the way a scraper parses it.
enum ExpositionFormat {
    static let metricName = "[a-zA-Z_:][a-zA-Z0-9_:]*"
    static let labelName = "[a-zA-Z_][a-zA-Z0-9_]*"
    /// A label value between quotes: any character but `"`, `\` and a line feed, or one of the escapes `\\`, `\"`,
    /// `\n`.
    static let labelValue = #"(?:[^"\\\n]|\\\\|\\"|\\n)*"#
    static let float = #"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?Inf|NaN)"#

    static let help = regex(#"^# HELP (\#(metricName)) ((?:[^\\\n]|\\\\|\\n)*)$"#)
    static let type = regex(#"^# TYPE (\#(metricName)) (counter|gauge|histogram|summary|untyped)$"#)
    static let sample = regex(
        #"^(\#(metricName))(?:\{((?:\#(labelName)="\#(labelValue)")(?:,\#(labelName)="\#(labelValue)")*,?)?\})? (\#(float))(?: -?[0-9]+)?$"#
    )
    static let label = regex(#"(\#(labelName))="(\#(labelValue))""#)

    /// One sample line, parsed.
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// What a whole exposition holds, or the problems found: each line must be a `# HELP`, a `# TYPE` or a sample;
    /// each family has at most one HELP and one TYPE, both before its samples; the text ends with a line feed.
    static func check(_ text: String) -> (samples: [Sample], types: [String: String], problems: [String]) {
        var problems: [String] = []
        var samples: [Sample] = []
        var types: [String: String] = [:]
        var helps: Set<String> = []
        var sampled: Set<String> = []
        if !text.hasSuffix("\n") { problems.append("the text does not end with a line feed") }
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let line = String(line)
            let whole = NSRange(line.startIndex..., in: line)
            func group(_ match: NSTextCheckingResult, _ index: Int) -> String? {
                Range(match.range(at: index), in: line).map { String(line[$0]) }
            }
            if let match = help.firstMatch(in: line, range: whole), let name = group(match, 1) {
                if !helps.insert(name).inserted { problems.append("line \(number + 1): second HELP for \(name)") }
                if sampled.contains(name) { problems.append("line \(number + 1): HELP after samples of \(name)") }
            } else if let match = type.firstMatch(in: line, range: whole), let name = group(match, 1) {
                if types[name] != nil { problems.append("line \(number + 1): second TYPE for \(name)") }
                if sampled.contains(name) { problems.append("line \(number + 1): TYPE after samples of \(name)") }
                types[name] = group(match, 2)
            } else if let match = sample.firstMatch(in: line, range: whole), let name = group(match, 1),
                let valueText = group(match, 3)
            {
                var labels: [String: String] = [:]
                if let labelText = group(match, 2) {
                    let range = NSRange(labelText.startIndex..., in: labelText)
                    for pair in label.matches(in: labelText, range: range) {
                        guard let key = Range(pair.range(at: 1), in: labelText),
                            let value = Range(pair.range(at: 2), in: labelText)
                        else { continue }
                        if labels[String(labelText[key])] != nil {
                            problems.append("line \(number + 1): label \(labelText[key]) twice")
                        }
                        labels[String(labelText[key])] = unescape(String(labelText[value]))
                    }
                }
                let value: Double? =
                    switch valueText {
                    case "+Inf", "Inf": .infinity
                    case "-Inf": -.infinity
                    case "NaN": .nan
                    default: Double(valueText)
                    }
                guard let value else {
                    problems.append("line \(number + 1): value '\(valueText)' is not a float")
                    continue
                }
                sampled.insert(name)
                samples.append(Sample(name: name, labels: labels, value: value))
            } else {
                problems.append("line \(number + 1) is not HELP, TYPE or a sample: \(line)")
            }
        }
        return (samples, types, problems)
    }

    static func unescape(_ value: String) -> String {
        var out = ""
        var escaped = false
        for character in value {
            if escaped {
                out.append(character == "n" ? "\n" : character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                out.append(character)
            }
        }
        return out
    }

    private static func regex(_ pattern: String) -> NSRegularExpression {
        // The patterns are constants of this file: a typo fails every test at once, loudly.
        do { return try NSRegularExpression(pattern: pattern) } catch { fatalError("bad pattern \(pattern): \(error)") }
    }
}
