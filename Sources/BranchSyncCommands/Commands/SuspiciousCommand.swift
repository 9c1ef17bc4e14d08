import BranchSyncCore
import BranchSyncStore

/// `branchsync suspicious list|show|clear`: suspicious-customer leads (the same phone, bank account, credit code or
/// customer code on two different live customers).
enum SuspiciousCommand {
    static let spec = CommandSpec(
        name: "suspicious",
        abstract: "suspicious customers: two customers with the same phone, bank account, credit code or code",
        discussion: """
            Leads are found as changes are stored, here and as they arrive from other sites. A lead's id is derived \
            from what the two customers share and their ids, so every site names it alike. Clearing one is a \
            decision made at the hub; it replicates, so the lead is cleared at every site.
            """,
        subcommands: [
            CommandSpec(
                name: "list", abstract: "list open leads (oldest first), with --all cleared ones too",
                options: [.flag("all", help: "also list cleared leads"), .json, .csv], run: list),
            CommandSpec(
                name: "show", abstract: "show one lead: both customers, their sites, and any decision",
                options: [.json], arguments: [ArgumentSpec("ID", help: "the lead's id")], run: show),
            CommandSpec(
                name: "clear", abstract: "record that a lead was investigated and is not a problem (hub only)",
                options: [OptionSpec("reason", value: "TEXT", help: "what the investigation found (required)")],
                arguments: [ArgumentSpec("ID", help: "the lead's id")], run: clear),
        ])

    static func list(_ invocation: Invocation) throws -> Int32 {
        let leads = try invocation.openStore().suspiciousLeads(includeCleared: invocation.flag("all"))
        var listing = Listing([
            "id", "status", "kind", "value", "customer", "site", "name", "other customer", "other site", "other name",
            "detected at", "cleared by", "reason",
        ])
        for lead in leads {
            listing.append([
                lead.id.description, status(lead), lead.kind.rawValue, lead.value,
                lead.first?.id.description ?? "", lead.first?.owner ?? "", lead.first?.name ?? "",
                lead.second?.id.description ?? "", lead.second?.owner ?? "", lead.second?.name ?? "",
                lead.detectedAt ?? "", lead.clearance?.by ?? "", lead.clearance?.reason ?? "",
            ])
        }
        if invocation.flag("json") || invocation.flag("csv") {
            listing.print(to: invocation)
            return ExitCode.success
        }
        var table = TextTable(["id", "status", "same", "value", "customers (site)"])
        for lead in leads {
            let customers = [lead.first, lead.second].map { customer in
                customer.map { "\($0.code) \($0.name) (\($0.owner))" } ?? "(not held here)"
            }
            table.append([
                lead.id.description, status(lead), lead.kind.rawValue, lead.value, customers.joined(separator: " / "),
            ])
        }
        invocation.console.write(table.render())
        let open = leads.filter(\.isOpen).count
        invocation.console.line("\(open) open lead\(open == 1 ? "" : "s")")
        return ExitCode.success
    }

    static func show(_ invocation: Invocation) throws -> Int32 {
        let id = try RecordID(invocation.arguments[0])
        guard let lead = try invocation.openStore().suspiciousLead(id) else {
            throw CLIError(exitCode: ExitCode.failure, message: "no suspicious-customer lead \(id) on this node")
        }
        if invocation.flag("json") {
            var members: [(String, String)] = [
                ("id", CanonicalJSON.quote(lead.id.description)), ("status", CanonicalJSON.quote(status(lead))),
                ("kind", CanonicalJSON.quote(lead.kind.rawValue)), ("value", CanonicalJSON.quote(lead.value)),
                ("detectedAt", lead.detectedAt.map(CanonicalJSON.quote) ?? "null"),
            ]
            for (key, customer) in [("first", lead.first), ("second", lead.second)] {
                members.append(
                    (
                        key,
                        customer.map {
                            CanonicalJSON.object([
                                ("id", CanonicalJSON.quote($0.id.description)), ("site", CanonicalJSON.quote($0.owner)),
                                ("name", CanonicalJSON.quote($0.name)), ("code", CanonicalJSON.quote($0.code)),
                            ])
                        } ?? "null"
                    ))
            }
            members.append(
                (
                    "cleared",
                    lead.clearance.map {
                        CanonicalJSON.object([
                            ("by", CanonicalJSON.quote($0.by)), ("at", CanonicalJSON.quote($0.at)),
                            ("reason", CanonicalJSON.quote($0.reason)),
                        ])
                    } ?? "null"
                ))
            invocation.console.line(CanonicalJSON.object(members))
            return ExitCode.success
        }
        let console = invocation.console
        console.line("lead \(lead.id): \(lead.kind.phrase) \(lead.value) — \(status(lead))")
        for customer in [lead.first, lead.second] {
            guard let customer else {
                console.line("  a customer this node does not hold")
                continue
            }
            console.line("  customer \(customer.id)  \(customer.code) \(customer.name), owned by \(customer.owner)")
        }
        if let detectedAt = lead.detectedAt { console.line("detected: \(detectedAt)") }
        if let clearance = lead.clearance {
            console.line("cleared: \(clearance.at) by \(clearance.by): \(clearance.reason)")
        }
        return ExitCode.success
    }

    static func clear(_ invocation: Invocation) throws -> Int32 {
        let reason = try invocation.required("reason")
        let id = try RecordID(invocation.arguments[0])
        let store = try invocation.openStore()
        try store.clearLead(id, reason: reason)
        invocation.pokeDaemon()
        invocation.console.line("cleared lead \(id); the decision replicates to every site that holds the customers")
        return ExitCode.success
    }

    private static func status(_ lead: SuspiciousLead) -> String {
        if lead.isOpen { return "open" }
        return lead.stillHolds ? "cleared" : "cleared (no longer holds)"
    }
}
