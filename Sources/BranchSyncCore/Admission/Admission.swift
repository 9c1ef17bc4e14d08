/// The rules a received record state must pass before it may change a replica (DESIGN.md §10, Protocol.md §9.2).
///
/// Every node checks that a state is **consistent** (it is what its bytes say, and its history covers its own
/// writes). The hub also checks that a branch's state is **honest** (the branch claims only those writes of other
/// sites that the hub already holds, since it learns them only through the hub) and **authorised** (validation,
/// scope, ownership). Pure: the caller supplies the hub's record, its clock and a lookup for references.
public enum Admission {
    /// How far ahead of the hub's clock a branch's new writes may be stamped (60 s) before the hub re-stamps them;
    /// also how far ahead a node's clock observes remote stamps (``HybridLogicalClock/maximumDrift``).
    public static let futureStampTolerance: UInt64 = HybridLogicalClock.maximumDrift
    /// The largest encoded record state accepted (1 MiB); a document body of 100,000 characters fits.
    public static let maximumStateBytes = 1 << 20

    // MARK: Consistency (every receiver)

    /// Checks that `state`, decoded from `bytes`, is consistent: it re-encodes to exactly those bytes, holds only the
    /// collection's fields (names compared as bytes) within their byte limits, every stamp is covered by its version
    /// vector and no counter is zero or beyond ``WriteClock/maximumCounter``, its owner wrote it first, and its id
    /// is a version 7 UUID.
    /// - Returns: `nil`, or why the state is inconsistent.
    public static func inconsistency(of state: RecordState, encoded bytes: [UInt8]) -> String? {
        // Built only for a message: this check runs for every state a peer sends.
        var record: String { "\(state.collection.singular) \(state.id)" }
        guard bytes.count <= maximumStateBytes else {
            return "\(record) is \(bytes.count) bytes encoded; at most \(maximumStateBytes)"
        }
        guard state.id.isVersion7 else { return "record id \(state.id) is not a version 7 UUID" }
        let vector = state.versionVector
        if let entry = vector.counters.first(where: { $0.value > WriteClock.maximumCounter }) {
            return "\(record) has counter \(entry.value) for \(entry.key), beyond \(WriteClock.maximumCounter)"
        }
        guard vector[state.owner] > 0 else {
            return "\(record) has no write of its owner \(state.owner) in its version vector \(vector)"
        }
        let schema = RecordSchema.of(state.collection)
        for (name, field) in state.fields {
            guard let spec = schema.field(exactly: name) else {
                return "\(record) has a field '\(name.escapedForDisplay(limit: 40))' that \(state.collection.rawValue) "
                    + "do not have"
            }
            let size = field.value.utf8.count
            guard size <= spec.maximumBytes else {
                return "\(record): \(spec.name) is \(size) bytes; at most \(spec.maximumBytes)"
            }
            if let problem = uncovered(field.stamp, by: vector, what: "\(spec.name)'s stamp") {
                return "\(record): \(problem)"
            }
        }
        if let deletion = state.deletion {
            if let problem = uncovered(deletion.stamp, by: vector, what: "the tombstone's stamp") {
                return "\(record): \(problem)"
            }
            guard vector.dominatesOrEquals(deletion.context) else {
                return "\(record): the tombstone's context \(deletion.context) is not within its version vector "
                    + "\(vector)"
            }
            if deletion.isDestruction {
                guard state.fields.keys.allSatisfy(RecordState.isScopeField) else {
                    return "\(record) is destroyed but still carries field values besides its class, custodian and "
                        + "share list"
                }
                guard deletion.context == vector else {
                    return "\(record) is destroyed, but its tombstone's context \(deletion.context) is not its whole "
                        + "version vector \(vector)"
                }
            }
        }
        guard state.encoded() == bytes else {
            return "\(record) does not re-encode to the bytes received (Protocol.md §3)"
        }
        return nil
    }

    private static func uncovered(_ stamp: Stamp, by vector: VersionVector, what: @autoclosure () -> String) -> String?
    {
        guard stamp.dot.counter > 0 else { return "\(what()) has counter 0" }
        guard vector.covers(stamp.dot) else {
            return "\(what()) \(stamp.dot) is not covered by the version vector \(vector)"
        }
        return nil
    }

    // MARK: The hub's rules for a branch's state

    /// Judges a state a branch sent to the hub.
    /// - Parameters:
    ///   - remote: the state, decoded from `encoded`.
    ///   - local: the hub's record with the same id, if any.
    ///   - lookup: the collection of a record the hub holds (for `customerId` references), `nil` if unknown.
    public static func admit(
        _ remote: RecordState, encoded: [UInt8], local: RecordState?, context: AdmissionContext,
        lookup: (RecordID) throws -> RecordCollection?
    ) rethrows -> AdmissionVerdict {
        try admit(CheckedState(remote, encoded: encoded), local: local, context: context, lookup: lookup)
    }

    /// Judges a state a branch sent to the hub, with the checks made on it alone (``CheckedState``) already made.
    /// - Parameters:
    ///   - local: the hub's record with the same id, if any.
    ///   - lookup: the collection of a record the hub holds (for `customerId` references), `nil` if unknown.
    public static func admit(
        _ checked: CheckedState, local: RecordState?, context: AdmissionContext,
        lookup: (RecordID) throws -> RecordCollection?
    ) rethrows -> AdmissionVerdict {
        if let problem = checked.inconsistency { return .invalid(problem) }
        let remote = checked.state
        let sender = context.sender
        let known = local?.versionVector ?? VersionVector()

        // Honest: the sender learns other sites' writes only through the hub (unless the hub lost them, §12).
        for (site, counter) in remote.versionVector.sortedEntries where site != sender && counter > known[site] {
            if let verdict = unheldWrite(Dot(site: site, counter: counter), of: remote, known: known, context) {
                return verdict
            }
        }
        let outcome: MergeOutcome
        do { outcome = try RecordMerge.merge(local: local, remote: remote) } catch {
            // Not the merge's own message: it names the hub record's collection and owner, which the sender may not
            // know.
            return .invalid(
                "\(context.sender) sent \(remote.collection.singular) \(remote.id), which does not match the hub's "
                    + "record with that id (another collection or owner)")
        }
        let merged = outcome.state
        if let local, merged == local {
            return .unchanged(outOfScope: !Scope.mayHold(local, site: sender, clearance: context.clearance))
        }
        // No write dominates a destruction, so no compensating write could undo one: a state that would newly destroy
        // a record is judged first, and is invalid (never merged) unless its custodian or the hub destroyed it. While
        // the hub recovers from a restore, its record may be stale and the authorship claims unprovable: such a
        // state waits and is judged when recovery ends.
        let newlyDestroys = merged.isDestroyed && !(local?.isDestroyed ?? false)
        if newlyDestroys {
            if context.restore == .recovering {
                return .hold(
                    "\(remote.collection.singular) \(remote.id) from \(sender) would destroy it (judged when the hub's "
                        + "recovery from its restore ends)", awaiting: remote.id)
            }
            if let problem = destructionProblem(remote: remote, local: local, merged: merged, context: context) {
                return .invalid(problem)
            }
        }
        let verdict = try judgeChanges(
            remote: checked, local: local, outcome: outcome, context: context, lookup: lookup)
        if newlyDestroys, case .refuse(let reason) = verdict {
            return .invalid(reason + " (a destruction cannot be undone by a compensating write)")
        }
        return verdict
    }

    /// Why a state that newly destroys a record may not, or `nil`: only the record's custodian or the hub destroys a
    /// customer or document, judged by who wrote the destruction (the sender's own dot in the tombstone's context,
    /// beyond what the hub holds, gives away its own destruction hidden behind the owner's stamp).
    private static func destructionProblem(
        remote: RecordState, local: RecordState?, merged: RecordState, context: AdmissionContext
    ) -> String? {
        let record = "\(remote.collection.singular) \(remote.id)"
        guard merged.collection == .customers || merged.collection == .documents else {
            return "\(context.sender) sent \(record) destroyed: only customers and documents are ever destroyed"
        }
        // A new record can only be the sender's own (honesty): created and destroyed before it synced.
        guard let local else { return nil }
        let sender = context.sender
        let custodian = local.custodian
        // The custodian (or the hub) may destroy: its destruction may even show another site's stamp, when a
        // tombstone it merged before (a refused delete of that site) has a later time and the union keeps it. Such a
        // stamp is a write the hub holds; one it does not hold would be made up.
        if sender == custodian || sender == context.hub, Self.stampIsOwnOrKnown(remote, local, sender) { return nil }
        let author =
            remote.deletion?.stamp != local.deletion?.stamp ? remote.deletion?.stamp.dot.site ?? sender : sender
        let hidden =
            sender != custodian && sender != context.hub
            && (remote.deletion?.context[sender] ?? 0) > local.versionVector[sender]
        let destroyer = hidden ? sender : author
        guard destroyer == custodian || destroyer == context.hub else {
            return "only the owner \(custodian) or the hub destroys \(record); \(destroyer) destroyed it"
        }
        return nil
    }

    /// Whether the tombstone stamp `remote` shows is the sender's own write or one the hub holds of the record: an
    /// owner's tombstone may keep another site's stamp it merged, never one it made up.
    private static func stampIsOwnOrKnown(_ remote: RecordState, _ local: RecordState, _ sender: SiteID) -> Bool {
        guard let dot = remote.deletion?.stamp.dot else { return true }
        return dot.site == sender || local.versionVector.covers(dot)
    }

    /// The rest of the hub's rules, for a state that changes the hub's record.
    private static func judgeChanges(
        remote checked: CheckedState, local: RecordState?, outcome: MergeOutcome, context: AdmissionContext,
        lookup: (RecordID) throws -> RecordCollection?
    ) rethrows -> AdmissionVerdict {
        let remote = checked.state
        let sender = context.sender
        let known = local?.versionVector ?? VersionVector()
        let merged = outcome.state

        // What the state changes must be the sender's own new writes.
        let ownKnown = known[sender]
        var changed: [String] = []
        var reused: [String] = []
        for (name, field) in merged.fields.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) })
        where local?.fields[name] != field {
            let dot = field.stamp.dot
            if dot.site != sender {
                if let verdict = unheldWrite(dot, of: remote, known: known, context, field: name) { return verdict }
            } else if dot.counter <= ownKnown {
                reused.append(name)
            }
            changed.append(name)
        }
        let deletionChanged = merged.deletion != local?.deletion
        if deletionChanged, let deletion = merged.deletion, deletion.stamp != local?.deletion?.stamp {
            let dot = deletion.stamp.dot
            if dot.site != sender {
                if let verdict = unheldWrite(dot, of: remote, known: known, context, field: "tombstone") {
                    return verdict
                }
            } else if dot.counter <= ownKnown {
                reused.append("tombstone")
            }
        }
        if !reused.isEmpty {
            return heldWhileRestored(
                .refuse(
                    "\(sender) sent \(reused.joined(separator: ", ")) of \(remote.collection.singular) \(remote.id) "
                        + "under write counters the hub already holds with other content (was \(sender) restored from "
                        + "an older copy?)"), remote, context)
        }

        // Authorised.
        if let refusal = try authorityRefusal(
            remote: checked, local: local, outcome: outcome, changed: changed, deletionChanged: deletionChanged,
            context: context, lookup: lookup)
        {
            return heldWhileRestored(refusal, remote, context)
        }

        // References that cannot be judged yet wait for the record they name.
        if merged.collection == .documents, changed.contains("customerId"), let text = merged["customerId"],
            let target = try? RecordID(text), try lookup(target) == nil
        {
            return .hold(
                "document \(remote.id) refers to customer \(target), which the hub does not hold yet",
                awaiting: target)
        }

        // Stamps too far ahead of the hub's clock are re-stamped by the hub: the sender's own new writes, and any
        // other write a recovering hub takes in. No such stamp ever enters the hub's records, so none can win later
        // conflicts or drag a writer's stamps (always above the record's) into the future.
        let (limit, overflow) = context.wallMilliseconds.addingReportingOverflow(context.futureTolerance)
        let restamp = Set(
            changed.filter { name in
                guard !overflow, let stamp = merged.fields[name]?.stamp else { return false }
                return stamp.time.wallMilliseconds > limit
            })
        // An audit block is never re-stamped: it is written once and never merged with anything, so its stamps win
        // nothing; a re-stamp would be a hub write sent back to the site, whose applying it would audit and ship in
        // another block, re-stamped in turn, without end.
        guard !restamp.isEmpty, merged.collection != .auditBlocks else {
            return .admit(Admitted(outcome: outcome, restamp: []))
        }
        // Merge again as if those writes had been made now at the hub, so the wrong clock does not even win the
        // conflicts decided at this merge.
        let clamped = remote.clampingFieldStamps(laterThan: limit, to: context.wallMilliseconds)
        guard let fair = try? RecordMerge.merge(local: local, remote: clamped) else {
            return .invalid("\(remote.collection.singular) \(remote.id) cannot be merged")
        }
        return .admit(Admitted(outcome: fair, restamp: restamp))
    }

    /// While the hub recovers from a restore, its record may be stale: a refusal judged against it could undo
    /// writes the hub lost and the sender carries. Such a state waits instead and is judged again once the recovery
    /// has ended.
    private static func heldWhileRestored(
        _ verdict: AdmissionVerdict, _ remote: RecordState, _ context: AdmissionContext
    ) -> AdmissionVerdict {
        guard case .refuse(let reason) = verdict, context.restore != .none else { return verdict }
        return .hold("\(reason) (judged again when the hub's recovery from its restore ends)", awaiting: remote.id)
    }

    /// A write of another site (or the hub) that the state claims and the hub does not hold.
    private static func unheldWrite(
        _ dot: Dot, of remote: RecordState, known: VersionVector, _ context: AdmissionContext, field: String? = nil
    ) -> AdmissionVerdict? {
        let what = field.map { "its \($0) as written by \(dot)" } ?? "writes of \(dot.site) up to \(dot.counter)"
        let record = "\(remote.collection.singular) \(remote.id)"
        if known.covers(dot) {
            return .invalid(
                "\(context.sender) sent \(record) with \(what), a write the hub holds with other content")
        }
        switch context.restore {
        case .recovering:
            return nil
        case .none:
            return .invalid(
                "\(context.sender) sent \(record) claiming \(what), but the hub holds \(known[dot.site]) of "
                    + "\(dot.site) for it; a branch learns other sites' writes only through the hub")
        }
    }

    private static func authorityRefusal(
        remote checked: CheckedState, local: RecordState?, outcome: MergeOutcome, changed: [String],
        deletionChanged: Bool, context: AdmissionContext, lookup: (RecordID) throws -> RecordCollection?
    ) rethrows -> AdmissionVerdict? {
        let remote = checked.state
        let merged = outcome.state
        let sender = context.sender
        let record = "\(remote.collection.singular) \(remote.id)"
        // Decisions (a cleared lead) are the hub's: a branch neither makes nor changes one.
        guard merged.collection != .decisions else {
            return .refuse("\(record) from \(sender): decisions are made at the hub, not at a branch")
        }
        // An audit block is append-only: written once by its site, never changed or deleted.
        if merged.collection == .auditBlocks {
            guard local == nil, merged.deletion == nil else {
                return .refuse(
                    "\(record) from \(sender): an audit block is append-only; it is never changed or deleted")
            }
            if let problem = AuditLine.problem(
                inBlock: merged["entries"] ?? "", first: Int64(merged["firstEntry"] ?? "") ?? 0,
                last: Int64(merged["lastEntry"] ?? "") ?? 0)
            {
                return .refuse("\(record) from \(sender) is invalid: \(problem)")
            }
        }
        // The destruction register is append-only: an entry is written once, with the destruction, and never
        // changed or deleted.
        if merged.collection == .destructions, local != nil || merged.deletion != nil {
            return .refuse(
                "\(record) from \(sender): the destruction register is append-only; an entry is never changed or "
                    + "deleted")
        }
        let schema = RecordSchema.of(merged.collection)
        // Valid: the values the state changes pass the checks a local write gets, and a live result has every
        // required field (a write that brings a tombstone back to life must not leave a record without its title).
        do throws(ValidationError) {
            if merged.isDestroyed {
                // Nothing left to check: a destruction keeps no values (checked with the state's consistency).
            } else if local == nil || !merged.isDeleted {
                try checked.validateMerged(outcome)
            } else {
                for name in changed {
                    guard let spec = schema.field(exactly: name), let value = merged.fields[name]?.value, !value.isEmpty
                    else { continue }
                    try spec.validate(value)
                }
            }
        } catch {
            return .refuse("\(record) from \(sender) is invalid: \(error.message)")
        }
        if merged.collection == .documents, changed.contains("customerId"), let text = merged["customerId"],
            let target = try? RecordID(text), let collection = try lookup(target), collection != .customers
        {
            return .refuse("\(record) from \(sender) refers to \(target) as its customer, but that is a document")
        }
        // Only the hub shares a record beyond its class (need-to-know) and hands a retired site's records to its
        // successor: judged by who wrote the share list or the custodian.
        for (field, what) in [
            (RecordState.sharedWithField, "shares \(record) with other sites"),
            (RecordState.custodianField, "hands \(record) to another site"),
        ] where changed.contains(field) {
            if let author = merged.fields[field]?.stamp.dot.site, author != context.hub {
                return .refuse("only the hub \(what); \(author) wrote its \(field)")
            }
        }
        // A new record owned by another site already failed honesty: it carries its owner's first write.
        guard let local else { return nil }
        // Scope refusals do not say the record's class or owner: the sender may not know them.
        guard Scope.mayHold(local, site: sender, clearance: context.clearance) else {
            return .refuse("site \(sender) may not change \(record): it is outside the site's scope")
        }
        // Only the owner or the hub reclassifies or deletes: judged by who wrote the change (a state may carry the
        // owner's own change, relayed, to a hub that lost it in a restore).
        let owner = local.custodian
        if merged.classification != local.classification,
            let author = merged.fields[RecordState.classField]?.stamp.dot.site, author != owner, author != context.hub
        {
            return .refuse(
                "only the owner \(owner) or the hub changes the class of \(record); \(author) set "
                    + "\(local.classification.rawValue) -> \(merged.classification.rawValue)")
        }
        // A tombstone keeps the stamp with the latest time (for display), so a delete of a record brought back to
        // life may carry an earlier delete's stamp: a tombstone whose stamp is not new was changed by the sender.
        // A destroyed record absorbs whatever reaches it (its tombstone's context grows by the sender's writes, but
        // nothing is deleted by them): only the honesty checks above apply.
        // The owner (or the hub) may delete whatever stamp its tombstone shows: a tombstone it merged before (another
        // site's refused delete, with a later time) may keep that site's stamp. Found by the hub model.
        let ownerDeletes = (sender == owner || sender == context.hub) && Self.stampIsOwnOrKnown(remote, local, sender)
        if deletionChanged && !local.isDestroyed && !ownerDeletes {
            let author =
                remote.deletion?.stamp != local.deletion?.stamp ? remote.deletion?.stamp.dot.site ?? sender : sender
            if author != owner && author != context.hub {
                return .refuse("only the owner \(owner) or the hub deletes \(record); \(author) deleted it")
            }
            // A delete puts its own dot into the tombstone's context. A dot of the sender there that the hub does not
            // hold is the sender's own delete, whatever stamp the merged tombstone shows (it keeps the latest-timed
            // one, which may be the owner's earlier delete). Found by the hub model.
            if sender != owner, sender != context.hub, let tombstone = merged.deletion,
                tombstone.context[sender] > local.versionVector[sender]
            {
                return .refuse("only the owner \(owner) or the hub deletes \(record); \(sender) deleted it")
            }
        }
        guard Scope.mayHold(merged, site: sender, clearance: context.clearance) else {
            return .refuse("site \(sender) may not hold \(record) as changed: it would be outside the site's scope")
        }
        return nil
    }
}

extension RecordState {
    /// This state with every field time later than `limit` set to `now` (the dots stay). Used only to decide a merge
    /// as the hub would have if those writes had been stamped by its clock.
    func clampingFieldStamps(laterThan limit: UInt64, to now: UInt64) -> RecordState {
        var copy = self
        copy.fields = fields.mapValues { field in
            guard field.stamp.time.wallMilliseconds > limit else { return field }
            return FieldValue(
                value: field.value,
                stamp: Stamp(dot: field.stamp.dot, time: HLCTimestamp(wallMilliseconds: now, logical: 0)))
        }
        return copy
    }
}
