/// The fields of a collection and the rules a record must satisfy at entry.
public struct RecordSchema: Sendable {
    /// The collection described.
    public let collection: RecordCollection
    /// Its fields in display order; the class field comes last.
    public let fields: [FieldSpec]
    /// Field name and flag → field.
    private let index: [String: FieldSpec]

    init(collection: RecordCollection, fields: [FieldSpec]) {
        self.collection = collection
        self.fields = fields
        var index: [String: FieldSpec] = [:]
        for field in fields {
            index[field.name] = field
            index[field.flag] = field
        }
        self.index = index
    }

    /// The schema of `collection`.
    public static func of(_ collection: RecordCollection) -> RecordSchema {
        switch collection {
        case .customers: return customers
        case .documents: return documents
        case .decisions: return decisions
        case .auditBlocks: return auditBlocks
        case .destructions: return destructions
        }
    }

    /// The field with the given record name or flag name.
    public func field(named name: String) -> FieldSpec? {
        index[name]
    }

    /// The field whose record name is exactly these UTF-8 bytes. Names from peers are matched this way: `String ==`
    /// is canonical equivalence, under which, for one, U+212A KELVIN SIGN equals `K`.
    public func field(exactly name: String) -> FieldSpec? {
        // The byte counts first: they differ for nearly every other field, and cost nothing to compare.
        fields.first { $0.name.utf8.count == name.utf8.count && $0.name.utf8.elementsEqual(name.utf8) }
    }

    /// Checks the values of a new record and fills in defaults.
    /// - Returns: the values to store, defaults included.
    /// - Throws: the first ``ValidationError`` found, in field order.
    public func validateNew(_ values: [String: String]) throws(ValidationError) -> [String: String] {
        try rejectUnknown(values)
        var result = values.filter { !$0.value.isEmpty }
        for spec in fields {
            if result[spec.name] == nil, let defaultValue = spec.defaultValue { result[spec.name] = defaultValue }
            guard let value = result[spec.name] else {
                if spec.isRequired {
                    throw ValidationError(
                        field: spec.name, message: "\(spec.flag) is required for a \(collection.singular)")
                }
                continue
            }
            try spec.validate(value)
        }
        return result
    }

    /// Checks changes to an existing record: each value must be valid, and required fields may not be cleared.
    /// - Throws: the first ``ValidationError`` found, in field order.
    public func validateChanges(_ changes: [String: String]) throws(ValidationError) {
        try rejectUnknown(changes)
        for spec in fields {
            guard let value = changes[spec.name] else { continue }
            if value.isEmpty {
                if spec.isRequired {
                    throw ValidationError(field: spec.name, message: "\(spec.flag) is required and cannot be cleared")
                }
                continue
            }
            try spec.validate(value)
        }
    }

    /// Checks the values `state` holds as ``validateNew(_:)`` checks a new record's (an empty value is no value, a
    /// field left out gets its default), without copying them into a dictionary first: every state a node receives
    /// goes through here.
    /// - Throws: the first ``ValidationError`` found, in field order, after any field the collection does not have.
    public func validateValues(of state: RecordState) throws(ValidationError) {
        var unknown: String?
        for (name, field) in state.fields where !field.value.isEmpty && !fields.contains(where: { $0.name == name }) {
            if let found = unknown, found <= name { continue }
            unknown = name
        }
        if let unknown {
            throw ValidationError(field: unknown, message: "\(collection.singular) has no field '\(unknown)'")
        }
        for spec in fields {
            let stored = state.fields[spec.name]?.value ?? ""
            guard let value = stored.isEmpty ? spec.defaultValue : stored else {
                if spec.isRequired {
                    throw ValidationError(
                        field: spec.name, message: "\(spec.flag) is required for a \(collection.singular)")
                }
                continue
            }
            try spec.validate(value)
        }
    }

    private func rejectUnknown(_ values: [String: String]) throws(ValidationError) {
        if let name = values.keys.filter({ index[$0]?.name != $0 }).min() {
            throw ValidationError(field: name, message: "\(collection.singular) has no field '\(name)'")
        }
    }

    private static let classSpec = FieldSpec(
        RecordState.classField, format: .oneOf(Classification.allCases.map(\.rawValue)), default: "internal",
        summary: "confidentiality: public, internal, confidential or secret")

    private static let sharedWithSpec = FieldSpec(
        RecordState.sharedWithField, system: true, format: .siteList,
        summary: "sites a confidential record is shared with (set at the hub by share/unshare)")

    private static let custodianSpec = FieldSpec(
        RecordState.custodianField, system: true, format: .siteID,
        summary: "the successor answering for the record after its owner was retired (set by site retire)")

    /// Customers (DESIGN.md §2).
    public static let customers = RecordSchema(
        collection: .customers,
        fields: [
            FieldSpec("code", required: true, format: .customerCode, summary: "6 digits, the first 2 a region code"),
            FieldSpec("name", required: true, format: .text(maxLength: 200), summary: "company name"),
            FieldSpec(
                "creditCode", required: true, format: .creditCode,
                summary: "18-character unified social credit code (GB 32100-2015)"),
            FieldSpec("contact", format: .text(maxLength: 100), summary: "contact person"),
            FieldSpec("phone", format: .phone, summary: "mobile (13812345678) or landline (010-12345678)"),
            FieldSpec("email", format: .email, summary: "e-mail address"),
            FieldSpec("address", format: .text(maxLength: 300), summary: "postal address"),
            FieldSpec("industry", format: .text(maxLength: 100), summary: "industry"),
            FieldSpec(
                "category", format: .oneOf(["general", "special"]), default: "general",
                summary: "general or special"),
            FieldSpec("bankAccount", format: .bankAccount, summary: "bank account number"),
            FieldSpec("notes", format: .text(maxLength: 2000), summary: "free notes"),
            FieldSpec(retainUntilField, format: .date, summary: "keep at least until YYYY-MM-DD"),
            FieldSpec(
                mergedIntoField, system: true, format: .recordID,
                summary: "the customer this duplicate was merged into (set by customer merge)"),
            sharedWithSpec,
            custodianSpec,
            classSpec,
        ])

    /// A block of consecutive entries of one site's audit trail (Protocol.md §4.5). Its class is always `secret`, so
    /// only its site and the hub hold it: a branch never receives another site's audit trail.
    public static let auditBlocks = RecordSchema(
        collection: .auditBlocks,
        fields: [
            FieldSpec("firstEntry", required: true, format: .count, summary: "sequence number of the first entry"),
            FieldSpec("lastEntry", required: true, format: .count, summary: "sequence number of the last entry"),
            FieldSpec(
                "entries", required: true, format: .text(maxLength: AuditLine.maximumBlockCharacters),
                summary: "the entries, one line each (AuditLine)"),
            FieldSpec(
                RecordState.classField, required: true, format: .oneOf([Classification.secret.rawValue]),
                summary: "always secret"),
        ])

    /// The field of customers and documents holding the date until which the record must be kept.
    public static let retainUntilField = "retainUntil"

    /// An entry of the destruction register: what was destroyed, by whom, approved by whom, when and why (Protocol.md
    /// §4.6). Written once, in the transaction that destroys the record; append-only like an audit block. Its class is
    /// the destroyed record's, so it reaches exactly the sites that could hold the record (always the hub).
    public static let destructions = RecordSchema(
        collection: .destructions,
        fields: [
            FieldSpec("recordId", required: true, format: .recordID, summary: "the destroyed record"),
            FieldSpec(
                "recordCollection", required: true,
                format: .oneOf([RecordCollection.customers.rawValue, RecordCollection.documents.rawValue]),
                summary: "customers or documents"),
            FieldSpec("recordOwner", required: true, format: .text(maxLength: 32), summary: "the record's owner"),
            FieldSpec("title", required: true, format: .text(maxLength: 300), summary: "its title or name"),
            FieldSpec(
                "contentSha256", required: true, format: .sha256,
                summary: "SHA-256 of its values before the destruction (Protocol.md §4.6)"),
            FieldSpec(retainUntilField, format: .date, summary: "the retention date it had"),
            FieldSpec("destroyedBy", required: true, format: .text(maxLength: 120), summary: "who destroyed it"),
            FieldSpec("approvedBy", required: true, format: .text(maxLength: 120), summary: "who approved"),
            FieldSpec(
                "secondApprover", format: .text(maxLength: 120),
                summary: "the second approver of a destruction before the retention date"),
            FieldSpec("early", required: true, format: .oneOf(["no", "yes"]), summary: "before its retention date"),
            FieldSpec("destroyedAt", required: true, format: .text(maxLength: 40), summary: "when (UTC, ISO 8601)"),
            FieldSpec("reason", required: true, format: .text(maxLength: 500), summary: "why"),
            classSpec,
        ])

    /// The customer field naming the record a deleted duplicate was merged into.
    public static let mergedIntoField = "mergedInto"

    /// The verdicts a decision records.
    public static let decisionVerdicts = ["cleared"]

    /// Decisions the hub makes and every site that holds the records concerned sees: today a suspicious-customer
    /// lead investigated and cleared. A decision's id is the lead's id, so every site names it alike.
    public static let decisions = RecordSchema(
        collection: .decisions,
        fields: [
            FieldSpec(
                "lead", required: true, format: .oneOf(SuspicionKind.allCases.map(\.rawValue)),
                summary: "what the two customers share"),
            FieldSpec("value", required: true, format: .text(maxLength: 60), summary: "the shared value"),
            FieldSpec("firstCustomer", required: true, format: .recordID, summary: "one customer of the lead"),
            FieldSpec("secondCustomer", required: true, format: .recordID, summary: "the other customer"),
            FieldSpec(
                "verdict", required: true, format: .oneOf(decisionVerdicts), summary: "what was decided: cleared"),
            FieldSpec("reason", required: true, format: .text(maxLength: 500), summary: "why"),
            FieldSpec("decidedBy", required: true, format: .text(maxLength: 120), summary: "who decided"),
            classSpec,
        ])

    /// The document kinds.
    public static let documentKinds = ["administrative", "market"]
    /// The document types.
    public static let documentTypes = ["contract", "quotation", "report", "fax", "email", "minutes", "other"]
    /// The document retention states.
    public static let documentStatuses = ["active", "archived", "destroyed"]

    /// The document field holding the SHA-256 (lowercase hex) of the attached file's bytes.
    public static let attachmentHashField = "attachmentSha256"

    /// Documents (DESIGN.md §2). The attachment fields are set by the store from the file's bytes.
    public static let documents = RecordSchema(
        collection: .documents,
        fields: [
            FieldSpec("title", required: true, format: .text(maxLength: 300), summary: "document title"),
            FieldSpec("kind", required: true, format: .oneOf(documentKinds), summary: "administrative or market"),
            FieldSpec(
                "type", required: true, format: .oneOf(documentTypes), summary: documentTypes.joined(separator: ", ")),
            FieldSpec("customerId", format: .recordID, summary: "id of the customer the document concerns"),
            FieldSpec("body", format: .text(maxLength: 100_000), summary: "text of the document"),
            FieldSpec("attachmentName", system: true, format: .text(maxLength: 255), summary: "attached file name"),
            FieldSpec(attachmentHashField, system: true, format: .sha256, summary: "SHA-256 of the attachment"),
            FieldSpec("attachmentSize", system: true, format: .count, summary: "attachment size in bytes"),
            FieldSpec(retainUntilField, format: .date, summary: "keep at least until YYYY-MM-DD"),
            FieldSpec(
                "status", format: .oneOf(documentStatuses), default: "active",
                summary: "active, archived or destroyed"),
            sharedWithSpec,
            custodianSpec,
            classSpec,
        ])
}
