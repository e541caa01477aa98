//! The engine's cache of decompressed input blocks ([`BlockCache`]): filled when a record is
//! ingested, read by evaluations, emptied oldest-ingested first within a memory budget.

use crate::protocols::log::hash::Hash;
use std::collections::BTreeMap;

/// Decompressed input blocks of the most recently **ingested** records, within a memory budget,
/// oldest ingested first out. Filled at ingest only — never by an evaluation, and an evaluation's
/// hit does not keep a block longer — so whether a query finds its blocks depends on when its
/// records were uploaded (which the log shows), never on who asked about them before. A block is
/// a function of the stored record's bytes and its position only (decompression is
/// deterministic), so a hit is byte for byte what decompressing again would give: evaluations
/// stay bit-exact.
#[derive(Default)]
pub(crate) struct BlockCache {
    pub(crate) budget: usize,
    bytes: usize,
    tick: u64,
    map: std::collections::HashMap<(Hash, usize), (tfhe::shortint::Ciphertext, u64)>,
    order: BTreeMap<u64, (Hash, usize)>,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
}

/// What the block cache holds and how it has done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockCacheStats {
    /// Its memory budget, bytes (0: off).
    pub budget: usize,
    /// Bytes held.
    pub bytes: usize,
    /// Blocks held.
    pub blocks: usize,
    /// Blocks an evaluation found decompressed.
    pub hits: u64,
    /// Blocks an evaluation decompressed.
    pub misses: u64,
}

fn block_size(b: &tfhe::shortint::Ciphertext) -> usize {
    std::mem::size_of_val(b.ct.as_ref()) + 64
}

impl BlockCache {
    pub(crate) fn get(&self, key: &(Hash, usize)) -> Option<tfhe::shortint::Ciphertext> {
        self.map.get(key).map(|(b, _)| b.clone())
    }

    pub(crate) fn put(&mut self, key: (Hash, usize), b: tfhe::shortint::Ciphertext) {
        let size = block_size(&b);
        if self.budget < size || self.map.contains_key(&key) {
            return;
        }
        while self.bytes + size > self.budget {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            if let Some((gone, _)) = self.map.remove(&old) {
                self.bytes -= block_size(&gone);
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key);
        self.map.insert(key, (b, self.tick));
        self.bytes += size;
    }

    /// A new budget; blocks beyond it go, oldest ingested first.
    pub(crate) fn set_budget(&mut self, bytes: usize) {
        self.budget = bytes;
        while self.bytes > self.budget {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            if let Some((gone, _)) = self.map.remove(&old) {
                self.bytes -= block_size(&gone);
            }
        }
    }

    pub(crate) fn stats(&self) -> BlockCacheStats {
        BlockCacheStats {
            budget: self.budget,
            bytes: self.bytes,
            blocks: self.map.len(),
            hits: self.hits,
            misses: self.misses,
        }
    }
}

/// The decompressed-block cache's default budget for the engine that evaluates (the key
/// authority's; a new [`crate::fhe::engine::Engine`] has none): 256 MiB, about 140 enterprises' 14 attributes. Filled at ingest, so a hit
/// shows nothing about earlier questions (SECURITY.md).
pub const DEFAULT_BLOCK_CACHE_BYTES: usize = 256 << 20;
