import BranchSyncCore

/// The summaries and listings of one replica's records, as verify compares them (Protocol.md §9.5). The hub answers
/// for the part of its records a given branch may hold; a branch for all of its records.
public protocol VerifySource {
    /// The summary of each node, in the order given.
    func summaries(_ paths: [VerifyPath]) throws -> [VerifyNodeSummary]
    /// Every record in the given nodes.
    func entries(_ paths: [VerifyPath]) throws -> [VerifyEntry]
}

/// The initiator's side of one verify round, as a state machine with no I/O: it is fed the responder's replies and
/// answers with the requests to send next, until it knows exactly which records differ (Protocol.md §9.5).
///
/// Equal replicas cost one round trip (the root summaries match). Otherwise the round descends only into nodes whose
/// summaries differ — buckets, then sub-buckets — and lists the records of small differing nodes.
public struct VerifyRound: Sendable {
    /// What the round asks the caller to do next.
    public enum Step: Sendable, Hashable {
        /// Send these requests and wait for their replies.
        case send([Message])
        /// The replicas differ in these records: push ours (`push`), fetch theirs (`fetch`), then wait for the
        /// final `REPAIR` of each `FETCH` sent (``fetchSent(_:)``).
        case repair(push: [RecordID], fetch: [RecordID])
        /// Done.
        case finished(VerifyOutcome)
        /// Nothing to do for this message (a reply to another round, or more replies are awaited).
        case wait
    }

    /// The round's number, echoed by every reply.
    public let round: UInt64
    /// Records in a differing node at or below which both sides list them instead of descending further.
    public static let listThreshold: UInt64 = 64
    /// The most records one listing request asks for, so a reply stays far below the frame limit.
    public static let maximumListed: UInt64 = 50_000
    /// The most node paths in one request.
    public static let maximumPaths = 16_384
    /// The most record ids in one `FETCH`.
    public static let maximumFetched = 2_000
    /// The most entries a responder lists for one `VERIFY_LIST`: twice what is asked for, as records may arrive
    /// between the summary and the listing.
    public static let maximumAnswered = 2 * Int(maximumListed)

    /// Why a responder refuses to answer `request`: it asks for more than an initiator following §9.5 ever does.
    /// `nil` for requests within the limits (and for messages that are not verify requests).
    public static func excess(of request: Message) -> String? {
        switch request {
        case .verify(let verify) where verify.paths.count > maximumPaths:
            return "VERIFY asks for \(verify.paths.count) paths; at most \(maximumPaths)"
        case .verifyList(let list) where list.paths.count > maximumPaths:
            return "VERIFY_LIST asks for \(list.paths.count) paths; at most \(maximumPaths)"
        case .fetch(let fetch) where fetch.ids.count > maximumFetched:
            return "FETCH asks for \(fetch.ids.count) records; at most \(maximumFetched)"
        default:
            return nil
        }
    }

    private var awaitedReplies = 0
    private var awaitedFetches = 0
    private var listedPaths: [VerifyPath] = []
    private var theirEntries: [RecordID: UInt64] = [:]
    private var differing: [RecordID] = []
    private var ownRecords: UInt64 = 0
    private var finished = false

    public init(round: UInt64) {
        self.round = round
    }

    /// The first request: the responder's root summary.
    public mutating func start() -> Step {
        awaitedReplies = 1
        return .send([.verify(Verify(round: round, paths: [[]]))])
    }

    /// Feeds a reply from the responder.
    /// - Throws: ``WireError`` when the reply does not answer what was asked (a protocol violation).
    public mutating func receive(_ message: Message, source: some VerifySource) throws -> Step {
        guard !finished else { return .wait }
        switch message {
        case .verifySummary(let reply) where reply.round == round:
            awaitedReplies -= 1
            return try compare(reply.nodes, source: source)
        case .verifyEntries(let reply) where reply.round == round:
            awaitedReplies -= 1
            for entry in reply.entries { theirEntries[entry.id] = entry.digest }
            return try settleIfComplete(source: source)
        case .repair(let reply) where reply.round == round && reply.kind == .finalReply:
            awaitedFetches -= 1
            guard awaitedFetches <= 0 else { return .wait }
            finished = true
            return .finished(VerifyOutcome(records: ownRecords, differing: differing))
        default:
            return .wait
        }
    }

    /// Tells the round how many `FETCH` requests the caller sent after ``Step/repair(push:fetch:)``; with none, the
    /// round is finished.
    public mutating func fetchSent(_ count: Int) -> Step {
        awaitedFetches = count
        guard count == 0 else { return .wait }
        finished = true
        return .finished(VerifyOutcome(records: ownRecords, differing: differing))
    }

    private mutating func compare(_ theirs: [VerifyNodeSummary], source: some VerifySource) throws -> Step {
        let mine = try source.summaries(theirs.map(\.path))
        var descend: [VerifyPath] = []
        var list: [(VerifyPath, UInt64)] = []
        for (own, other) in zip(mine, theirs) {
            if own.path.isEmpty { ownRecords = own.records }
            guard own.records != other.records || own.digest != other.digest else { continue }
            let size = own.records + other.records
            if own.path.count < 2 && size > Self.listThreshold {
                descend += (0...255).map { own.path + [UInt8($0)] }
            } else {
                list.append((own.path, max(own.records, other.records)))
            }
        }
        var requests: [Message] = []
        var offset = 0
        while offset < descend.count {
            let chunk = Array(descend[offset..<min(offset + Self.maximumPaths, descend.count)])
            requests.append(.verify(Verify(round: round, paths: chunk)))
            offset += chunk.count
        }
        var chunk: [VerifyPath] = []
        var size: UInt64 = 0
        for (path, records) in list {
            if !chunk.isEmpty && (size + records > Self.maximumListed || chunk.count >= Self.maximumPaths) {
                requests.append(.verifyList(VerifyList(round: round, paths: chunk)))
                chunk = []
                size = 0
            }
            chunk.append(path)
            size += records
            listedPaths.append(path)
        }
        if !chunk.isEmpty { requests.append(.verifyList(VerifyList(round: round, paths: chunk))) }
        awaitedReplies += requests.count
        if requests.isEmpty { return try settleIfComplete(source: source) }
        return .send(requests)
    }

    private mutating func settleIfComplete(source: some VerifySource) throws -> Step {
        guard awaitedReplies == 0 else { return .wait }
        let mine = try source.entries(listedPaths)
        var push: [RecordID] = []
        var fetch: [RecordID] = []
        var seen: Set<RecordID> = []
        for entry in mine {
            seen.insert(entry.id)
            switch theirEntries[entry.id] {
            case nil: push.append(entry.id)
            case let digest? where digest != entry.digest:
                push.append(entry.id)
                fetch.append(entry.id)
            default: break
            }
        }
        for id in theirEntries.keys where !seen.contains(id) { fetch.append(id) }
        differing = Array(Set(push + fetch)).sorted()
        guard !differing.isEmpty else {
            finished = true
            return .finished(VerifyOutcome(records: ownRecords, differing: []))
        }
        return .repair(push: push.sorted(), fetch: fetch.sorted())
    }
}

/// What a verify round found.
public struct VerifyOutcome: Sendable, Hashable {
    /// The records the initiator holds in the compared scope.
    public var records: UInt64
    /// The records that differed (each was repaired: pushed, fetched, or both).
    public var differing: [RecordID]

    public var identical: Bool { differing.isEmpty }

    public init(records: UInt64, differing: [RecordID]) {
        self.records = records
        self.differing = differing
    }
}
