import BranchSyncCore

/// One named schema change, applied once, in order, and recorded in `schema_migrations`.
struct Migration: Sendable {
    let name: String
    let sql: String
    /// Work SQL cannot do (hashing existing rows), run in the same transaction after `sql`.
    var after: (@Sendable (DatabaseConnection) throws -> Void)? = nil
}

extension Migration {
    /// Every migration in order. Never edit one that has shipped; add a new one.
    static let all: [Migration] = [
        Migration(
            name: "001-initial",
            sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                -- One row per record. `seq` is the record's position in this node's change log: every change to
                -- the record moves it to a new, higher seq, so the log holds only the newest entry per record
                -- (compacted by construction, like CouchDB's by-seq index) and `seq > cursor` is an index scan.
                CREATE TABLE records (
                    id TEXT PRIMARY KEY,
                    collection TEXT NOT NULL,
                    owner TEXT NOT NULL,
                    class TEXT NOT NULL,
                    deleted INTEGER NOT NULL,
                    code TEXT,
                    phone TEXT,
                    bank_account TEXT,
                    seq INTEGER NOT NULL UNIQUE,
                    origin TEXT NOT NULL,
                    state BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX records_by_code ON records(code) WHERE code IS NOT NULL;
                CREATE INDEX records_by_phone ON records(phone) WHERE phone IS NOT NULL;
                CREATE INDEX records_by_bank_account ON records(bank_account) WHERE bank_account IS NOT NULL;
                CREATE TABLE conflicts (
                    id INTEGER PRIMARY KEY,
                    record_id TEXT NOT NULL,
                    collection TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    field TEXT NOT NULL,
                    kept_value TEXT NOT NULL,
                    kept_stamp TEXT NOT NULL,
                    lost_value TEXT NOT NULL,
                    lost_stamp TEXT NOT NULL,
                    detected_at TEXT NOT NULL,
                    peer TEXT NOT NULL,
                    status TEXT NOT NULL DEFAULT 'open',
                    resolved_at TEXT,
                    resolved_by TEXT,
                    resolution TEXT,
                    UNIQUE (record_id, field, lost_stamp)
                );
                CREATE INDEX conflicts_open ON conflicts(status, id);
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY,
                    at TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    origin TEXT NOT NULL,
                    action TEXT NOT NULL,
                    collection TEXT,
                    record_id TEXT,
                    detail TEXT NOT NULL
                );
                CREATE INDEX audit_by_record ON audit(record_id, id);
                CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL) WITHOUT ROWID;
                """),
        Migration(
            name: "002-sync",
            sql: """
                -- One row per peer: on the hub every enrolled branch, on a branch its hub.
                CREATE TABLE peers (
                    site TEXT PRIMARY KEY,
                    role TEXT NOT NULL,
                    clearance TEXT NOT NULL DEFAULT 'internal',
                    stored_key BLOB,
                    server_key BLOB,
                    enrolled_at TEXT NOT NULL,
                    applied_cursor INTEGER NOT NULL DEFAULT 0,  -- we applied the peer's log up to this seq
                    acked_cursor INTEGER NOT NULL DEFAULT 0,    -- the peer applied our log up to this seq
                    online INTEGER NOT NULL DEFAULT 0,
                    state_since TEXT,
                    last_seen_at TEXT,
                    last_sync_at TEXT,
                    peer_software TEXT,
                    clock_skew_ms INTEGER,
                    peer_pending INTEGER NOT NULL DEFAULT 0,     -- what the peer last said it has for us
                    incoming_remaining INTEGER NOT NULL DEFAULT 0,
                    incoming_done INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT,
                    clearance_epoch INTEGER NOT NULL DEFAULT 0,  -- bumped by each grant
                    synced_epoch INTEGER NOT NULL DEFAULT 0      -- the epoch whose full resend the peer acknowledged
                ) WITHOUT ROWID;
                -- Changes a receiver refused (invalid, out of scope): kept for an operator, never blocking the stream.
                CREATE TABLE quarantine (
                    id INTEGER PRIMARY KEY,
                    peer TEXT NOT NULL,
                    record_id TEXT NOT NULL,
                    collection TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    state BLOB NOT NULL,
                    received_at TEXT NOT NULL,
                    status TEXT NOT NULL DEFAULT 'open'
                );
                ALTER TABLE conflicts ADD COLUMN local_side TEXT NOT NULL DEFAULT 'kept';
                -- The attachment a document refers to, so outgoing batches find blobs without decoding states.
                ALTER TABLE records ADD COLUMN attachment TEXT;
                -- Purges waiting until the hub has this node's unsent changes to those records (nothing is lost).
                CREATE TABLE pending_purges (
                    record_id TEXT PRIMARY KEY,
                    peer TEXT NOT NULL,
                    requested_at TEXT NOT NULL
                ) WITHOUT ROWID;
                """),
        Migration(
            name: "003-integrity",
            sql: """
                -- Verify (DESIGN.md §13): each record's digest (the first 8 bytes of the SHA-256 of its state) and its
                -- level-1 bucket (the id's last byte, random in a version 7 UUID). `digest_buckets` keeps, per bucket,
                -- owner and class, the record count and the XOR of digests, maintained by triggers in the transaction
                -- of every write, so a site's scope is summarised without reading its records.
                ALTER TABLE records ADD COLUMN digest INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE records ADD COLUMN bucket INTEGER NOT NULL DEFAULT 0;
                -- When this node stored this version (milliseconds), for lag in seconds.
                ALTER TABLE records ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX records_by_bucket ON records(bucket, id);
                CREATE TABLE digest_buckets (
                    bucket INTEGER NOT NULL,
                    owner TEXT NOT NULL,
                    class TEXT NOT NULL,
                    records INTEGER NOT NULL,
                    digest INTEGER NOT NULL,
                    PRIMARY KEY (bucket, owner, class)
                ) WITHOUT ROWID;
                CREATE TRIGGER records_digest_insert AFTER INSERT ON records BEGIN
                    INSERT INTO digest_buckets(bucket, owner, class, records, digest)
                    VALUES (NEW.bucket, NEW.owner, NEW.class, 1, NEW.digest)
                    ON CONFLICT(bucket, owner, class) DO UPDATE
                    SET records = records + 1, digest = (digest | NEW.digest) & ~(digest & NEW.digest);
                END;
                CREATE TRIGGER records_digest_delete AFTER DELETE ON records BEGIN
                    UPDATE digest_buckets
                    SET records = records - 1, digest = (digest | OLD.digest) & ~(digest & OLD.digest)
                    WHERE bucket = OLD.bucket AND owner = OLD.owner AND class = OLD.class;
                END;
                CREATE TRIGGER records_digest_update AFTER UPDATE OF digest, class, owner, bucket ON records BEGIN
                    UPDATE digest_buckets
                    SET records = records - 1, digest = (digest | OLD.digest) & ~(digest & OLD.digest)
                    WHERE bucket = OLD.bucket AND owner = OLD.owner AND class = OLD.class;
                    INSERT INTO digest_buckets(bucket, owner, class, records, digest)
                    VALUES (NEW.bucket, NEW.owner, NEW.class, 1, NEW.digest)
                    ON CONFLICT(bucket, owner, class) DO UPDATE
                    SET records = records + 1, digest = (digest | NEW.digest) & ~(digest & NEW.digest);
                END;
                -- Quarantine rows by kind: 'refused' (policy; answered with a compensating write), 'invalid'
                -- (causally invalid; flags the site), 'held' (waits for the record named in `awaits`), and at a
                -- branch 'refused-by-hub' (the hub's REFUSED notice, with this node's values).
                ALTER TABLE quarantine ADD COLUMN kind TEXT NOT NULL DEFAULT 'refused';
                ALTER TABLE quarantine ADD COLUMN awaits TEXT;
                ALTER TABLE quarantine ADD COLUMN refused_dot TEXT;
                -- Hub: a refusal's REFUSED notice is owed to the sender until it acknowledges this log position (the
                -- compensating write), which it receives after the notice.
                ALTER TABLE quarantine ADD COLUMN notice_seq INTEGER;
                CREATE INDEX quarantine_awaits ON quarantine(awaits) WHERE status = 'held';
                CREATE INDEX conflicts_by_record ON conflicts(record_id, status);
                -- Restore safety (DESIGN.md §12) and status.
                ALTER TABLE peers ADD COLUMN peer_counter INTEGER NOT NULL DEFAULT 0;  -- highest counter of the peer held here
                ALTER TABLE peers ADD COLUMN peer_incarnation BLOB;                    -- the peer's incarnation as last seen
                ALTER TABLE peers ADD COLUMN echo_floor INTEGER NOT NULL DEFAULT 0;    -- our log up to here goes back to the peer
                ALTER TABLE peers ADD COLUMN resync_pending INTEGER NOT NULL DEFAULT 0; -- hub: a full resync is due
                ALTER TABLE peers ADD COLUMN last_regression TEXT;                     -- the last detected restore, for status
                ALTER TABLE peers ADD COLUMN peer_pending_age_ms INTEGER;              -- age of the peer's oldest unsent change
                ALTER TABLE peers ADD COLUMN verified_at TEXT;                         -- last verify that found no difference
                ALTER TABLE peers ADD COLUMN verified_seq INTEGER;                     -- our log head at that verify
                ALTER TABLE peers ADD COLUMN verified_peer_seq INTEGER;                -- the peer's log position then
                ALTER TABLE peers ADD COLUMN verified_records INTEGER;
                ALTER TABLE peers ADD COLUMN last_verify_at TEXT;                      -- last verify, whatever it found
                ALTER TABLE peers ADD COLUMN last_verify_result TEXT;
                ALTER TABLE peers ADD COLUMN last_verify_started_at TEXT;              -- when that verify started
                ALTER TABLE peers ADD COLUMN verify_requested_at TEXT;                 -- `branchsync verify` asked for one
                -- Branch: the hub's proof of the last position of its log received (Protocol.md §8.2).
                ALTER TABLE peers ADD COLUMN hub_proof_position INTEGER;
                ALTER TABLE peers ADD COLUMN hub_proof BLOB;                           -- epoch (16 bytes) ‖ HMAC (32)
                -- Hub: the epochs of its log's history. Each process that writes starts one, after the positions
                -- issued before it: epoch k holds the positions after its start_after up to the next epoch's. A hub
                -- restored from an older copy lacks the epochs (or the positions) its branches received proofs of.
                CREATE TABLE history_epochs (
                    seq INTEGER PRIMARY KEY,
                    id BLOB NOT NULL UNIQUE,
                    start_after INTEGER NOT NULL
                );
                CREATE INDEX history_epochs_by_start ON history_epochs(start_after, seq);
                """,
            after: { db in try RecordDigest.backfill(db) }),
        Migration(
            name: "004-limits",
            sql: """
                -- Hub: how often each limit was hit (DESIGN.md §14), written by the hub's housekeeping only.
                CREATE TABLE limit_hits (
                    name TEXT PRIMARY KEY,
                    count INTEGER NOT NULL,
                    last_at TEXT NOT NULL,
                    last_detail TEXT NOT NULL
                ) WITHOUT ROWID;
                -- Which records refer to an attachment (attachments no record refers to are not kept).
                CREATE INDEX records_by_attachment ON records(attachment) WHERE attachment IS NOT NULL;
                """),
        Migration(
            name: "005-quarantine-quota",
            sql: """
                -- Hub: a site's open quarantine rows, counted against its quota before each batch is applied.
                CREATE INDEX quarantine_open_by_peer ON quarantine(peer) WHERE status IN ('open', 'held');
                """),
        Migration(
            name: "006-suspicious-customers",
            sql: """
                ALTER TABLE records ADD COLUMN credit_code TEXT;
                -- The live customers holding a value, oldest id first: the oldest holder of a value is the first
                -- entry (an index-only lookup however many customers share the value), and a customer code's holder
                -- is found the same way. They replace the indexes of 001, which held deleted records too.
                DROP INDEX records_by_code;
                DROP INDEX records_by_phone;
                DROP INDEX records_by_bank_account;
                CREATE INDEX live_customers_by_code ON records(code, id)
                    WHERE collection = 'customers' AND deleted = 0 AND code IS NOT NULL;
                CREATE INDEX live_customers_by_phone ON records(phone, id)
                    WHERE collection = 'customers' AND deleted = 0 AND phone IS NOT NULL;
                CREATE INDEX live_customers_by_bank_account ON records(bank_account, id)
                    WHERE collection = 'customers' AND deleted = 0 AND bank_account IS NOT NULL;
                CREATE INDEX live_customers_by_credit_code ON records(credit_code, id)
                    WHERE collection = 'customers' AND deleted = 0 AND credit_code IS NOT NULL;
                -- Suspicious-customer leads among the live customers this node holds: two customers sharing a phone,
                -- bank account, credit code or customer code (the oldest holder of a value paired with each other). Derived from `records` and kept current by every save
                -- of a customer (LeadIndex), in its transaction. The id is derived from kind, value and both ids, so
                -- every site names a lead alike; a cleared lead is a record of collection 'decisions' with that id.
                CREATE TABLE leads (
                    id TEXT PRIMARY KEY,
                    kind TEXT NOT NULL,
                    value TEXT NOT NULL,
                    first_id TEXT NOT NULL,
                    second_id TEXT NOT NULL,
                    detected_at TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX leads_by_first ON leads(first_id);
                CREATE INDEX leads_by_second ON leads(second_id);
                CREATE INDEX leads_by_value ON leads(kind, value, second_id);
                """,
            after: { db in try LeadIndex.rebuild(db) }),
        Migration(
            name: "007-audit-chain",
            sql: """
                -- Each site's audit trail is a hash chain (AuditTrail): entries numbered 1, 2, 3, … per site, each
                -- with the SHA-256 of the one before. The hub also holds every branch's entries, from their audit
                -- blocks. Existing entries are this node's own and are chained in id order.
                ALTER TABLE audit ADD COLUMN site TEXT NOT NULL DEFAULT '';
                ALTER TABLE audit ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
                ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
                -- 1 for an entry taken in from an audit block (a branch's, at the hub; its own, back after a restore).
                ALTER TABLE audit ADD COLUMN received INTEGER NOT NULL DEFAULT 0;
                """,
            after: { db in try AuditTrail.chainExistingEntries(db) }),
        Migration(
            name: "008-record-shares",
            sql: """
                -- A confidential record the hub shared with named sites (need-to-know): `,a,b,` or empty, so scope
                -- conditions find a site as `,site,`. The verify summaries gain it as a dimension.
                ALTER TABLE records ADD COLUMN shared_with TEXT NOT NULL DEFAULT '';
                DROP TRIGGER records_digest_insert;
                DROP TRIGGER records_digest_delete;
                DROP TRIGGER records_digest_update;
                DROP TABLE digest_buckets;
                CREATE TABLE digest_buckets (
                    bucket INTEGER NOT NULL,
                    owner TEXT NOT NULL,
                    class TEXT NOT NULL,
                    shared_with TEXT NOT NULL,
                    records INTEGER NOT NULL,
                    digest INTEGER NOT NULL,
                    PRIMARY KEY (bucket, owner, class, shared_with)
                ) WITHOUT ROWID;
                CREATE TRIGGER records_digest_insert AFTER INSERT ON records BEGIN
                    INSERT INTO digest_buckets(bucket, owner, class, shared_with, records, digest)
                    VALUES (NEW.bucket, NEW.owner, NEW.class, NEW.shared_with, 1, NEW.digest)
                    ON CONFLICT(bucket, owner, class, shared_with) DO UPDATE
                    SET records = records + 1, digest = (digest | NEW.digest) & ~(digest & NEW.digest);
                END;
                CREATE TRIGGER records_digest_delete AFTER DELETE ON records BEGIN
                    UPDATE digest_buckets
                    SET records = records - 1, digest = (digest | OLD.digest) & ~(digest & OLD.digest)
                    WHERE bucket = OLD.bucket AND owner = OLD.owner AND class = OLD.class
                        AND shared_with = OLD.shared_with;
                END;
                CREATE TRIGGER records_digest_update AFTER UPDATE OF digest, class, owner, bucket, shared_with ON records
                BEGIN
                    UPDATE digest_buckets
                    SET records = records - 1, digest = (digest | OLD.digest) & ~(digest & OLD.digest)
                    WHERE bucket = OLD.bucket AND owner = OLD.owner AND class = OLD.class
                        AND shared_with = OLD.shared_with;
                    INSERT INTO digest_buckets(bucket, owner, class, shared_with, records, digest)
                    VALUES (NEW.bucket, NEW.owner, NEW.class, NEW.shared_with, 1, NEW.digest)
                    ON CONFLICT(bucket, owner, class, shared_with) DO UPDATE
                    SET records = records + 1, digest = (digest | NEW.digest) & ~(digest & NEW.digest);
                END;
                -- Existing records have no share list yet: the summaries are rebuilt from them.
                INSERT INTO digest_buckets(bucket, owner, class, shared_with, records, digest)
                SELECT bucket, owner, class, '', 1, digest FROM records WHERE true
                ON CONFLICT(bucket, owner, class, shared_with) DO UPDATE
                SET records = records + 1, digest = (digest | excluded.digest) & ~(digest & excluded.digest);
                """),
        Migration(
            name: "009-retired-sites",
            sql: """
                -- A site closed or merged (`site retire`): its credentials are gone, its records were handed to the
                -- successor.
                ALTER TABLE peers ADD COLUMN retired_at TEXT;
                ALTER TABLE peers ADD COLUMN successor TEXT;
                """),
        Migration(
            name: "010-retention-dates",
            sql: """
                -- A customer's or document's `retainUntil`, so `retention due` and `status` find what is past its
                -- retention date without reading every record.
                ALTER TABLE records ADD COLUMN retain_until TEXT;
                CREATE INDEX records_by_retain_until ON records(retain_until) WHERE retain_until IS NOT NULL AND deleted = 0;
                """,
            after: { db in
                let states = try db.statement(
                    "SELECT state FROM records WHERE collection IN ('customers', 'documents')"
                ).rows { try NodeStore.decodeState($0.blob(0)) }
                let update = try db.statement("UPDATE records SET retain_until = ?2 WHERE id = ?1")
                for state in states where state[RecordSchema.retainUntilField] != nil {
                    try update.run([.text(state.id.description), .optionalText(state[RecordSchema.retainUntilField])])
                }
            }),
        Migration(
            name: "011-site-access",
            sql: """
                -- Operator decisions about a branch's access (`site disable|enable|revoke|rotate-secret`):
                -- disabled keeps its verifier for `enable`; revoked has none. `access_epoch` grows with each of
                -- them (and with `site retire`), so a connected session of the site ends.
                ALTER TABLE peers ADD COLUMN disabled_at TEXT;
                ALTER TABLE peers ADD COLUMN revoked_at TEXT;
                ALTER TABLE peers ADD COLUMN access_epoch INTEGER NOT NULL DEFAULT 0;
                """),
        Migration(
            name: "012-tombstone-gc",
            sql: """
                -- Hub: the position of its log the site had applied at the last moment both sides were caught up
                -- (nothing in flight either way, the site's own changes all applied here): a tombstone at or before
                -- every counted site's `settled_cursor` can no longer meet a concurrent change, and is collected.
                ALTER TABLE peers ADD COLUMN settled_cursor INTEGER NOT NULL DEFAULT 0;
                -- Hub: the site was silent past the GC horizon while holding a collection back; it no longer counts
                -- and owes a full resync (DESIGN.md §12) when it returns.
                ALTER TABLE peers ADD COLUMN stale_since TEXT;
                """),
        Migration(
            name: "013-kept-destructions",
            sql: """
                -- `records.deleted` is 2 for a destruction (§2 rule 5): never collected, so an edit of a destroyed
                -- record is always absorbed by its tombstone, and no value of it reaches the quarantine. The
                -- destructions already stored are marked below.
                -- The tombstones by log position: what a collection round, `status` and the metrics look for, without
                -- reading the records table.
                CREATE INDEX tombstones_by_seq ON records(seq, changed_at) WHERE deleted = 1;
                """,
            after: { db in
                let destroyed = try db.statement("SELECT id, state FROM records WHERE deleted = 1").rows {
                    (id: $0.text(0), state: try NodeStore.decodeState($0.blob(1)))
                }.filter(\.state.isDestroyed)
                let mark = try db.statement("UPDATE records SET deleted = 2 WHERE id = ?1")
                for record in destroyed { try mark.run([.text(record.id)]) }
            }),
        Migration(
            name: "014-summaries-without-triggers",
            sql: """
                -- The verify summaries are kept by the store's writes (DigestSummaries), summed per transaction: a
                -- trigger made every record's write a multi-row statement with a statement journal of its own.
                DROP TRIGGER IF EXISTS records_digest_insert;
                DROP TRIGGER IF EXISTS records_digest_delete;
                DROP TRIGGER IF EXISTS records_digest_update;
                """),
        Migration(
            name: "015-leads-of-removed-customers",
            sql: """
                -- Earlier builds removed a purged or forgotten customer's row but not its leads, which kept the
                -- shared value (a phone, an account) of a customer this site may no longer hold. The groups with
                -- such a lead are re-paired from the indexes (LeadIndex.repairStale); removals now take their
                -- leads along.
                """,
            after: { db in try LeadIndex.repairStale(db) }),
    ]
}
