//! An in-memory Merkle tree that stores every complete-subtree hash, level by level.
//!
//! Appending a leaf stores its hash at level 0 and completes every subtree it closes, so the
//! tree holds `2n − popcount(n)` hashes and any [`HashReader`] request is one lookup. The
//! service's embedded store keeps exactly the same `(level, index) → hash` table on disk.

use super::hash::{Hash, LogHasher};
use super::proof::{self, ConsistencyProof, HashReader, InclusionProof};
use crate::error::LogError;
use std::marker::PhantomData;

/// An append-only in-memory tree with hashing `H`.
pub struct MemoryTree<H> {
    levels: Vec<Vec<Hash>>,
    _h: PhantomData<H>,
}

impl<H: LogHasher> Default for MemoryTree<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: LogHasher> MemoryTree<H> {
    /// An empty tree.
    pub fn new() -> Self {
        MemoryTree {
            levels: vec![Vec::new()],
            _h: PhantomData,
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Appends a leaf (its data, which is hashed with the leaf prefix); returns its index.
    pub fn append(&mut self, leaf: &[u8]) -> u64 {
        self.append_leaf_hash(H::hash_leaf(leaf))
    }

    /// Appends an already-computed leaf hash; returns its index.
    pub fn append_leaf_hash(&mut self, leaf_hash: Hash) -> u64 {
        let index = self.size();
        self.levels[0].push(leaf_hash);
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let n = self.levels[level].len();
            let parent = H::hash_children(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
        index
    }

    /// Drops every leaf from `size` on (a no-op if the tree is smaller): what a follower does
    /// when leaves it appended do not recompute the root it was promised.
    pub fn truncate(&mut self, size: u64) {
        for (level, hashes) in self.levels.iter_mut().enumerate() {
            let keep = usize::try_from(size >> level).unwrap_or(usize::MAX);
            hashes.truncate(keep);
        }
        while self.levels.len() > 1 && self.levels.last().is_some_and(|l| l.is_empty()) {
            self.levels.pop();
        }
    }

    /// The root of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, LogError> {
        if size > self.size() {
            return Err(LogError::InvalidRequest("size is beyond the tree"));
        }
        proof::root::<H, Self>(self, size)
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.root_at(self.size()).expect("own size is in range")
    }

    /// Inclusion proof of `leaf_index` in the tree of `tree_size` leaves.
    pub fn inclusion_proof(
        &self,
        leaf_index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, LogError> {
        if tree_size > self.size() {
            return Err(LogError::InvalidRequest("tree size is beyond the tree"));
        }
        InclusionProof::generate::<H, Self>(self, leaf_index, tree_size)
    }

    /// Consistency proof from `old_size` to `new_size`.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, LogError> {
        if new_size > self.size() {
            return Err(LogError::InvalidRequest("new size is beyond the tree"));
        }
        ConsistencyProof::generate::<H, Self>(self, old_size, new_size)
    }

    /// The stored leaf hash at `index`.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.levels[0].get(index as usize).copied()
    }
}

impl<H: LogHasher> HashReader for MemoryTree<H> {
    fn stored_hash(&self, level: u8, index: u64) -> Result<Hash, LogError> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(index as usize))
            .copied()
            .ok_or(LogError::MissingHash { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::hash::Sha3Log;

    /// Reference MTH straight from the RFC's recursive definition.
    fn mth(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => Sha3Log::empty_root(),
            1 => Sha3Log::hash_leaf(&leaves[0]),
            n => {
                let k = proof::split_point(n as u64) as usize;
                Sha3Log::hash_children(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn every_proof_verifies_for_small_trees() {
        let mut t = MemoryTree::<Sha3Log>::new();
        let mut leaves = Vec::new();
        for n in 1..=33u64 {
            let leaf = format!("leaf {n}").into_bytes();
            t.append(&leaf);
            leaves.push(leaf);
            assert_eq!(t.root(), mth(&leaves), "root at {n}");
            for i in 0..n {
                let p = t.inclusion_proof(i, n).unwrap();
                p.verify::<Sha3Log>(&Sha3Log::hash_leaf(&leaves[i as usize]), &t.root())
                    .unwrap();
            }
            for m in 0..=n {
                let p = t.consistency_proof(m, n).unwrap();
                p.verify::<Sha3Log>(&t.root_at(m).unwrap(), &t.root())
                    .unwrap();
            }
        }
    }

    #[test]
    fn truncating_gives_the_tree_of_the_prefix_and_it_grows_again() {
        let leaves: Vec<Vec<u8>> = (0..40u64)
            .map(|n| format!("leaf {n}").into_bytes())
            .collect();
        for to in 0..=40usize {
            let mut t = MemoryTree::<Sha3Log>::new();
            for l in &leaves {
                t.append(l);
            }
            t.truncate(to as u64);
            assert_eq!(t.size(), to as u64);
            assert_eq!(
                t.root(),
                mth(&leaves[..to]),
                "root after truncating to {to}"
            );
            for l in &leaves[to..] {
                t.append(l);
            }
            assert_eq!(t.root(), mth(&leaves), "root after growing back from {to}");
        }
    }
}
