/// One metric of the Prometheus text exposition format (version 0.0.4): a name, its help text, its type and its
/// samples, each a set of labels and a value.
public struct MetricFamily: Sendable, Equatable {
    /// The metric type written in the `# TYPE` line.
    public enum Kind: String, Sendable {
        /// Only goes up (it resets to 0 when the process restarts); read with `rate()`.
        case counter
        /// Goes up and down.
        case gauge
    }

    /// One line `name{label="value",…} value`.
    public struct Sample: Sendable, Equatable {
        /// Label names and values, in the order written. Names are ours (`site`, `direction`); values may be
        /// anything and are escaped when rendered.
        public var labels: [(String, String)]
        public var value: Double

        public init(_ labels: [(String, String)] = [], _ value: Double) {
            self.labels = labels
            self.value = value
        }

        public static func == (lhs: Sample, rhs: Sample) -> Bool {
            lhs.labels.elementsEqual(rhs.labels, by: ==) && lhs.value.bitPattern == rhs.value.bitPattern
        }
    }

    /// The metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    public var name: String
    public var help: String
    public var kind: Kind
    public var samples: [Sample]

    public init(_ name: String, _ kind: Kind, help: String, samples: [Sample] = []) {
        self.name = name
        self.kind = kind
        self.help = help
        self.samples = samples
    }

    /// Adds a sample.
    public mutating func add(_ labels: [(String, String)] = [], _ value: Double) {
        samples.append(Sample(labels, value))
    }

    /// Adds a sample from an integer count.
    public mutating func add(_ labels: [(String, String)] = [], _ value: Int64) {
        samples.append(Sample(labels, Double(value)))
    }

    /// Adds 1 when `flag` holds, else 0.
    public mutating func add(_ labels: [(String, String)] = [], _ flag: Bool) {
        samples.append(Sample(labels, flag ? 1 : 0))
    }
}
