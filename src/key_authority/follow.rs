//! The key authority's own copy of the log: it follows the service's log to checkpoints signed
//! by the pinned log key and cosigned by the pinned witness quorum, recomputes every root from
//! the leaves it was given, and never goes back: a checkpoint that does not extend what it saw
//! (a smaller log with another root, or the same size with another root) is refused, and
//! nothing of it is kept. What it saw is kept durably in its own store, so a restart resumes
//! from it and a rolled-back or forked log is still caught.
//!
//! Only the leaves a decision reads are kept in full (registrations, published policies,
//! sealed submissions, queries, evaluations); of the others only the leaf hash, which the tree
//! needs.

use super::request::{LogView, Refusal};
use crate::protocols::log::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::protocols::log::entry::{EvaluationPath, LogEntry, LogLeaf};
use crate::protocols::log::hash::Hash;
use crate::protocols::log::tree::MemoryTree;
use crate::protocols::log::Sha3Log;
use crate::protocols::verdict::TrustAnchors;
use crate::store::{prefix_range, Batch, Store, Table};
use std::sync::Arc;

const LEAF_PREFIX: &[u8] = b"ka/leaf/";
const CHECKPOINT_KEY: &[u8] = b"ka/checkpoint";
/// Entries fetched per call.
const PAGE: u64 = 1000;

/// What the key authority has verified of the log.
pub struct Follower {
    store: Arc<dyn Store>,
    leaves: Vec<Option<LogLeaf>>,
    tree: MemoryTree<Sha3Log>,
    checkpoint: Option<SignedCheckpoint>,
}

fn leaf_key(i: u64) -> Vec<u8> {
    let mut k = LEAF_PREFIX.to_vec();
    k.extend_from_slice(&i.to_be_bytes());
    k
}

/// Whether a decision ever reads this kind of leaf.
fn kept(e: &LogEntry) -> bool {
    matches!(
        e,
        LogEntry::PartyRegistered { .. }
            | LogEntry::KeyRotation { .. }
            | LogEntry::SubjectBound { .. }
            | LogEntry::HolderCertified { .. }
            | LogEntry::PolicyPublished { .. }
            | LogEntry::AttributeSubmitted {
                path: EvaluationPath::Sealed,
                ..
            }
            | LogEntry::Query { .. }
            | LogEntry::Evaluation { .. }
    )
}

impl Follower {
    /// Reopens what was verified before (nothing, on a new store), re-checking the stored
    /// leaves against the stored checkpoint's root.
    pub fn open(store: Arc<dyn Store>, anchors: &TrustAnchors) -> Result<Self, String> {
        let mut f = Follower {
            store,
            leaves: Vec::new(),
            tree: MemoryTree::new(),
            checkpoint: None,
        };
        let (from, to) = prefix_range(LEAF_PREFIX);
        let mut next = from;
        loop {
            let page = f
                .store
                .scan(Table::Meta, &next, to.as_deref(), 10_000)
                .map_err(|e| e.to_string())?;
            let Some((last, _)) = page.last() else { break };
            let mut after = last.clone();
            after.push(0);
            for (k, v) in &page {
                let i = u64::from_be_bytes(
                    k[LEAF_PREFIX.len()..]
                        .try_into()
                        .map_err(|_| "corrupt leaf key")?,
                );
                if i != f.tree.size() || v.len() < 32 {
                    return Err("the key authority's log copy has a gap".into());
                }
                let hash: Hash = v[..32].try_into().map_err(|_| "corrupt leaf")?;
                f.tree.append_leaf_hash(hash);
                f.leaves.push(if v.len() > 32 {
                    let leaf = LogLeaf::from_bytes(&v[32..]).map_err(|e| e.to_string())?;
                    if leaf.hash() != hash {
                        return Err(format!("the key authority's log copy of leaf {i} does not hash to its recorded hash"));
                    }
                    Some(leaf)
                } else {
                    None
                });
            }
            next = after;
        }
        if let Some(text) = f
            .store
            .get(Table::Meta, CHECKPOINT_KEY)
            .map_err(|e| e.to_string())?
        {
            let text = String::from_utf8(text).map_err(|e| e.to_string())?;
            let cp = SignedCheckpoint::parse(&text).map_err(|e| e.to_string())?;
            let c = cp.verify(&anchors.log).map_err(|e| e.to_string())?;
            if c.size != f.tree.size() || c.root != f.tree.root() {
                return Err("the key authority's log copy does not match its checkpoint".into());
            }
            f.checkpoint = Some(cp);
        } else if f.tree.size() != 0 {
            return Err("the key authority's log copy has leaves but no checkpoint".into());
        }
        Ok(f)
    }

    /// Entries verified so far.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The leaf at `i`, if verified and of a kind kept in full.
    pub fn leaf(&self, i: u64) -> Option<&LogEntry> {
        self.leaves
            .get(usize::try_from(i).ok()?)
            .and_then(|l| l.as_ref())
            .map(|l| &l.entry)
    }

    /// Every verified leaf (`None` where only the hash is kept).
    pub fn leaves(&self) -> &[Option<LogLeaf>] {
        &self.leaves
    }

    /// Brings the copy up to the service's current checkpoint: verified against the anchors
    /// (log signature, witness quorum), extending what was seen, every new leaf fetched and the
    /// root recomputed. Returns the checkpoint relied on. On any refusal nothing is kept.
    pub fn sync(
        &mut self,
        view: &dyn LogView,
        anchors: &TrustAnchors,
    ) -> Result<(SignedCheckpoint, Checkpoint), Refusal> {
        let signed = view.checkpoint().map_err(Refusal::LogUnreadable)?;
        let cp = anchors
            .verify_checkpoint(&signed)
            .map_err(|e| Refusal::Checkpoint(e.to_string()))?
            .clone();
        let have = self.tree.size();
        if cp.size < have {
            // An older checkpoint: it must be a prefix of what was verified.
            return match self.tree.root_at(cp.size) {
                Ok(root) if root == cp.root => Ok((signed, cp)),
                _ => Err(Refusal::Checkpoint(format!(
                    "the log at size {} has another root than the one verified before: a fork",
                    cp.size
                ))),
            };
        }
        let result = self.extend(view, &signed, &cp);
        if result.is_err() {
            self.tree.truncate(have);
        }
        result.map(|()| (signed, cp))
    }

    fn extend(
        &mut self,
        view: &dyn LogView,
        signed: &SignedCheckpoint,
        cp: &Checkpoint,
    ) -> Result<(), Refusal> {
        let tree = &mut self.tree;
        let mut new: Vec<(u64, Hash, Option<LogLeaf>)> = Vec::new();
        while tree.size() < cp.size {
            let from = tree.size();
            let to = (from + PAGE).min(cp.size);
            // The service signed a checkpoint this size: entries it then does not hand over
            // (an error, a withheld or malformed entry) are its doing, not an outage — else a
            // fork could hide behind them as one.
            let got = view.entries(from, to).map_err(|e| {
                Refusal::Checkpoint(format!(
                    "the service signed a checkpoint of size {} but does not hand over its \
                     entries from {from}: {e}",
                    cp.size
                ))
            })?;
            if got.is_empty() {
                return Err(Refusal::Checkpoint(format!(
                    "the service returned no log entries from {from}"
                )));
            }
            for (i, leaf) in got {
                if i != tree.size() || i >= cp.size {
                    return Err(Refusal::Checkpoint(
                        "the service returned log entries out of order".into(),
                    ));
                }
                let hash = leaf.hash();
                tree.append_leaf_hash(hash);
                new.push((i, hash, kept(&leaf.entry).then_some(leaf)));
            }
        }
        if tree.root() != cp.root {
            return Err(Refusal::Checkpoint(format!(
                "the entries the service returned do not hash to the checkpoint root at size {} \
                 (a fork, or entries changed after they were logged)",
                cp.size
            )));
        }
        if !new.is_empty() || self.checkpoint.is_none() {
            let mut b = Batch::new();
            for (i, hash, leaf) in &new {
                let mut v = hash.to_vec();
                if let Some(l) = leaf {
                    v.extend_from_slice(&l.to_bytes());
                }
                b.put(Table::Meta, leaf_key(*i), v);
            }
            b.put(
                Table::Meta,
                CHECKPOINT_KEY.to_vec(),
                signed.to_text().into_bytes(),
            );
            self.store
                .commit(&b)
                .map_err(|e| Refusal::Internal(e.to_string()))?;
            self.leaves.extend(new.into_iter().map(|(_, _, l)| l));
            self.checkpoint = Some(signed.clone());
        }
        Ok(())
    }
}
