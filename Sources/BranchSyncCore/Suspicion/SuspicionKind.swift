/// What two different live customers share that makes them a suspicious-customer lead (the group's rules: the same
/// phone or bank account; and the same unified social credit code or customer code, typically one company entered
/// at two offline branches).
public enum SuspicionKind: String, Sendable, Hashable, CaseIterable, Comparable {
    case phone
    case bankAccount = "bank-account"
    case creditCode = "credit-code"
    case customerCode = "customer-code"

    /// The customer field compared.
    public var field: String {
        switch self {
        case .phone: return "phone"
        case .bankAccount: return "bankAccount"
        case .creditCode: return "creditCode"
        case .customerCode: return "code"
        }
    }

    /// A phrase for listings: "same phone".
    public var phrase: String {
        switch self {
        case .phone: return "same phone"
        case .bankAccount: return "same bank account"
        case .creditCode: return "same credit code"
        case .customerCode: return "same customer code"
        }
    }

    /// The value compared for `state`, normalised as stored (a bank account without its spaces), or `nil` when the
    /// customer has none.
    public func value(of state: RecordState) -> String? {
        guard state.collection == .customers, let value = state[field] else { return nil }
        return self == .bankAccount ? value.filter { $0 != " " } : value
    }

    public static func < (lhs: SuspicionKind, rhs: SuspicionKind) -> Bool {
        lhs.rawValue.utf8.lexicographicallyPrecedes(rhs.rawValue.utf8)
    }
}
