//! The log service: appends typed entries to the RFC 9162 (SHA3-256) Merkle log kept in a
//! [`Store`], signs checkpoints every N entries or T seconds, and serves entries, inclusion and
//! consistency proofs.
//!
//! An append writes the leaves, the complete-subtree hashes they complete, the new size — and
//! any data the entries describe, passed as an extra batch — in **one** atomic, durable commit.
//! So an acknowledged submission is both stored and logged, or neither.

use crate::protocols::log::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::protocols::log::entry::{LogEntry, LogLeaf};
use crate::protocols::log::proof::root;
use crate::protocols::log::{
    ConsistencyProof, Hash, HashReader, InclusionProof, LogHasher, Sha3Log,
};
use crate::protocols::signing::{Role, SigningKey};
use crate::protocols::LogError;
use crate::store::{Batch, Store, StoreError, Table};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const SIZE_KEY: &[u8] = b"log/size";
const CHECKPOINT_KEY: &[u8] = b"log/checkpoint";

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn hash_key(level: u8, index: u64) -> Vec<u8> {
    let mut k = vec![level];
    k.extend_from_slice(&be(index));
    k
}

fn read_u64(v: &[u8]) -> Result<u64, LogServiceError> {
    Ok(u64::from_be_bytes(v.try_into().map_err(|_| {
        LogServiceError::Corrupt("a stored counter is not 8 bytes".into())
    })?))
}

/// Log service failures.
#[derive(Debug, thiserror::Error)]
pub enum LogServiceError {
    /// Storage failed; nothing was appended.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A proof or range request is out of range, or a proof could not be built.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Stored data is inconsistent.
    #[error("log storage is corrupt: {0}")]
    Corrupt(String),
    /// Checkpoint signing failed.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// An entry breaks a rule of the log format (it would not decode); nothing was appended.
    #[error("entry refused: {0}")]
    Refused(String),
    /// Another instance sharing the store took the index this append was built for; nothing
    /// was appended (retry).
    #[error("the log moved on under this append; nothing appended")]
    HeadMoved,
}

/// The log head, held: see [`LogService::head`].
pub struct Head<'a> {
    log: &'a LogService,
    state: std::sync::MutexGuard<'a, State>,
    _db: crate::store::StoreLock,
}

impl Head<'_> {
    /// The index the next entry gets.
    pub fn size(&self) -> u64 {
        self.state.size
    }

    /// Appends `entries` stamped `time`, with `extra`, in one durable commit; releases the head.
    pub fn append(
        mut self,
        entries: &[LogEntry],
        time: u64,
        extra: Batch,
    ) -> Result<Vec<u64>, LogServiceError> {
        let log = self.log;
        log.try_append(&mut self.state, entries, time, extra)
    }
}

/// Complete-subtree hashes read from the store, with writes of the current batch on top.
struct Hashes<'a> {
    store: &'a dyn Store,
    pending: &'a HashMap<(u8, u64), Hash>,
}

impl HashReader for Hashes<'_> {
    fn stored_hash(&self, level: u8, index: u64) -> Result<Hash, LogError> {
        if let Some(h) = self.pending.get(&(level, index)) {
            return Ok(*h);
        }
        let missing = LogError::MissingHash { level, index };
        let v = self
            .store
            .get(Table::LogHashes, &hash_key(level, index))
            .map_err(|_| missing.clone())?
            .ok_or(missing.clone())?;
        v.as_slice().try_into().map_err(|_| missing)
    }
}

/// When to sign a checkpoint.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointPolicy {
    /// After this many new entries.
    pub every_entries: u64,
    /// Or after this many seconds with at least one new entry.
    pub every_seconds: u64,
}

struct State {
    size: u64,
    checkpoint_size: u64,
    checkpoint_time: u64,
}

/// The log service.
pub struct LogService {
    store: Arc<dyn Store>,
    origin: String,
    key: SigningKey,
    policy: CheckpointPolicy,
    state: Mutex<State>,
}

impl LogService {
    /// Opens the log kept in `store`, named `origin`, signing with `key` (role `Log`).
    pub fn open(
        store: Arc<dyn Store>,
        origin: &str,
        key: SigningKey,
        policy: CheckpointPolicy,
    ) -> Result<Self, LogServiceError> {
        if key.role() != Role::Log {
            return Err(LogServiceError::Checkpoint(
                "the log signs with a log key".into(),
            ));
        }
        let size = match store.get(Table::Meta, SIZE_KEY)? {
            Some(v) => read_u64(&v)?,
            None => 0,
        };
        // A log written in another leaf format is refused here, not at its first read.
        if size > 0 {
            if let Some(first) = store.get(Table::LogLeaves, &be(0))? {
                let version = first.first().copied().unwrap_or(0);
                if version != crate::protocols::log::entry::LEAF_VERSION {
                    return Err(LogServiceError::Corrupt(format!(
                        "this log's leaves are in format {version}; this build reads and writes format {} only (sealed leaves and signed questions): start from a new data directory",
                        crate::protocols::log::entry::LEAF_VERSION
                    )));
                }
            }
        }
        let (checkpoint_size, checkpoint_time) = match store.get(Table::Meta, CHECKPOINT_KEY)? {
            Some(v) if v.len() == 16 => (read_u64(&v[..8])?, read_u64(&v[8..])?),
            Some(_) => return Err(LogServiceError::Corrupt("checkpoint marker".into())),
            None => (0, 0),
        };
        Ok(LogService {
            store,
            origin: origin.to_string(),
            key,
            policy,
            state: Mutex::new(State {
                size,
                checkpoint_size,
                checkpoint_time,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the log has `size` entries, asking the store when this instance's view is
    /// shorter (another instance sharing the store may have appended).
    fn has(&self, size: u64) -> Result<bool, LogServiceError> {
        let mut state = self.lock();
        if size > state.size {
            if let Some(v) = self.store.get(Table::Meta, SIZE_KEY)? {
                state.size = state.size.max(read_u64(&v)?);
            }
        }
        Ok(size <= state.size)
    }

    /// Current number of entries.
    pub fn size(&self) -> u64 {
        // Catch up with instances sharing the store (a failed read keeps this view).
        let _ = self.has(u64::MAX);
        self.lock().size
    }

    /// The log origin (checkpoint name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's public key: it verifies checkpoints and proven-path verdicts.
    pub fn public_key(&self) -> crate::protocols::signing::PublicKey {
        self.key.public()
    }

    /// Signs a proven-path verdict with the service key (the log key, role `Log`).
    pub fn sign_verdict(
        &self,
        verdict: crate::protocols::verdict::Verdict,
    ) -> Result<crate::protocols::verdict::SignedVerdict, crate::protocols::VerdictError> {
        verdict.sign(&self.key)
    }

    /// Appends `entries` stamped `time`, together with `extra` writes, in one durable commit;
    /// returns the entries' indices. On error nothing was written.
    pub fn append(
        &self,
        entries: &[LogEntry],
        time: u64,
        extra: Batch,
    ) -> Result<Vec<u64>, LogServiceError> {
        self.head()?.append(entries, time, extra)
    }

    /// Takes the log head: this instance's lock and the store's log-head lock (held across
    /// service instances sharing one database), with the size re-read from the store. Build
    /// entries that name their own index from [`Head::size`], then [`Head::append`] them.
    ///
    /// Several service instances may share one store: the store's lock serialises their
    /// appends, and each leaf is an `Insert`, so even without the lock no index could be used
    /// twice — a stale view finds its first leaf taken and the append is refused
    /// ([`LogServiceError::HeadMoved`]), never placed elsewhere.
    pub fn head(&self) -> Result<Head<'_>, LogServiceError> {
        let mut state = self.lock();
        let db = self.store.lock_log_head()?;
        if let Some(v) = self.store.get(Table::Meta, SIZE_KEY)? {
            state.size = state.size.max(read_u64(&v)?);
        }
        Ok(Head {
            log: self,
            state,
            _db: db,
        })
    }

    fn try_append(
        &self,
        state: &mut State,
        entries: &[LogEntry],
        time: u64,
        extra: Batch,
    ) -> Result<Vec<u64>, LogServiceError> {
        let mut batch = extra;
        let mut pending: HashMap<(u8, u64), Hash> = HashMap::new();
        let mut indices = Vec::with_capacity(entries.len());
        let mut size = state.size;
        for entry in entries {
            // Only what a reader can decode is ever written (`LogLeaf::to_checked_bytes`).
            let leaf = LogLeaf {
                time,
                entry: entry.clone(),
            };
            // The tree hashes the leaf data (sealed for entries about particular parties); the
            // store keeps the full leaf, shown to those it concerns.
            let mut h = leaf.hash();
            let leaf = leaf
                .to_checked_bytes()
                .map_err(|e| LogServiceError::Refused(e.to_string()))?;
            let index = size;
            pending.insert((0, index), h);
            batch.insert(Table::LogLeaves, be(index).to_vec(), leaf);
            batch.put(Table::LogHashes, hash_key(0, index), h.to_vec());
            let (mut level, mut i) = (0u8, index);
            while i % 2 == 1 {
                let reader = Hashes {
                    store: &*self.store,
                    pending: &pending,
                };
                let left = reader.stored_hash(level, i - 1)?;
                h = Sha3Log::hash_children(&left, &h);
                level += 1;
                i /= 2;
                pending.insert((level, i), h);
                batch.put(Table::LogHashes, hash_key(level, i), h.to_vec());
            }
            indices.push(index);
            size += 1;
        }
        if !entries.is_empty() {
            // Only an append that adds leaves moves the size (never a stale one back).
            batch.put(Table::Meta, SIZE_KEY.to_vec(), be(size).to_vec());
        }
        match self.store.commit(&batch) {
            Err(StoreError::Exists {
                table: Table::LogLeaves,
                ..
            }) => {
                // Another instance appended without holding the head: catch up, refuse.
                if let Some(v) = self.store.get(Table::Meta, SIZE_KEY)? {
                    state.size = state.size.max(read_u64(&v)?);
                }
                return Err(LogServiceError::HeadMoved);
            }
            other => other?,
        }
        state.size = size;
        Ok(indices)
    }

    fn reader(&self) -> Hashes<'_> {
        static EMPTY: std::sync::OnceLock<HashMap<(u8, u64), Hash>> = std::sync::OnceLock::new();
        Hashes {
            store: &*self.store,
            pending: EMPTY.get_or_init(HashMap::new),
        }
    }

    /// The root of the first `size` entries.
    pub fn root(&self, size: u64) -> Result<Hash, LogServiceError> {
        if !self.has(size)? {
            return Err(LogError::InvalidRequest("size is beyond the log").into());
        }
        Ok(root::<Sha3Log, _>(&self.reader(), size)?)
    }

    /// Inclusion proof of entry `index` in the tree of `size` entries.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<InclusionProof, LogServiceError> {
        if !self.has(size)? {
            return Err(LogError::InvalidRequest("tree size is beyond the log").into());
        }
        Ok(InclusionProof::generate::<Sha3Log, _>(
            &self.reader(),
            index,
            size,
        )?)
    }

    /// Consistency proof from `old` to `new` entries.
    pub fn consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<ConsistencyProof, LogServiceError> {
        if !self.has(new)? {
            return Err(LogError::InvalidRequest("new size is beyond the log").into());
        }
        Ok(ConsistencyProof::generate::<Sha3Log, _>(
            &self.reader(),
            old,
            new,
        )?)
    }

    /// Entries `from..to` (at most `limit`), decoded.
    pub fn entries(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<(u64, LogLeaf)>, LogServiceError> {
        let rows = self
            .store
            .scan(Table::LogLeaves, &be(from), Some(&be(to)), limit)?;
        rows.into_iter()
            .map(|(k, v)| {
                let i = read_u64(&k)?;
                let leaf = LogLeaf::from_bytes(&v)
                    .map_err(|e| LogServiceError::Corrupt(format!("leaf {i}: {e}")))?;
                Ok((i, leaf))
            })
            .collect()
    }

    /// Signs and stores a checkpoint of the current size (returns the stored one if that size
    /// is already checkpointed).
    pub fn checkpoint(&self, now: u64) -> Result<SignedCheckpoint, LogServiceError> {
        let mut state = self.lock();
        // Instances sharing the store: checkpoint the store's size, not this one's view.
        if let Some(v) = self.store.get(Table::Meta, SIZE_KEY)? {
            state.size = state.size.max(read_u64(&v)?);
        }
        let size = state.size;
        if let Some(text) = self.store.get(Table::Checkpoints, &be(size))? {
            return parse(&text);
        }
        let root = root::<Sha3Log, _>(&self.reader(), size)?;
        let cp = Checkpoint::new(&self.origin, size, root)
            .map_err(|e| LogServiceError::Checkpoint(e.to_string()))?;
        let signed = SignedCheckpoint::sign(cp, &self.origin, &self.key)
            .map_err(|e| LogServiceError::Checkpoint(e.to_string()))?;
        let mut b = Batch::new();
        b.insert(
            Table::Checkpoints,
            be(size).to_vec(),
            signed.to_text().into_bytes(),
        );
        let mut marker = be(size).to_vec();
        marker.extend_from_slice(&be(now));
        b.put(Table::Meta, CHECKPOINT_KEY.to_vec(), marker);
        match self.store.commit(&b) {
            // Another instance signed this size first: the same body, the same key, so the
            // same checkpoint (modulo cosignatures it may already carry).
            Err(StoreError::Exists {
                table: Table::Checkpoints,
                ..
            }) => {
                if let Some(text) = self.store.get(Table::Checkpoints, &be(size))? {
                    state.checkpoint_size = state.checkpoint_size.max(size);
                    return parse(&text);
                }
                return Err(LogServiceError::Corrupt(
                    "a checkpoint was reported present and then not found".into(),
                ));
            }
            other => other?,
        }
        state.checkpoint_size = size;
        state.checkpoint_time = now;
        Ok(signed)
    }

    /// Replaces the stored checkpoint of a size by the same checkpoint with more
    /// (witness) signatures. The log's own signature and the body must be unchanged.
    pub fn store_cosigned(&self, cosigned: &SignedCheckpoint) -> Result<(), LogServiceError> {
        let size = cosigned.checkpoint.size;
        let stored = self
            .checkpoint_at(size)?
            .ok_or_else(|| LogServiceError::Checkpoint("no checkpoint of that size".into()))?;
        let verifier =
            crate::protocols::log::checkpoint::NoteVerifier::log(&self.origin, self.key.public())
                .map_err(|e| LogServiceError::Checkpoint(e.to_string()))?;
        if stored.checkpoint != cosigned.checkpoint || cosigned.verify(&verifier).is_err() {
            return Err(LogServiceError::Checkpoint(
                "a cosigned checkpoint must be the stored one with signatures added".into(),
            ));
        }
        let mut b = Batch::new();
        b.put(
            Table::Checkpoints,
            be(size).to_vec(),
            cosigned.to_text().into_bytes(),
        );
        self.store.commit(&b)?;
        Ok(())
    }

    /// Signs a checkpoint if the policy says one is due.
    pub fn maybe_checkpoint(&self, now: u64) -> Result<Option<SignedCheckpoint>, LogServiceError> {
        let due = {
            let s = self.lock();
            let new = s.size - s.checkpoint_size;
            new >= self.policy.every_entries
                || (new > 0 && now.saturating_sub(s.checkpoint_time) >= self.policy.every_seconds)
        };
        if due {
            self.checkpoint(now).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Size and time (unix seconds) of the latest signed checkpoint (0, 0 before the first).
    pub fn checkpoint_position(&self) -> (u64, u64) {
        let s = self.lock();
        (s.checkpoint_size, s.checkpoint_time)
    }

    /// The latest signed checkpoint, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, LogServiceError> {
        let size = self.lock().checkpoint_size;
        match self.store.get(Table::Checkpoints, &be(size))? {
            Some(text) => parse(&text).map(Some),
            None => Ok(None),
        }
    }

    /// The stored checkpoint of exactly `size` entries, if one was signed.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<SignedCheckpoint>, LogServiceError> {
        match self.store.get(Table::Checkpoints, &be(size))? {
            Some(text) => parse(&text).map(Some),
            None => Ok(None),
        }
    }
}

fn parse(text: &[u8]) -> Result<SignedCheckpoint, LogServiceError> {
    let text = std::str::from_utf8(text)
        .map_err(|_| LogServiceError::Corrupt("checkpoint is not UTF-8".into()))?;
    SignedCheckpoint::parse(text).map_err(|e| LogServiceError::Corrupt(e.to_string()))
}
