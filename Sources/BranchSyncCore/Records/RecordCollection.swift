/// The two collections a node stores.
public enum RecordCollection: String, Sendable, Hashable, CaseIterable, Comparable {
    case customers
    case documents

    /// The singular noun used in messages and CLI commands (`customer`, `document`).
    public var singular: String {
        switch self {
        case .customers: return "customer"
        case .documents: return "document"
        }
    }

    /// The one-byte code used in the binary encoding (`Protocol.md`).
    public var code: UInt8 {
        switch self {
        case .customers: return 1
        case .documents: return 2
        }
    }

    /// The collection with the given binary code, if any.
    public init?(code: UInt8) {
        switch code {
        case 1: self = .customers
        case 2: self = .documents
        default: return nil
        }
    }

    public static func < (lhs: RecordCollection, rhs: RecordCollection) -> Bool {
        lhs.code < rhs.code
    }
}
