/// The collections a node stores: the group's customers and documents, the hub's replicated decisions about them (a
/// cleared suspicious-customer lead), each site's audit trail in blocks (which only the site and the hub hold), and
/// the destruction register (one entry per record destroyed past its retention).
public enum RecordCollection: String, Sendable, Hashable, CaseIterable, Comparable {
    case customers
    case documents
    case decisions
    case auditBlocks
    case destructions

    /// The singular noun used in messages and CLI commands (`customer`, `document`).
    public var singular: String {
        switch self {
        case .customers: return "customer"
        case .documents: return "document"
        case .decisions: return "decision"
        case .auditBlocks: return "audit block"
        case .destructions: return "destruction-register entry"
        }
    }

    /// The one-byte code used in the binary encoding (`Protocol.md`).
    public var code: UInt8 {
        switch self {
        case .customers: return 1
        case .documents: return 2
        case .decisions: return 3
        case .auditBlocks: return 4
        case .destructions: return 5
        }
    }

    /// The collection with the given binary code, if any.
    public init?(code: UInt8) {
        switch code {
        case 1: self = .customers
        case 2: self = .documents
        case 3: self = .decisions
        case 4: self = .auditBlocks
        case 5: self = .destructions
        default: return nil
        }
    }

    public static func < (lhs: RecordCollection, rhs: RecordCollection) -> Bool {
        lhs.code < rhs.code
    }
}
