//! Storage: one trait, [`Store`], over typed tables of byte strings, with atomic, durable batches.
//!
//! Everything the service keeps lives in one of the [`Table`]s — parties and their keys,
//! subjects (pseudonyms only), attribute versions (compressed ciphertexts, commitments,
//! signatures), log leaves and tree hashes, checkpoints, verdicts, consents, sealed openings —
//! as canonical encodings from `credence-protocols` under big-endian keys, so scans come back in
//! key order. A [`Batch`] is applied all or nothing and is durable when [`Store::commit`]
//! returns: the service acknowledges a write only after that.
//!
//! Backends: [`embedded::EmbeddedStore`] (the default: one redb file, nothing to install),
//! [`postgres::PostgresStore`] (a PostgreSQL schema; several service instances may share it)
//! and [`memory::MemoryStore`] (tests). [`conformance`] is the suite every backend must pass.

pub mod conformance;
pub mod embedded;
pub mod memory;
pub mod postgres;

/// The tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Registered parties (holders, banks, witnesses, key authority) and their keys.
    Parties,
    /// Subjects by pseudonym (never a raw identifier).
    Subjects,
    /// Attribute versions: sealed records and signed commitments, by (holder, submission).
    Submissions,
    /// Index: (pseudonym, attribute, submission) → submission key.
    SubjectAttributes,
    /// Log leaves by index.
    LogLeaves,
    /// Complete-subtree hashes of the log, by (level, index).
    LogHashes,
    /// Signed checkpoints by tree size.
    Checkpoints,
    /// Signed verdicts by hash.
    Verdicts,
    /// Consents by (pseudonym, bank, …).
    Consents,
    /// Openings sealed to subjects, by (pseudonym, holder, submission).
    SealedOpenings,
    /// Request nonces seen, by (time, party, nonce), kept for the replay window.
    Nonces,
    /// Small settings and counters.
    Meta,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 12] = [
        Table::Parties,
        Table::Subjects,
        Table::Submissions,
        Table::SubjectAttributes,
        Table::LogLeaves,
        Table::LogHashes,
        Table::Checkpoints,
        Table::Verdicts,
        Table::Consents,
        Table::SealedOpenings,
        Table::Nonces,
        Table::Meta,
    ];

    /// Stable name (the embedded backend's table name).
    pub fn name(self) -> &'static str {
        match self {
            Table::Parties => "parties",
            Table::Subjects => "subjects",
            Table::Submissions => "submissions",
            Table::SubjectAttributes => "subject_attributes",
            Table::LogLeaves => "log_leaves",
            Table::LogHashes => "log_hashes",
            Table::Checkpoints => "checkpoints",
            Table::Verdicts => "verdicts",
            Table::Consents => "consents",
            Table::SealedOpenings => "sealed_openings",
            Table::Nonces => "nonces",
            Table::Meta => "meta",
        }
    }
}

/// One write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Insert or overwrite.
    Put {
        /// Table.
        table: Table,
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Insert; the whole batch fails with [`StoreError::Exists`] if the key is present (in the
    /// store or earlier in the batch).
    Insert {
        /// Table.
        table: Table,
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Remove if present.
    Delete {
        /// Table.
        table: Table,
        /// Key.
        key: Vec<u8>,
    },
}

/// Writes applied together: all or none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The writes, in order.
    pub ops: Vec<Op>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds an insert-or-overwrite.
    pub fn put(
        &mut self,
        table: Table,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> &mut Self {
        self.ops.push(Op::Put {
            table,
            key: key.into(),
            value: value.into(),
        });
        self
    }
    /// Adds an insert that must not overwrite.
    pub fn insert(
        &mut self,
        table: Table,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> &mut Self {
        self.ops.push(Op::Insert {
            table,
            key: key.into(),
            value: value.into(),
        });
        self
    }
    /// Adds a delete.
    pub fn delete(&mut self, table: Table, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(Op::Delete {
            table,
            key: key.into(),
        });
        self
    }
    /// No writes.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An [`Op::Insert`] found its key present; nothing of the batch was applied.
    #[error("{table:?} already holds key {key}")]
    Exists {
        /// Table.
        table: Table,
        /// The key, hex.
        key: String,
    },
    /// The backend failed (I/O, corruption). Nothing of the batch was applied.
    #[error("storage backend: {0}")]
    Backend(String),
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Longest key a backend must accept.
pub const MAX_KEY: usize = 1024;
/// Largest value a backend must accept (a compressed 16-attribute record is ≈ 10 KB; a proven
/// list ≈ 20 KB).
pub const MAX_VALUE: usize = 4 << 20;

/// Refuses a batch holding a key or value beyond what every backend must accept
/// ([`MAX_KEY`], [`MAX_VALUE`]), before anything is written.
pub fn check_sizes(batch: &Batch) -> Result<(), StoreError> {
    for op in &batch.ops {
        let (key, value) = match op {
            Op::Put { key, value, .. } | Op::Insert { key, value, .. } => (key, Some(value)),
            Op::Delete { key, .. } => (key, None),
        };
        if key.len() > MAX_KEY || value.is_some_and(|v| v.len() > MAX_VALUE) {
            return Err(StoreError::Backend(format!(
                "key or value too large ({} / {} bytes)",
                key.len(),
                value.map_or(0, Vec::len)
            )));
        }
    }
    Ok(())
}

/// A key–value store with typed tables and atomic, durable batches.
pub trait Store: Send + Sync {
    /// Applies `batch` atomically; when it returns `Ok`, the writes survive a crash.
    fn commit(&self, batch: &Batch) -> Result<(), StoreError>;
    /// The value under `key`.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Up to `limit` entries with `from ≤ key < to` (`to = None`: no upper bound), in key order.
    fn scan(
        &self,
        table: Table,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;
    /// Number of entries in `table`.
    fn count(&self, table: Table) -> Result<u64, StoreError>;
    /// Takes the lock that serialises log appends across every process sharing this store,
    /// until the returned guard is dropped. Backends only one process can open (the embedded
    /// file is locked by its process; memory) need none: the default is a no-op guard.
    fn lock_log_head(&self) -> Result<StoreLock, StoreError> {
        Ok(StoreLock::none())
    }
}

/// A lock held in the store (see [`Store::lock_log_head`]); released when dropped.
pub struct StoreLock(Option<Box<dyn Send>>);

impl StoreLock {
    /// A lock that holds nothing (one-process backends).
    pub fn none() -> Self {
        StoreLock(None)
    }
    /// A lock released when `guard` is dropped.
    pub fn new(guard: Box<dyn Send>) -> Self {
        StoreLock(Some(guard))
    }
}

impl std::fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "StoreLock(held)"
        } else {
            "StoreLock(none)"
        })
    }
}

/// Keys of entries starting with `prefix`: `[prefix, successor(prefix))`.
pub fn prefix_range(prefix: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return (prefix.to_vec(), Some(end));
        }
    }
    (prefix.to_vec(), None)
}
