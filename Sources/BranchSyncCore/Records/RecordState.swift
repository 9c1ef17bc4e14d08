/// The complete, replicable state of one record: fields with per-field stamps, version vector and tombstone.
///
/// Changes travel as whole states (DESIGN.md §3), so applying one is idempotent and order-independent.
public struct RecordState: Sendable, Hashable {
    /// The record's id.
    public var id: RecordID
    /// The collection the record belongs to; fixed at creation.
    public var collection: RecordCollection
    /// The site that created the record; fixed at creation.
    public var owner: SiteID
    /// The causal history of the record.
    public var versionVector: VersionVector
    /// Field name → value and stamp. The confidentiality class is the field ``RecordState/classField``.
    public var fields: [String: FieldValue]
    /// The tombstone, if the record was ever deleted.
    public var deletion: Deletion?

    /// The name of the field that holds the confidentiality class.
    public static let classField = "class"
    /// The name of the field listing the sites a confidential record is shared with (set at the hub only).
    public static let sharedWithField = "sharedWith"
    /// The most sites one record is shared with.
    public static let maximumShares = 64

    /// The name of the field naming the site that answers for the record after its owner was retired (set at the hub
    /// by `site retire`).
    public static let custodianField = "custodian"

    /// The site that answers for the record: its owner, or the successor the hub handed it to when the owner was
    /// retired. Scope and the owner's rights (reclassify, delete, destroy) follow it.
    public var custodian: SiteID {
        guard let text = self[Self.custodianField], let site = try? SiteID(text) else { return owner }
        return site
    }

    /// The fields that decide which sites may hold the record (``Scope``): a destroyed record keeps these, so its
    /// tombstone reaches every site that may hold a copy.
    public static let scopeFields = [classField, custodianField, sharedWithField]

    /// Whether `name` (compared as bytes) is one of the ``scopeFields``.
    public static func isScopeField(_ name: String) -> Bool {
        scopeFields.contains { $0.utf8.elementsEqual(name.utf8) }
    }

    /// The sites this record is shared with beyond its class (a confidential record, `customer share`), ascending.
    public var sharedWith: [String] {
        self[Self.sharedWithField].map { $0.split(separator: ",").map(String.init) } ?? []
    }

    public init(
        id: RecordID, collection: RecordCollection, owner: SiteID,
        versionVector: VersionVector = VersionVector(), fields: [String: FieldValue] = [:], deletion: Deletion? = nil
    ) {
        self.id = id
        self.collection = collection
        self.owner = owner
        self.versionVector = versionVector
        self.fields = fields
        self.deletion = deletion
    }

    /// Whether the record is deleted: a tombstone covers every field write it holds.
    public var isDeleted: Bool {
        guard let deletion else { return false }
        return deletion.isDestruction || fields.values.allSatisfy { deletion.context.covers($0.stamp.dot) }
    }

    /// Whether the record was destroyed (``Deletion/isDestruction``): no values, and nothing brings it back.
    public var isDestroyed: Bool { deletion?.isDestruction ?? false }

    /// The value of `field`, or `nil` when never set or cleared.
    public subscript(field: String) -> String? {
        guard let value = fields[field]?.value, !value.isEmpty else { return nil }
        return value
    }

    /// The confidentiality class; `internal` when the field is missing.
    public var classification: Classification {
        self[Self.classField].flatMap(Classification.init(rawValue:)) ?? .internal
    }

    /// The newest stamp anywhere in the record (fields or tombstone).
    public var newestStamp: Stamp? {
        var newest = deletion?.stamp
        for field in fields.values where newest.map({ field.stamp > $0 }) ?? true {
            newest = field.stamp
        }
        return newest
    }

    /// The newest HLC time among the field stamps (the tombstone's stamp is for display and orders nothing).
    public var newestFieldTime: HLCTimestamp? {
        fields.values.map(\.stamp.time).max()
    }

    /// Field values only, without stamps, leaving out cleared fields.
    public var plainValues: [String: String] {
        var result: [String: String] = [:]
        for (name, field) in fields where !field.value.isEmpty {
            result[name] = field.value
        }
        return result
    }

    /// Applies a local write: every field in `changes` whose value differs (as bytes) gets the new `stamp`,
    /// and the version vector includes the write's dot. A write to a deleted record brings it back.
    ///
    /// The vector entry of the writing site only grows: a stamp from ``WriteClock`` is always above it, and a
    /// lower one (a caller's bug) must not make the record forget writes it holds.
    /// - Returns: the names of the fields whose value changed.
    @discardableResult
    public mutating func applyLocalWrite(_ changes: [String: String], stamp: Stamp) -> [String] {
        let wasDeleted = isDeleted
        var changed: [String] = []
        for (name, value) in changes.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) })
        where !FieldValue.sameBytes(fields[name]?.value ?? "", value) || fields[name] == nil {
            fields[name] = FieldValue(value: value, stamp: stamp)
            changed.append(name)
        }
        if wasDeleted && changed.isEmpty,
            let first = fields.keys.min(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }),
            let current = fields[first]
        {
            // Undelete with no value change still needs one write the tombstone does not cover.
            fields[first] = FieldValue(value: current.value, stamp: stamp)
        }
        includeInHistory(stamp.dot)
        return changed
    }

    /// Applies a local delete: the tombstone covers every write this record holds, so the record is deleted
    /// afterwards whatever the state looked like (even a field stamp its version vector failed to include).
    public mutating func applyLocalDelete(stamp: Stamp) {
        for field in fields.values { includeInHistory(field.stamp.dot) }
        includeInHistory(stamp.dot)
        let tombstone = Deletion(context: versionVector, stamp: stamp)
        deletion = deletion.map { $0.merged(with: tombstone) } ?? tombstone
    }

    /// Applies a local write of ``scopeFields`` (the hub handing a record on, or sharing it) that leaves a deleted
    /// record deleted and a destroyed one destroyed: the tombstone covers the write. (A plain ``applyLocalWrite(_:stamp:)``
    /// would bring a deleted record back with all its old values.)
    public mutating func applyScopeWrite(_ changes: [String: String], stamp: Stamp) {
        let wasDeleted = isDeleted
        applyLocalWrite(changes, stamp: stamp)
        guard wasDeleted, let deletion else { return }
        self.deletion = Deletion(
            context: deletion.context.merged(with: VersionVector([stamp.dot.site: stamp.dot.counter])),
            stamp: deletion.stamp, isDestruction: deletion.isDestruction)
        self = normalizedDestruction()
    }

    /// Applies a local destruction: every value is wiped but those saying where the record may be held (class,
    /// custodian, share list: ``scopeFields``), and the tombstone, marked as a destruction, covers the record's whole
    /// history.
    public mutating func applyLocalDestruction(stamp: Stamp) {
        for field in fields.values { includeInHistory(field.stamp.dot) }
        includeInHistory(stamp.dot)
        deletion = Deletion(context: versionVector, stamp: max(stamp, deletion?.stamp ?? stamp), isDestruction: true)
        self = normalizedDestruction()
    }

    /// This state as a destruction leaves it: only the ``scopeFields``, the tombstone's context the whole version
    /// vector. Unchanged when the record is not destroyed.
    public func normalizedDestruction() -> RecordState {
        guard let deletion, deletion.isDestruction else { return self }
        var result = self
        result.versionVector.merge(deletion.context)
        result.fields = fields.filter { Self.isScopeField($0.key) }
        result.deletion = Deletion(context: result.versionVector, stamp: deletion.stamp, isDestruction: true)
        return result
    }

    /// Makes the version vector include `dot`, never lowering an entry.
    private mutating func includeInHistory(_ dot: Dot) {
        if versionVector[dot.site] < dot.counter { versionVector[dot.site] = dot.counter }
    }
}
