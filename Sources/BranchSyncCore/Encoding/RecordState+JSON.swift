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
                    CanonicalJSON.object([("context", $0.context.canonicalJSON), ("stamp", $0.stamp.canonicalJSON)])
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
