//! The PostgreSQL [`Store`]: one table per [`Table`] in a schema of its own, every batch one
//! transaction committed with `synchronous_commit = on` (durable when `commit` returns, as the
//! embedded store), `Insert` as `INSERT … ON CONFLICT DO NOTHING` whose miss aborts the whole
//! transaction with [`StoreError::Exists`].
//!
//! Client: the `postgres` crate (the blocking face of `tokio-postgres`: runtime-checked SQL, no
//! database needed at compile time, no ORM), chosen over `sqlx` because the [`Store`] trait is
//! synchronous and a handful of fixed statements need neither compile-time checking nor a
//! query builder. A blocking `postgres::Client` drives its own small runtime, which must not
//! run on a thread that is already driving async tasks; so each connection lives on a
//! dedicated OS thread of this store's pool and callers hand it work over a channel. That also
//! bounds the connections: `connections` threads, one connection each, reconnecting when the
//! server closed theirs.
//!
//! Schema (version [`SCHEMA_VERSION`], migrations applied at open under an advisory lock, so
//! several instances may start at once): `credence_<table> (shard BYTEA, k BYTEA, v BYTEA,
//! PRIMARY KEY (shard, k))`. `shard` is a function of the key — the subject pseudonym for the
//! per-subject tables (`subjects`, `subject_attributes`, `sealed_openings`), empty elsewhere —
//! so a Citus deployment can distribute the per-subject tables on it and a prefix scan of one
//! subject stays on one shard (see `docs/scale-out.md`). `bytea` compares bytewise, so scans
//! come back in the same key order as every other backend.

mod pool;

use pool::{off_runtime, run_on, spawn_worker, Conn, HeadGuard, Job};
pub use pool::{redact, Location};

use crate::store::{Batch, Entry, Op, Store, StoreError, Table, MAX_KEY};
use postgres::Statement;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// The schema version this code writes; migrations `1..=SCHEMA_VERSION` are applied at open.
pub const SCHEMA_VERSION: i32 = 1;

/// Keys and values of one table in one statement.
type Rows<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Rows and bytes of one multi-row statement (a batch of more is sent in several).
const MAX_ROWS: usize = 1000;
const MAX_STATEMENT_BYTES: usize = 8 << 20;

/// Connections (and pool threads) unless told otherwise.
pub const DEFAULT_CONNECTIONS: usize = 8;

/// The advisory lock taken while migrating (any constant shared by every instance).
const MIGRATION_LOCK: i64 = 0x0043_5245_4445_4e43; // "CREDENC"

/// Bytes of a pseudonym as keys carry it (kind byte ‖ 32 bytes).
const PSEUDONYM: usize = 33;

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Where the per-table shard key lies in a key: `(offset, length)`, or `None` for tables kept
/// whole (reference tables or the coordinator's own, under Citus).
fn shard_span(table: Table, key: &[u8]) -> Option<(usize, usize)> {
    match table {
        // pseudonym, or "q/" ‖ pseudonym ‖ index (the subject's query history)
        Table::Subjects if key.starts_with(b"q/") => Some((2, PSEUDONYM)),
        Table::Subjects | Table::SubjectAttributes | Table::SealedOpenings => Some((0, PSEUDONYM)),
        _ => None,
    }
}

/// The shard column's value for `key` in `table`.
fn shard_of(table: Table, key: &[u8]) -> &[u8] {
    match shard_span(table, key) {
        Some((at, len)) => {
            let start = at.min(key.len());
            &key[start..(at + len).min(key.len())]
        }
        None => &[],
    }
}

/// The shard every key of `[from, to)` has, when they all have one and the same.
fn scan_shard<'a>(table: Table, from: &'a [u8], to: Option<&[u8]>) -> Option<&'a [u8]> {
    let to = to?;
    let (at, len) = shard_span(table, from)?;
    let end = at + len;
    // Keys between two keys sharing their first `end` bytes share them too.
    if from.len() >= end && to.len() >= end && from[..end] == to[..end] {
        // … and their span is the same (the `q/` prefix is part of the shared bytes).
        if shard_span(table, to) == Some((at, len)) {
            return Some(&from[at..end]);
        }
    }
    None
}

fn put_sql(table: Table) -> String {
    format!(
        "INSERT INTO {} (shard, k, v) \
         SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[]) \
         ON CONFLICT (shard, k) DO UPDATE SET v = EXCLUDED.v",
        table_name(table)
    )
}

fn insert_sql(table: Table) -> String {
    format!(
        "INSERT INTO {} (shard, k, v) VALUES ($1, $2, $3) ON CONFLICT (shard, k) DO NOTHING",
        table_name(table)
    )
}

fn delete_sql(table: Table) -> String {
    format!(
        "DELETE FROM {} WHERE shard = $1 AND k = $2",
        table_name(table)
    )
}

fn table_name(table: Table) -> String {
    format!("credence_{}", table.name())
}

fn is_sharded(table: Table) -> bool {
    matches!(
        table,
        Table::Subjects | Table::SubjectAttributes | Table::SealedOpenings
    )
}

/// The statements of migration `version` (1-based).
fn migration(version: i32) -> Vec<String> {
    match version {
        1 => {
            let mut out = Vec::new();
            for t in Table::ALL {
                let name = table_name(t);
                out.push(format!(
                    "CREATE TABLE {name} (\
                     shard BYTEA NOT NULL DEFAULT ''::bytea, \
                     k BYTEA NOT NULL, \
                     v BYTEA NOT NULL, \
                     PRIMARY KEY (shard, k))"
                ));
                if is_sharded(t) {
                    // Scans across subjects (rare: audits, listings) go by key alone.
                    out.push(format!("CREATE INDEX {name}_k ON {name} (k)"));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// A store in a PostgreSQL schema.
pub struct PostgresStore {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    /// The connection that holds the log-head lock (a session advisory lock: released by the
    /// server if this process dies holding it).
    lock_jobs: Mutex<Option<mpsc::Sender<Job>>>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    location: Location,
}

/// The log-head lock's key: one per schema, so services in other schemas do not contend.
fn log_head_key(schema: &str) -> i64 {
    use sha3::Digest;
    let d = sha3::Sha3_256::digest(format!("credence/log-head/{schema}").as_bytes());
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresStore({:?})", self.location)
    }
}

impl PostgresStore {
    /// Connects with `connections` connections, creates the schema if missing and applies the
    /// migrations it lacks. Refuses a schema written by a newer version.
    pub fn open(location: Location, connections: usize) -> Result<Self, StoreError> {
        if connections == 0 {
            return Err(StoreError::Backend(
                "store connections must be at least 1".into(),
            ));
        }
        // A blocking client must neither be built nor dropped on a thread driving async
        // tasks (the caller's may be one): migrate on a thread of its own.
        off_runtime(|| migrate(&location))?;
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::with_capacity(connections + 1);
        for i in 0..connections {
            workers.push(spawn_worker(
                format!("credence-pg-{i}"),
                rx.clone(),
                location.clone(),
            )?);
        }
        let (lock_tx, lock_rx) = mpsc::channel::<Job>();
        workers.push(spawn_worker(
            "credence-pg-lock".into(),
            Arc::new(Mutex::new(lock_rx)),
            location.clone(),
        )?);
        Ok(PostgresStore {
            jobs: Mutex::new(Some(tx)),
            lock_jobs: Mutex::new(Some(lock_tx)),
            workers: Mutex::new(workers),
            location,
        })
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        run_on(&self.jobs, f)
    }

    /// Drops every table of this store's schema (tests and benches clean up with it).
    pub fn drop_schema(self) -> Result<(), StoreError> {
        let location = self.location.clone();
        drop(self);
        off_runtime(|| {
            let mut conn = location.connect()?;
            conn.client
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                    location.schema
                ))
                .map_err(backend)
        })
    }

    /// Bytes the schema's tables and indexes take on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        let schema = self.location.schema.clone();
        self.run(move |c| {
            let row = c
                .client
                .query_one(
                    "SELECT COALESCE(SUM(pg_total_relation_size(format('%I.%I', schemaname, tablename))), 0)::BIGINT \
                     FROM pg_tables WHERE schemaname = $1",
                    &[&schema],
                )
                .map_err(backend)?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Closing the channels stops every worker after its current job.
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.lock_jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        for w in self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = w.join();
        }
    }
}

fn migrate(location: &Location) -> Result<(), StoreError> {
    let mut conn = location.connect()?;
    let mut tx = conn.client.transaction().map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(backend)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{0}\"; \
         CREATE TABLE IF NOT EXISTS \"{0}\".credence_schema_version (version INT NOT NULL)",
        location.schema
    ))
    .map_err(backend)?;
    let version: i32 = match tx
        .query_opt("SELECT version FROM credence_schema_version", &[])
        .map_err(backend)?
    {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO credence_schema_version VALUES (0)", &[])
                .map_err(backend)?;
            0
        }
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "the store's schema is version {version}, written by a newer credence (this one knows {SCHEMA_VERSION}): refusing to open it"
        )));
    }
    for v in version + 1..=SCHEMA_VERSION {
        for sql in migration(v) {
            tx.batch_execute(&sql).map_err(backend)?;
        }
    }
    tx.execute(
        "UPDATE credence_schema_version SET version = $1",
        &[&SCHEMA_VERSION],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)
}

impl Store for PostgresStore {
    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        crate::store::check_sizes(batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        let batch = batch.clone();
        self.run(move |c| {
            // Prepared once per connection (the cache), before the transaction borrows it.
            let mut prepared: HashMap<(u8, Table), Statement> = HashMap::new();
            for op in &batch.ops {
                let (kind, table, sql) = match op {
                    Op::Put { table, .. } => (0u8, *table, put_sql(*table)),
                    Op::Insert { table, .. } => (1, *table, insert_sql(*table)),
                    Op::Delete { table, .. } => (2, *table, delete_sql(*table)),
                };
                if let std::collections::hash_map::Entry::Vacant(e) = prepared.entry((kind, table))
                {
                    e.insert(c.statement(sql).map_err(backend)?);
                }
            }
            let mut tx = c.client.transaction().map_err(backend)?;
            let ops = &batch.ops;
            let mut i = 0;
            while i < ops.len() {
                match &ops[i] {
                    Op::Put { .. } => {
                        // A run of puts is one statement per table and chunk (rows as arrays).
                        // Puts into different tables commute; within a table a later put of a
                        // key wins, as if applied in order.
                        let mut j = i;
                        let mut by_table: Vec<(Table, Rows<'_>)> = Vec::new();
                        let (mut rows, mut bytes) = (0usize, 0usize);
                        while j < ops.len() && rows < MAX_ROWS && bytes < MAX_STATEMENT_BYTES {
                            let Op::Put { table, key, value } = &ops[j] else {
                                break;
                            };
                            match by_table.iter_mut().find(|(t, _)| t == table) {
                                Some((_, v)) => v.push((key, value)),
                                None => by_table.push((*table, vec![(key, value)])),
                            }
                            rows += 1;
                            bytes += key.len() + value.len();
                            j += 1;
                        }
                        for (table, rows) in &by_table {
                            let mut last: HashMap<&[u8], usize> =
                                HashMap::with_capacity(rows.len());
                            for (n, (k, _)) in rows.iter().enumerate() {
                                last.insert(k, n);
                            }
                            let (mut shards, mut keys, mut values) =
                                (Vec::new(), Vec::new(), Vec::new());
                            for (n, (k, v)) in rows.iter().enumerate() {
                                if last[k] == n {
                                    shards.push(shard_of(*table, k));
                                    keys.push(*k);
                                    values.push(*v);
                                }
                            }
                            tx.execute(&prepared[&(0, *table)], &[&shards, &keys, &values])
                                .map_err(backend)?;
                        }
                        i = j;
                    }
                    Op::Insert { table, key, value } => {
                        let n = tx
                            .execute(
                                &prepared[&(1, *table)],
                                &[&shard_of(*table, key), key, value],
                            )
                            .map_err(backend)?;
                        if n == 0 {
                            // Dropping `tx` rolls every earlier write of the batch back.
                            return Err(StoreError::Exists {
                                table: *table,
                                key: hex::encode(key),
                            });
                        }
                        i += 1;
                    }
                    Op::Delete { table, key } => {
                        tx.execute(&prepared[&(2, *table)], &[&shard_of(*table, key), key])
                            .map_err(backend)?;
                        i += 1;
                    }
                }
            }
            tx.commit().map_err(backend)
        })
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if key.len() > MAX_KEY {
            return Ok(None);
        }
        let key = key.to_vec();
        self.run(move |c| {
            let stmt = c
                .statement(format!(
                    "SELECT v FROM {} WHERE shard = $1 AND k = $2",
                    table_name(table)
                ))
                .map_err(backend)?;
            let row = c
                .client
                .query_opt(&stmt, &[&shard_of(table, &key), &key])
                .map_err(backend)?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })
    }

    fn scan(
        &self,
        table: Table,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        if to.is_some_and(|to| to <= from) || limit == 0 {
            return Ok(Vec::new());
        }
        let from = from.to_vec();
        let to = to.map(<[u8]>::to_vec);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |c| {
            let name = table_name(table);
            // Tables kept whole have one shard value (empty); a scan inside one subject's
            // prefix names its shard (one shard under Citus); others go by key alone.
            let shard: Option<Vec<u8>> = if shard_span(table, &from).is_none() {
                Some(Vec::new())
            } else {
                scan_shard(table, &from, to.as_deref()).map(<[u8]>::to_vec)
            };
            let rows = match (&shard, &to) {
                (Some(s), Some(to)) => {
                    let stmt = c
                        .statement(format!(
                            "SELECT k, v FROM {name} WHERE shard = $1 AND k >= $2 AND k < $3 ORDER BY k LIMIT $4"
                        ))
                        .map_err(backend)?;
                    c.client.query(&stmt, &[s, &from, to, &limit])
                }
                (Some(s), None) => {
                    let stmt = c
                        .statement(format!(
                            "SELECT k, v FROM {name} WHERE shard = $1 AND k >= $2 ORDER BY k LIMIT $3"
                        ))
                        .map_err(backend)?;
                    c.client.query(&stmt, &[s, &from, &limit])
                }
                (None, Some(to)) => {
                    let stmt = c
                        .statement(format!(
                            "SELECT k, v FROM {name} WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3"
                        ))
                        .map_err(backend)?;
                    c.client.query(&stmt, &[&from, to, &limit])
                }
                (None, None) => {
                    let stmt = c
                        .statement(format!(
                            "SELECT k, v FROM {name} WHERE k >= $1 ORDER BY k LIMIT $2"
                        ))
                        .map_err(backend)?;
                    c.client.query(&stmt, &[&from, &limit])
                }
            }
            .map_err(backend)?;
            Ok(rows
                .into_iter()
                .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)))
                .collect())
        })
    }

    fn lock_log_head(&self) -> Result<crate::store::StoreLock, StoreError> {
        let key = log_head_key(&self.location.schema);
        let sender = self
            .lock_jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Backend("the store is closed".into()))?;
        run_on(&self.lock_jobs, move |c| {
            c.client
                .execute("SELECT pg_advisory_lock($1)", &[&key])
                .map_err(backend)?;
            Ok(())
        })?;
        Ok(crate::store::StoreLock::new(Box::new(HeadGuard {
            jobs: sender,
            key,
        })))
    }

    fn count(&self, table: Table) -> Result<u64, StoreError> {
        self.run(move |c| {
            let stmt = c
                .statement(format!("SELECT count(*) FROM {}", table_name(table)))
                .map_err(backend)?;
            let row = c.client.query_one(&stmt, &[]).map_err(backend)?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::store::postgres::{redact, scan_shard, shard_of, Location};
    use crate::store::Table;

    #[test]
    fn shards_follow_the_subject_prefix() {
        let p = [7u8; 33];
        let mut k = p.to_vec();
        k.extend_from_slice(b"aattr");
        assert_eq!(shard_of(Table::SubjectAttributes, &k), &p[..]);
        let mut q = b"q/".to_vec();
        q.extend_from_slice(&p);
        q.extend_from_slice(&9u64.to_be_bytes());
        assert_eq!(shard_of(Table::Subjects, &q), &p[..]);
        assert_eq!(shard_of(Table::Verdicts, &k), b"");
        assert_eq!(shard_of(Table::SubjectAttributes, b"ab"), b"ab");
        // A scan inside one subject names its shard; one across subjects does not.
        let (from, to) = crate::store::prefix_range(&k);
        assert_eq!(
            scan_shard(Table::SubjectAttributes, &from, to.as_deref()),
            Some(&p[..])
        );
        let (from, to) = crate::store::prefix_range(&p[..10]);
        assert_eq!(
            scan_shard(Table::SubjectAttributes, &from, to.as_deref()),
            None
        );
    }

    #[test]
    fn passwords_are_never_printed() {
        assert_eq!(
            redact("postgres://credence:s3cret@db:5432/credence"),
            "postgres://credence@db:5432/credence"
        );
        for url in [
            "postgres://credence:s3cret@db:5432/credence",
            "postgres://credence@db/credence?password=s3cret",
            "postgresql://credence@db/credence?sslmode=disable&password=s3cret",
            "host=db user=credence password=s3cret",
            "host=db user=credence password = s3cret",
            "host=db user=credence password='s3cret and more'",
            "not a url s3cret",
        ] {
            let r = redact(url);
            assert!(!r.contains("s3cret") && !r.contains("more"), "{url} -> {r}");
        }
        assert!(Location::new("postgres://localhost/db", "public").is_err());
        assert!(Location::new("postgres://localhost/db", "pg_catalog").is_err());
        let l = Location::new("postgres://u:s3cret@localhost/db", "credence").unwrap();
        assert!(!format!("{l:?}").contains("s3cret"));
        assert!(Location::new("postgres://localhost/db", "Robert'); DROP").is_err());
        assert!(Location::new("postgres://localhost/db", "1x").is_err());
    }
}
