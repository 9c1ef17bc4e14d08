import BranchSyncCore
import BranchSyncStore
import Foundation

/// `branchsync customer …` and `branchsync document …`: add, update, delete, show, list (and attachments).
enum RecordCommands {
    static func spec(for collection: RecordCollection) -> CommandSpec {
        let noun = collection.singular
        var subcommands = [
            CommandSpec(
                name: "add", abstract: "create a \(noun) and print its id",
                options: fieldOptions(collection, forAdd: true) + [.json],
                run: { try add(collection, $0) }),
            CommandSpec(
                name: "update", abstract: "change fields of a \(noun) (an empty value clears an optional field)",
                options: fieldOptions(collection, forAdd: false) + [.json],
                arguments: [ArgumentSpec("ID", help: "the \(noun)'s id")],
                run: { try update(collection, $0) }),
            CommandSpec(
                name: "delete", abstract: "delete a \(noun) (a tombstone that replicates; history is kept)",
                arguments: [ArgumentSpec("ID", help: "the \(noun)'s id")],
                run: { try delete(collection, $0) }),
            CommandSpec(
                name: "show", abstract: "show one \(noun) with its version vector and field stamps",
                discussion:
                    "A confidential or secret \(noun) is shown only with --purpose, which the audit trail keeps.",
                options: [.purpose, .json],
                arguments: [
                    ArgumentSpec(
                        "ID", help: collection == .customers ? "the customer's id or 6-digit code" : "the \(noun)'s id")
                ],
                run: { try show(collection, $0) }),
            CommandSpec(
                name: "list", abstract: "list \(collection.rawValue)",
                options: [.flag("include-deleted", help: "also list deleted \(collection.rawValue)"), .json],
                run: { try list(collection, $0) }),
        ]
        for (name, abstract) in [
            ("share", "share a confidential \(noun) with a site beyond its class (hub only; secret ones never)"),
            ("unshare", "stop sharing a \(noun) with a site: it is purged there (hub only)"),
        ] {
            subcommands.append(
                CommandSpec(
                    name: name, abstract: abstract,
                    options: [OptionSpec("with", value: "SITE", help: "the site (required)")],
                    arguments: [ArgumentSpec("ID", help: "the \(noun)'s id")],
                    run: { try share(collection, $0, name == "share") }))
        }
        if collection == .customers {
            subcommands.append(
                CommandSpec(
                    name: "merge",
                    abstract: "merge a duplicate customer into the one kept (hub only): documents re-linked, the "
                        + "duplicate deleted with a pointer to the kept one",
                    arguments: [
                        ArgumentSpec("KEEP", help: "the customer kept"),
                        ArgumentSpec("DUPLICATE", help: "the duplicate, deleted once merged"),
                    ],
                    run: merge))
        }
        if collection == .documents {
            subcommands.append(
                CommandSpec(
                    name: "archive",
                    abstract: "archive a document: kept until its retention date, then destroyed on record",
                    arguments: [ArgumentSpec("ID", help: "the document's id")], run: archive))
            subcommands.append(
                CommandSpec(
                    name: "attachment", abstract: "write a document's attached file to a path",
                    options: [
                        OptionSpec("output", value: "PATH", help: "where to write the file (required)"), .purpose,
                    ],
                    arguments: [ArgumentSpec("ID", help: "the document's id")],
                    run: saveAttachment))
        }
        return CommandSpec(
            name: noun, abstract: "add, change, delete and read \(collection.rawValue)", subcommands: subcommands)
    }

    static func fieldOptions(_ collection: RecordCollection, forAdd: Bool) -> [OptionSpec] {
        var options = RecordSchema.of(collection).fields.filter { !$0.isSystem }.map { field in
            var help = field.summary
            if forAdd && field.isRequired { help += " (required)" }
            if forAdd, let defaultValue = field.defaultValue { help += " (default: \(defaultValue))" }
            return OptionSpec(field.flag, value: "VALUE", help: help)
        }
        if collection == .documents {
            options.append(OptionSpec("file", value: "PATH", help: "attach a file; its SHA-256 is stored with it"))
        }
        return options
    }

    static func values(_ collection: RecordCollection, _ invocation: Invocation) -> [String: String] {
        var result: [String: String] = [:]
        for field in RecordSchema.of(collection).fields where !field.isSystem {
            if let value = invocation.value(field.flag) { result[field.name] = value }
        }
        return result
    }

    static func attachment(_ invocation: Invocation) throws -> Attachment? {
        guard let path = invocation.value("file") else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(exitCode: ExitCode.failure, message: "cannot read --file \(path): no such readable file")
        }
        return Attachment(name: (path as NSString).lastPathComponent, bytes: [UInt8](data))
    }

    static func loadRecord(_ collection: RecordCollection, _ invocation: Invocation, store: NodeStore) throws
        -> RecordState
    {
        let argument = invocation.arguments[0]
        // A customer may be named by its 6-digit code as well (the live customer holding it).
        if collection == .customers, argument.utf8.count == 6, argument.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            let holders = try store.liveCustomerIDs(code: argument)
            guard holders.count <= 1 else {
                throw CLIError(
                    exitCode: ExitCode.failure,
                    message: "\(holders.count) live customers have code \(argument) (a suspicious-customer lead): "
                        + "name one by id: " + holders.map(\.description).joined(separator: ", "))
            }
            guard let id = holders.first, let state = try store.record(id) else {
                throw CLIError(
                    exitCode: ExitCode.failure, message: "no live customer with code \(argument) on this node")
            }
            return state
        }
        let id = try RecordID(argument)
        guard let state = try store.record(id), state.collection == collection else {
            throw CLIError(exitCode: ExitCode.failure, message: "no \(collection.singular) with id \(id) on this node")
        }
        return state
    }

    static func add(_ collection: RecordCollection, _ invocation: Invocation) throws -> Int32 {
        // A required option left out is a command-line error (exit 2); a value given but refused is exit 3.
        let missing = RecordSchema.of(collection).fields.filter {
            $0.isRequired && $0.defaultValue == nil && !$0.isSystem && invocation.value($0.flag) == nil
        }
        if !missing.isEmpty {
            throw CLIError.usage(
                "\(missing.map { "--\($0.flag)" }.joined(separator: ", ")) "
                    + "\(missing.count == 1 ? "is" : "are") required for a \(collection.singular); see "
                    + "'\(invocation.commandLine) --help'")
        }
        let store = try invocation.openStore()
        let state = try store.create(
            collection, values: values(collection, invocation), attachment: try attachment(invocation))
        invocation.pokeDaemon()
        invocation.console.line(invocation.flag("json") ? state.canonicalJSON : state.id.description)
        return ExitCode.success
    }

    static func update(_ collection: RecordCollection, _ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let existing = try loadRecord(collection, invocation, store: store)
        let changes = values(collection, invocation)
        let file = try attachment(invocation)
        guard !changes.isEmpty || file != nil else {
            throw CLIError.usage(
                "nothing to change; give at least one field option (see '\(invocation.commandLine) --help')")
        }
        let result = try store.update(existing.id, changes: changes, attachment: file)
        if !result.changed.isEmpty { invocation.pokeDaemon() }
        if invocation.flag("json") {
            invocation.console.line(result.state.canonicalJSON)
        } else if result.changed.isEmpty {
            invocation.console.line("\(collection.singular) \(existing.id): no change")
        } else {
            invocation.console.line(
                "updated \(collection.singular) \(existing.id): \(result.changed.joined(separator: ", "))")
        }
        return ExitCode.success
    }

    static func delete(_ collection: RecordCollection, _ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let existing = try loadRecord(collection, invocation, store: store)
        try store.delete(existing.id)
        invocation.pokeDaemon()
        invocation.console.line("deleted \(collection.singular) \(existing.id)")
        return ExitCode.success
    }

    static func show(_ collection: RecordCollection, _ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let state = try loadRecord(collection, invocation, store: store)
        try auditRead(state, what: "shown", store: store, invocation)
        if invocation.flag("json") {
            invocation.console.line(state.canonicalJSON)
            return ExitCode.success
        }
        let console = invocation.console
        console.line("\(collection.singular) \(state.id)")
        var table = TextTable(["field", "value", "set by", "at"])
        for spec in RecordSchema.of(collection).fields {
            guard let field = state.fields[spec.name] else { continue }
            table.append([
                spec.flag, field.value.replacingOccurrences(of: "\n", with: "⏎"), field.stamp.dot.description,
                Timestamp.iso8601(milliseconds: field.stamp.time.wallMilliseconds),
            ])
        }
        console.write(table.render())
        console.line("owner: \(state.owner)")
        console.line("version vector: \(state.versionVector)")
        if state.isDeleted, let deletion = state.deletion {
            console.line(
                "deleted: yes, by \(deletion.stamp.dot.site) at \(Timestamp.iso8601(milliseconds: deletion.stamp.time.wallMilliseconds))"
            )
        } else {
            console.line("deleted: no")
        }
        return ExitCode.success
    }

    static func list(_ collection: RecordCollection, _ invocation: Invocation) throws -> Int32 {
        let store = try invocation.openStore()
        let states = try store.records(in: collection, includeDeleted: invocation.flag("include-deleted"))
        if invocation.flag("json") {
            invocation.console.write(JSONLines.array(states.map(\.canonicalJSON)))
            return ExitCode.success
        }
        let columns: [String] =
            collection == .customers
            ? ["code", "name", "phone", "category", "class"] : ["title", "kind", "type", "status", "class"]
        var table = TextTable(["id"] + columns + (invocation.flag("include-deleted") ? ["deleted"] : []))
        for state in states {
            var row = [state.id.description] + columns.map { state[$0] ?? "" }
            if invocation.flag("include-deleted") { row.append(state.isDeleted ? "yes" : "") }
            table.append(row)
        }
        invocation.console.write(table.render())
        invocation.console.line("\(states.count) \(states.count == 1 ? collection.singular : collection.rawValue)")
        return ExitCode.success
    }

    static func merge(_ invocation: Invocation) throws -> Int32 {
        let keep = try RecordID(invocation.arguments[0])
        let duplicate = try RecordID(invocation.arguments[1])
        let relinked = try invocation.openStore().mergeCustomer(duplicate, into: keep)
        invocation.pokeDaemon()
        invocation.console.line(
            "merged customer \(duplicate) into \(keep): \(relinked) document\(relinked == 1 ? "" : "s") re-linked, "
                + "the duplicate deleted")
        return ExitCode.success
    }

    static func share(_ collection: RecordCollection, _ invocation: Invocation, _ sharing: Bool) throws -> Int32 {
        let site: SiteID
        do { site = try SiteID(try invocation.required("with")) } catch let error as ValidationError {
            throw CLIError.usage("--with: \(error.message)")
        }
        let store = try invocation.openStore()
        let existing = try loadRecord(collection, invocation, store: store)
        let state = try sharing ? store.share(existing.id, with: site) : store.unshare(existing.id, with: site)
        invocation.pokeDaemon()
        let list = state.sharedWith.isEmpty ? "no site" : state.sharedWith.joined(separator: ", ")
        invocation.console.line(
            sharing
                ? "shared \(collection.singular) \(existing.id) with \(site); it reaches \(site) with its next sync "
                    + "(shared with: \(list))"
                : "stopped sharing \(collection.singular) \(existing.id) with \(site); it is purged there with its next "
                    + "sync (shared with: \(list))")
        return ExitCode.success
    }

    static func archive(_ invocation: Invocation) throws -> Int32 {
        let id = try RecordID(invocation.arguments[0])
        let state = try invocation.openStore().archive(id)
        invocation.pokeDaemon()
        invocation.console.line(
            "archived document \(id)" + (state[RecordSchema.retainUntilField].map { "; kept until \($0)" } ?? ""))
        return ExitCode.success
    }

    static func saveAttachment(_ invocation: Invocation) throws -> Int32 {
        let output = try invocation.required("output")
        let store = try invocation.openStore()
        let state = try loadRecord(.documents, invocation, store: store)
        if NodeStore.readNeedsPurpose(state) { try requirePurpose(state, invocation) }
        guard let sha = state[RecordSchema.attachmentHashField] else {
            throw CLIError(exitCode: ExitCode.failure, message: "document \(state.id) has no attachment")
        }
        guard let bytes = try store.blob(sha256: sha) else {
            throw CLIError(
                exitCode: ExitCode.failure,
                message: "the attachment \(sha) of document \(state.id) is not stored on this node yet")
        }
        guard FileManager.default.createFile(atPath: output, contents: Data(bytes)) else {
            throw CLIError(exitCode: ExitCode.failure, message: "cannot write \(output)")
        }
        try auditRead(state, what: "attachment written to \(output)", store: store, invocation)
        invocation.console.line("wrote \(bytes.count) bytes to \(output) (sha256 \(sha))")
        return ExitCode.success
    }
}

extension RecordCommands {
    /// Refuses to read a confidential or secret record without `--purpose`.
    static func requirePurpose(_ state: RecordState, _ invocation: Invocation) throws {
        guard let purpose = invocation.value("purpose"), !purpose.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw CLIError.usage(
                "\(state.collection.singular) \(state.id) is \(state.classification.rawValue): say why you read it with "
                    + "--purpose TEXT (kept in the audit trail)")
        }
    }

    /// Checks the purpose of a read that needs one, and records the read in the audit trail (at a branch, it goes
    /// to the hub with the next push; the daemon is poked).
    static func auditRead(_ state: RecordState, what: String, store: NodeStore, _ invocation: Invocation) throws {
        guard NodeStore.readNeedsPurpose(state) else { return }
        try requirePurpose(state, invocation)
        try store.recordRead(state, what: what, purpose: invocation.value("purpose"))
        invocation.pokeDaemon()
    }
}

extension OptionSpec {
    /// `--purpose TEXT`: why a confidential or secret record is read.
    static let purpose = OptionSpec(
        "purpose", value: "TEXT", help: "why you read it (required for confidential and secret records; audited)")
}

/// JSON arrays printed one element per line, so large outputs diff and stream well.
enum JSONLines {
    static func array(_ elements: [String]) -> String {
        elements.isEmpty ? "[]\n" : "[\n" + elements.joined(separator: ",\n") + "\n]\n"
    }
}
