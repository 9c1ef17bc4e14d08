/// Whether a node is the group's hub or a branch office.
public enum NodeRole: String, Sendable, Hashable, CaseIterable {
    case hub
    case branch
}
