import BranchSyncCore

/// The record-state decoder's and the merge's laws for any state a peer can send.
enum StateFuzzing {
    static func run(_ data: [UInt8]) -> String? {
        guard let state = try? RecordState(decoding: data) else { return nil }
        let encoded = state.encoded()
        guard let again = try? RecordState(decoding: encoded) else {
            return "a decoded state's encoding does not decode"
        }
        guard again == state else { return "a state re-encoded decodes to a different state" }
        guard again.encoded() == encoded else { return "a state does not re-encode to the same bytes" }
        if let finding = mergeLaws(state) { return finding }
        // The hub's admission judges anything without trapping, new or against a version it holds.
        let context = AdmissionContext(
            sender: state.owner, hub: hub(or: state.owner), clearance: .internal, wallMilliseconds: 1_700_000_000_000)
        for local in [nil] + fixedStates(like: state) {
            _ = Admission.admit(state, encoded: data, local: local, context: context, lookup: { _ in .customers })
        }
        return nil
    }

    /// The hub of the fixed states (a literal valid site id; the state's owner if that ever changed).
    static func hub(or fallback: SiteID) -> SiteID { (try? SiteID("hq")) ?? fallback }

    /// Merging is idempotent and commutative, with itself and with fixed versions of the same record.
    static func mergeLaws(_ state: RecordState) -> String? {
        guard (try? RecordMerge.merge(local: state, remote: state).state) == state else {
            return "merging a state with itself changed it"
        }
        for (index, fixed) in fixedStates(like: state).enumerated() {
            guard let ab = try? RecordMerge.merge(local: fixed, remote: state).state,
                let ba = try? RecordMerge.merge(local: state, remote: fixed).state
            else { return "fixed state \(index) of the same record does not merge" }
            guard ab == ba else { return "the merge with fixed state \(index) is not commutative" }
            guard (try? RecordMerge.merge(local: ab, remote: state).state) == ab,
                (try? RecordMerge.merge(local: ab, remote: fixed).state) == ab
            else { return "the merge with fixed state \(index) is not idempotent" }
        }
        return nil
    }

    /// Versions of the state's record written by honest histories: its owner's create, the hub's edit of it, a
    /// delete, and a concurrent edit by another site.
    static func fixedStates(like state: RecordState) -> [RecordState] {
        let owner = state.owner
        let other = (try? SiteID(owner.rawValue == "sh01" ? "bj01" : "sh01")) ?? owner
        let hub = hub(or: owner)
        func stamp(_ site: SiteID, _ counter: UInt64, _ wall: UInt64) -> Stamp {
            Stamp(dot: Dot(site: site, counter: counter), time: HLCTimestamp(wallMilliseconds: wall, logical: 0))
        }
        var created = RecordState(id: state.id, collection: state.collection, owner: owner)
        _ = created.applyLocalWrite(
            ["name": "北京华信", "code": "110001", "class": "internal"], stamp: stamp(owner, 1, 10))
        var edited = created
        _ = edited.applyLocalWrite(["name": "华信科技"], stamp: stamp(hub, 1, 20))
        var deleted = edited
        deleted.applyLocalDelete(stamp: stamp(owner, 2, 30))
        var concurrent = created
        _ = concurrent.applyLocalWrite(["name": "并发", "phone": "010-12345678"], stamp: stamp(other, 7, 20))
        return [created, edited, deleted, concurrent]
    }
}
