/// The list of information a site hands over when it is closed or merged (`site retire`, `handover list`): every
/// live customer and document the site answers for, with the SHA-256 of its content (Protocol.md §4.6) and of its
/// attachment, and totals.
///
/// It depends on nothing but those records, so the hub (before the handover) and the site itself, holding the same
/// records, write byte-identical files: the two compare equal with `cmp`.
public struct HandoverList: Sendable, Hashable {
    /// One record handed over.
    public struct Entry: Sendable, Hashable {
        public var collection: RecordCollection
        public var id: RecordID
        /// A document's title or a customer's name.
        public var title: String
        public var classification: Classification
        /// SHA-256 (hex) of the record's content (``RecordState/contentJSON``).
        public var contentSHA256: String
        public var attachmentName: String
        public var attachmentSHA256: String
        /// The attachment's size in bytes (0 without one).
        public var attachmentBytes: Int64

        public init(
            collection: RecordCollection, id: RecordID, title: String, classification: Classification,
            contentSHA256: String, attachmentName: String = "", attachmentSHA256: String = "",
            attachmentBytes: Int64 = 0
        ) {
            self.collection = collection
            self.id = id
            self.title = title
            self.classification = classification
            self.contentSHA256 = contentSHA256
            self.attachmentName = attachmentName
            self.attachmentSHA256 = attachmentSHA256
            self.attachmentBytes = attachmentBytes
        }

        /// The entry for `state`, whose content hashes to `contentSHA256`.
        public init(_ state: RecordState, contentSHA256: String) {
            self.init(
                collection: state.collection, id: state.id,
                title: state[state.collection == .customers ? "name" : "title"] ?? "",
                classification: state.classification, contentSHA256: contentSHA256,
                attachmentName: state["attachmentName"] ?? "",
                attachmentSHA256: state[RecordSchema.attachmentHashField] ?? "",
                attachmentBytes: Int64(state["attachmentSize"] ?? "") ?? 0)
        }
    }

    /// The site handing over.
    public var site: SiteID
    /// The records, in id order.
    public var entries: [Entry]

    public init(site: SiteID, entries: [Entry]) {
        self.site = site
        self.entries = entries.sorted { $0.id < $1.id }
    }

    /// The totals: customers, documents, attachments and their bytes.
    public var totals: (customers: Int, documents: Int, attachments: Int, attachmentBytes: Int64) {
        let documents = entries.filter { $0.collection == .documents }
        let attached = documents.filter { !$0.attachmentSHA256.isEmpty }
        return (
            entries.count - documents.count, documents.count, attached.count,
            attached.reduce(Int64(0)) { total, entry in
                let (sum, overflow) = total.addingReportingOverflow(max(0, entry.attachmentBytes))
                return overflow ? Int64.max : sum
            }
        )
    }

    static let columns = [
        "collection", "id", "title", "class", "content_sha256", "attachment_name", "attachment_sha256",
        "attachment_bytes",
    ]

    private func cells(_ entry: Entry) -> [String] {
        [
            entry.collection.rawValue, entry.id.description, entry.title, entry.classification.rawValue,
            entry.contentSHA256, entry.attachmentName, entry.attachmentSHA256, String(entry.attachmentBytes),
        ]
    }

    /// CSV (RFC 4180): a header, one row per record, then a `total` row (customers, documents, attachments and bytes
    /// in the columns `title`, `class`, `attachment_name`, `attachment_bytes`).
    public var csv: String {
        let totals = totals
        var text = CSV.row(Self.columns)
        for entry in entries { text += CSV.row(cells(entry)) }
        text += CSV.row([
            "total", site.rawValue, "\(totals.customers) customers", "\(totals.documents) documents", "",
            "\(totals.attachments) attachments", "", String(totals.attachmentBytes),
        ])
        return text
    }

    /// Canonical JSON (one object, a line per record, keys in a fixed order), ending with a newline.
    public var json: String {
        let totals = totals
        let records = entries.map { entry in
            CanonicalJSON.object(
                zip(Self.columns, cells(entry)).map { name, value in
                    (name, name == "attachment_bytes" ? value : CanonicalJSON.quote(value))
                })
        }
        let totalsObject = CanonicalJSON.object([
            ("customers", String(totals.customers)), ("documents", String(totals.documents)),
            ("attachments", String(totals.attachments)), ("attachment_bytes", String(totals.attachmentBytes)),
        ])
        return "{\"site\":\(CanonicalJSON.quote(site.rawValue)),\"totals\":\(totalsObject),\"records\":[\n"
            + records.joined(separator: ",\n") + (records.isEmpty ? "" : "\n") + "]}\n"
    }
}
