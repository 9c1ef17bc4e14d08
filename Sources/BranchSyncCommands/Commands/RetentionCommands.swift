import BranchSyncCore
import BranchSyncStore

/// `branchsync retention due`, `branchsync destroy` and `branchsync destruction list`: material past its retention
/// period is destroyed on purpose and on record.
enum RetentionCommands {
    static let retentionSpec = CommandSpec(
        name: "retention", abstract: "records past their retention date",
        subcommands: [
            CommandSpec(
                name: "due",
                abstract: "list customers and documents held here whose retention date is past (oldest first)",
                options: [
                    OptionSpec(
                        "before", value: "DATE",
                        help: "list those to keep until before DATE (YYYY-MM-DD; default today)"),
                    .json, .csv,
                ],
                run: due)
        ])

    static let destroySpec = CommandSpec(
        name: "destroy",
        abstract: "destroy a customer or document on record: values and attachment wiped at every site",
        discussion: """
            Runs at the record's owner or at the hub. The record must be past its retention date (retainUntil); \
            earlier only with --early and a second approver. Its values and attachment are wiped here and at every \
            site it replicates to (freed space zeroed), and an entry is written to the destruction register \
            (record id, title or name, class, SHA-256 of its content, who, approvers, when, why), which replicates to \
            the hub and which no command changes or deletes. A destroyed record never comes back, not even from a \
            branch that was offline and changed it meanwhile.
            """,
        options: [
            OptionSpec("reason", value: "TEXT", help: "why it is destroyed (required)"),
            OptionSpec("approved-by", value: "NAME", help: "who approved the destruction (required)"),
            .flag("early", help: "destroy before the retention date (needs --second-approver)"),
            OptionSpec("second-approver", value: "NAME", help: "a second approver, other than --approved-by"),
            .json,
        ],
        arguments: [ArgumentSpec("ID", help: "the customer's or document's id")],
        run: destroy)

    static let destructionSpec = CommandSpec(
        name: "destruction", abstract: "the destruction register",
        subcommands: [
            CommandSpec(
                name: "list", abstract: "list the destruction-register entries held here (oldest first)",
                options: [.json, .csv], run: list)
        ])

    static func due(_ invocation: Invocation) throws -> Int32 {
        let date = invocation.value("before") ?? Timestamp.today()
        do { try CalendarDate.validate(date, field: "before") } catch {
            throw CLIError.usage("--before: \(error.message)")
        }
        let items = try invocation.openStore().retentionDue(before: date)
        var listing = Listing(["id", "collection", "owner", "title", "class", "retain until", "status"])
        for item in items {
            listing.append([
                item.id.description, item.collection.rawValue, item.owner.rawValue, item.title,
                item.classification.rawValue, item.retainUntil, item.status,
            ])
        }
        if invocation.flag("json") || invocation.flag("csv") {
            listing.print(to: invocation)
            return ExitCode.success
        }
        var table = TextTable(["id", "kind", "owner", "title or name", "class", "kept until", "status"])
        for item in items {
            table.append([
                item.id.description, item.collection.singular, item.owner.rawValue, item.title,
                item.classification.rawValue, item.retainUntil, item.status,
            ])
        }
        invocation.console.write(table.render())
        invocation.console.line(
            "\(items.count) record\(items.count == 1 ? "" : "s") past retention before \(date); destroy one with "
                + "`branchsync destroy ID --reason TEXT --approved-by NAME`")
        return ExitCode.success
    }

    static func destroy(_ invocation: Invocation) throws -> Int32 {
        let reason = try invocation.required("reason")
        let approver = try invocation.required("approved-by")
        let second = invocation.value("second-approver")
        if second != nil && !invocation.flag("early") {
            throw CLIError.usage("--second-approver is for a destruction before the retention date; add --early")
        }
        let id = try RecordID(invocation.arguments[0])
        let entry = try invocation.openStore().destroy(
            id,
            approval: DestructionApproval(
                reason: reason, approvedBy: approver, secondApprover: second, early: invocation.flag("early")))
        invocation.pokeDaemon()
        if invocation.flag("json") {
            invocation.console.line(entry.canonicalJSON)
        } else {
            invocation.console.line(
                "destroyed \(entry["recordCollection"] == "customers" ? "customer" : "document") \(id) "
                    + "(\(entry["title"] ?? "")); register entry \(entry.id), content sha256 "
                    + "\(entry["contentSha256"] ?? "")")
        }
        return ExitCode.success
    }

    static let registerColumns: [(header: String, field: String)] = [
        ("record", "recordId"), ("collection", "recordCollection"), ("owner", "recordOwner"), ("title", "title"),
        ("class", RecordState.classField), ("content sha256", "contentSha256"),
        ("retain until", RecordSchema.retainUntilField), ("destroyed by", "destroyedBy"),
        ("approved by", "approvedBy"), ("second approver", "secondApprover"), ("early", "early"),
        ("destroyed at", "destroyedAt"), ("reason", "reason"),
    ]

    static func list(_ invocation: Invocation) throws -> Int32 {
        let entries = try invocation.openStore().destructionRegister()
        var listing = Listing(["entry", "site"] + registerColumns.map(\.header))
        for entry in entries {
            listing.append(
                [entry.id.description, entry.owner.rawValue] + registerColumns.map { entry[$0.field] ?? "" })
        }
        if invocation.flag("json") || invocation.flag("csv") {
            listing.print(to: invocation)
            return ExitCode.success
        }
        var table = TextTable(["destroyed at", "site", "record", "title or name", "class", "approved by", "reason"])
        for entry in entries {
            let approvers = [entry["approvedBy"], entry["secondApprover"]].compactMap { $0 }.joined(separator: " + ")
            table.append([
                entry["destroyedAt"] ?? "", entry.owner.rawValue, entry["recordId"] ?? "", entry["title"] ?? "",
                entry[RecordState.classField] ?? "", approvers, entry["reason"] ?? "",
            ])
        }
        invocation.console.write(table.render())
        invocation.console.line("\(entries.count) destruction\(entries.count == 1 ? "" : "s") on record")
        return ExitCode.success
    }
}
