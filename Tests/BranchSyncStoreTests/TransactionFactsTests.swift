import BranchSyncCore
import BranchSyncTestSupport
import Foundation
import Testing

@testable import BranchSyncStore

/// A transaction remembers the head of the audit chain it appended to instead of reading it again; what it remembers
/// never outlives the transaction or savepoint it was learned in.
@Suite struct TransactionFactsTests {
    private struct Abandoned: Error {}

    private func document(_ title: String) -> [String: String] {
        ["title": title, "kind": "administrative", "type": "report"]
    }

    private func entries(_ store: NodeStore) throws -> [Int64] {
        try store.db.statement("SELECT seq FROM audit WHERE site = 'hq' ORDER BY seq").rows { $0.int(0) }
    }

    /// Appends in one transaction, then another connection's, then a rolled-back savepoint's: the chain stays one
    /// unbroken line numbered 1, 2, 3, …
    @Test func theChainStaysWholeAcrossConnectionsAndRollbacks() throws {
        let directory = TemporaryDirectory()
        let hub = try makeStore(directory, site: "hq", role: .hub)
        try hub.batch { writer in for index in 0..<5 { try writer.create(.documents, values: document("a\(index)")) } }
        // Another connection (a CLI next to the daemon) appends between this connection's transactions.
        let other = try NodeStore.open(directory: directory.subdirectory("hq"), actor: tester)
        try other.batch { writer in for index in 0..<3 { try writer.create(.documents, values: document("b\(index)")) }
        }
        _ = try hub.batch { writer in try writer.create(.documents, values: document("c")) }
        // A group whose second write rolls back alone: its entries go, and the third chains to the first.
        hub.beginGroup()
        _ = try hub.batch { writer in try writer.create(.documents, values: document("d")) }
        #expect(throws: Abandoned.self) {
            _ = try hub.batch { writer in
                try writer.create(.documents, values: document("e"))
                throw Abandoned()
            }
        }
        _ = try hub.batch { writer in try writer.create(.documents, values: document("f")) }
        try hub.commitGroup()
        _ = try other.batch { writer in try writer.create(.documents, values: document("g")) }
        _ = try hub.batch { writer in try writer.create(.documents, values: document("h")) }

        let seqs = try entries(hub)
        #expect(seqs == Array(1...Int64(seqs.count)), "\(seqs)")
        let chains = try hub.verifyAuditTrail(site: "hq")
        #expect(
            chains.allSatisfy { $0.firstBreak == nil },
            "\(chains.map { "\($0.site) \(String(describing: $0.firstBreak))" })")
        #expect(try hub.check().problems.isEmpty)
    }

    @Test func transactionControlStatementsAreRecognised() {
        for sql in ["BEGIN IMMEDIATE", "COMMIT", " rollback", "ROLLBACK TO sp1", "SAVEPOINT sp2", "RELEASE sp2", "END"]
        {
            #expect(TransactionFacts.endsTheirLife(sql), "\(sql)")
        }
        for sql in ["PRAGMA journal_mode=WAL", "INSERT INTO meta VALUES (1, 2)", "BEGINNING", "COMMITTED", ""] {
            #expect(!TransactionFacts.endsTheirLife(sql), "\(sql)")
        }
    }
}
