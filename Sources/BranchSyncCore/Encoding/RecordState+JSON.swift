/// The canonical JSON form of a record state used by `export --json`: keys in a fixed order, fields and vector
/// entries sorted, no whitespace. Two replicas holding the same states export the same bytes.
extension RecordState {
    /// One JSON object, on one line.
    public var canonicalJSON: String {
        let fieldMembers = fields.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { name, field in
            (
                name,
                CanonicalJSON.object([
                    ("value", CanonicalJSON.quote(field.value)), ("stamp", field.stamp.canonicalJSON),
                ])
            )
        }
        return CanonicalJSON.object([
            ("id", CanonicalJSON.quote(id.description)),
            ("collection", CanonicalJSON.quote(collection.rawValue)),
            ("owner", CanonicalJSON.quote(owner.rawValue)),
            ("deleted", isDeleted ? "true" : "false"),
            ("vv", versionVector.canonicalJSON),
            (
                "deletion",
                deletion.map {
                    CanonicalJSON.object(
                        [("context", $0.context.canonicalJSON), ("stamp", $0.stamp.canonicalJSON)]
                            + ($0.isDestruction ? [("destroyed", "true")] : []))
                } ?? "null"
            ),
            ("fields", CanonicalJSON.object(fieldMembers)),
        ])
    }
}

extension VersionVector {
    /// `{"site":counter,…}` sorted by site.
    public var canonicalJSON: String {
        CanonicalJSON.object(sortedEntries.map { ($0.site.rawValue, String($0.counter)) })
    }
}

extension Stamp {
    /// `{"site":…,"counter":…,"wall":…,"logical":…}`.
    public var canonicalJSON: String {
        CanonicalJSON.object([
            ("site", CanonicalJSON.quote(dot.site.rawValue)), ("counter", String(dot.counter)),
            ("wall", String(time.wallMilliseconds)), ("logical", String(time.logical)),
        ])
    }
}

extension RecordState {
    /// The record's content as one canonical JSON object: its non-empty values by field name, sorted by the names'
    /// UTF-8 bytes, without stamps or history. Equal content gives equal bytes at every site; the destruction register
    /// and the handover list name a record's content by the SHA-256 of these bytes (Protocol.md §4.6).
    public var contentJSON: String {
        CanonicalJSON.object(
            plainValues.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map {
                ($0.key, CanonicalJSON.quote($0.value))
            })
    }
}
