//! Inclusion and consistency proofs (RFC 9162 §2.1.3 and §2.1.4).
//!
//! Proofs are *generated* from a [`HashReader`]: anything that can return the hash of a
//! complete subtree `(level, index)` — the `2^level` leaves starting at `index·2^level`. The
//! in-memory tree, the service's embedded store and a tiled remote log all provide that, so
//! the proof code never needs the whole tree. Every subtree the RFC's recursive definitions
//! name is either complete (one read) or splits at the largest power of two below its size,
//! so a proof costs `O(log² n)` reads at most.
//!
//! Proofs are *verified* with the RFC's iterative algorithms, which need only the proof, the
//! sizes, the leaf hash and the roots.

use super::hash::{hashes_equal, Hash, LogHasher};
use crate::encoding::{Reader, Writer};
use crate::error::{DecodeError, LogError};

/// Longest proof path accepted: a tree of 2^64 leaves has paths of at most 64 hashes.
pub const MAX_PATH_LEN: usize = 64;

/// A source of complete-subtree hashes.
pub trait HashReader {
    /// The hash of the complete subtree at `level` (covering `2^level` leaves) with index
    /// `index` at that level; level 0 holds the leaf hashes.
    fn stored_hash(&self, level: u8, index: u64) -> Result<Hash, LogError>;
}

impl<T: HashReader + ?Sized> HashReader for &T {
    fn stored_hash(&self, level: u8, index: u64) -> Result<Hash, LogError> {
        (**self).stored_hash(level, index)
    }
}

/// Largest power of two strictly smaller than `n` (`n ≥ 2`): the RFC's `k`.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start:end])` for a subtree the RFC's recursion can name (`start` is a multiple of
/// the largest power of two ≤ `end - start`).
pub fn subtree_hash<H: LogHasher, R: HashReader + ?Sized>(
    reader: &R,
    start: u64,
    end: u64,
) -> Result<Hash, LogError> {
    let n = end - start;
    if n == 0 {
        return Ok(H::empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros() as u8;
        return reader.stored_hash(level, start >> level);
    }
    let k = split_point(n);
    let left = subtree_hash::<H, R>(reader, start, start + k)?;
    let right = subtree_hash::<H, R>(reader, start + k, end)?;
    Ok(H::hash_children(&left, &right))
}

/// The root hash of the first `size` leaves.
pub fn root<H: LogHasher, R: HashReader + ?Sized>(reader: &R, size: u64) -> Result<Hash, LogError> {
    subtree_hash::<H, R>(reader, 0, size)
}

/// An inclusion proof: the audit path of leaf `leaf_index` in the tree of `tree_size` leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// Zero-based index of the leaf.
    pub leaf_index: u64,
    /// Size of the tree the path leads to.
    pub tree_size: u64,
    /// The audit path, from the leaf's sibling upwards (RFC 9162 `PATH`).
    pub path: Vec<Hash>,
}

impl InclusionProof {
    /// Generates `PATH(leaf_index, D[0:tree_size])` from `reader`.
    pub fn generate<H: LogHasher, R: HashReader + ?Sized>(
        reader: &R,
        leaf_index: u64,
        tree_size: u64,
    ) -> Result<Self, LogError> {
        if leaf_index >= tree_size {
            return Err(LogError::InvalidRequest(
                "leaf index is not below the tree size",
            ));
        }
        let mut path = Vec::new();
        inclusion_path::<H, R>(reader, leaf_index, 0, tree_size, &mut path)?;
        Ok(InclusionProof {
            leaf_index,
            tree_size,
            path,
        })
    }

    /// Builds a proof from untrusted parts; every path element must be exactly 32 bytes.
    pub fn from_parts<B: AsRef<[u8]>>(
        leaf_index: u64,
        tree_size: u64,
        path: &[B],
    ) -> Result<Self, LogError> {
        Ok(InclusionProof {
            leaf_index,
            tree_size,
            path: to_hashes(path)?,
        })
    }

    /// Verifies that `leaf_hash` is at `leaf_index` in the tree with root `root`
    /// (RFC 9162 §2.1.3.2).
    pub fn verify<H: LogHasher>(&self, leaf_hash: &Hash, root: &Hash) -> Result<(), LogError> {
        let computed = self.root_from::<H>(leaf_hash)?;
        if hashes_equal(&computed, root) {
            Ok(())
        } else {
            Err(LogError::VerificationFailed)
        }
    }

    /// The root this path leads to from `leaf_hash`.
    pub fn root_from<H: LogHasher>(&self, leaf_hash: &Hash) -> Result<Hash, LogError> {
        if self.leaf_index >= self.tree_size || self.path.len() > MAX_PATH_LEN {
            return Err(LogError::VerificationFailed);
        }
        let mut f_n = self.leaf_index;
        let mut s_n = self.tree_size - 1;
        let mut r = *leaf_hash;
        for p in &self.path {
            if s_n == 0 {
                return Err(LogError::VerificationFailed);
            }
            if f_n & 1 == 1 || f_n == s_n {
                r = H::hash_children(p, &r);
                if f_n & 1 == 0 {
                    while f_n & 1 == 0 && f_n != 0 {
                        f_n >>= 1;
                        s_n >>= 1;
                    }
                }
            } else {
                r = H::hash_children(&r, p);
            }
            f_n >>= 1;
            s_n >>= 1;
        }
        if s_n != 0 {
            return Err(LogError::VerificationFailed);
        }
        Ok(r)
    }

    /// Canonical encoding: index, size, path.
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.leaf_index)
            .u64(self.tree_size)
            .count(self.path.len());
        for h in &self.path {
            w.fixed(h);
        }
    }

    /// Decodes [`InclusionProof::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let leaf_index = r.u64("leaf index")?;
        let tree_size = r.u64("tree size")?;
        let n = r.count("inclusion path", MAX_PATH_LEN)?;
        let mut path = Vec::with_capacity(n);
        for _ in 0..n {
            path.push(r.array::<32>("inclusion path hash")?);
        }
        Ok(InclusionProof {
            leaf_index,
            tree_size,
            path,
        })
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes [`InclusionProof::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let p = Self::decode(&mut r)?;
        r.finish()?;
        Ok(p)
    }
}

fn inclusion_path<H: LogHasher, R: HashReader + ?Sized>(
    reader: &R,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), LogError> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        inclusion_path::<H, R>(reader, m, start, start + k, out)?;
        out.push(subtree_hash::<H, R>(reader, start + k, end)?);
    } else {
        inclusion_path::<H, R>(reader, m - k, start + k, end, out)?;
        out.push(subtree_hash::<H, R>(reader, start, start + k)?);
    }
    Ok(())
}

fn to_hashes<B: AsRef<[u8]>>(parts: &[B]) -> Result<Vec<Hash>, LogError> {
    if parts.len() > MAX_PATH_LEN {
        return Err(LogError::Malformed(DecodeError::TooLong {
            field: "proof path",
            len: parts.len(),
            max: MAX_PATH_LEN,
        }));
    }
    parts
        .iter()
        .map(|p| {
            <Hash>::try_from(p.as_ref()).map_err(|_| {
                LogError::Malformed(DecodeError::Invalid {
                    field: "proof hash",
                    reason: "must be exactly 32 bytes",
                })
            })
        })
        .collect()
}

/// A consistency proof between two sizes of the same log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older (smaller) size.
    pub old_size: u64,
    /// The newer size.
    pub new_size: u64,
    /// RFC 9162 `PROOF(old_size, D[new_size])`.
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// Generates `PROOF(old_size, D[0:new_size])` from `reader`.
    pub fn generate<H: LogHasher, R: HashReader + ?Sized>(
        reader: &R,
        old_size: u64,
        new_size: u64,
    ) -> Result<Self, LogError> {
        if old_size > new_size {
            return Err(LogError::InvalidRequest("old size is larger than new size"));
        }
        let mut path = Vec::new();
        if old_size > 0 && old_size < new_size {
            subproof::<H, R>(reader, old_size, 0, new_size, true, &mut path)?;
        }
        Ok(ConsistencyProof {
            old_size,
            new_size,
            path,
        })
    }

    /// Builds a proof from untrusted parts; every element must be exactly 32 bytes.
    pub fn from_parts<B: AsRef<[u8]>>(
        old_size: u64,
        new_size: u64,
        path: &[B],
    ) -> Result<Self, LogError> {
        Ok(ConsistencyProof {
            old_size,
            new_size,
            path: to_hashes(path)?,
        })
    }

    /// Verifies that the tree with root `old_root` at `old_size` is a prefix of the tree with
    /// root `new_root` at `new_size` (RFC 9162 §2.1.4.2).
    pub fn verify<H: LogHasher>(&self, old_root: &Hash, new_root: &Hash) -> Result<(), LogError> {
        let (first, second) = (self.old_size, self.new_size);
        let fail = Err(LogError::VerificationFailed);
        if first > second || self.path.len() > MAX_PATH_LEN {
            return fail;
        }
        if first == second {
            return if self.path.is_empty() && hashes_equal(old_root, new_root) {
                Ok(())
            } else {
                fail
            };
        }
        if first == 0 {
            // Every tree extends the empty tree.
            return if self.path.is_empty() { Ok(()) } else { fail };
        }
        // 1. An empty path cannot prove anything between distinct non-empty sizes.
        if self.path.is_empty() {
            return fail;
        }
        // 2. If first is an exact power of two, prepend first_hash.
        let mut path: Vec<&Hash> = Vec::with_capacity(self.path.len() + 1);
        if first.is_power_of_two() {
            path.push(old_root);
        }
        path.extend(self.path.iter());
        // 3-4.
        let mut f_n = first - 1;
        let mut s_n = second - 1;
        while f_n & 1 == 1 {
            f_n >>= 1;
            s_n >>= 1;
        }
        // 5.
        let mut fr = *path[0];
        let mut sr = *path[0];
        // 6.
        for c in &path[1..] {
            if s_n == 0 {
                return fail;
            }
            if f_n & 1 == 1 || f_n == s_n {
                fr = H::hash_children(c, &fr);
                sr = H::hash_children(c, &sr);
                if f_n & 1 == 0 {
                    while f_n & 1 == 0 && f_n != 0 {
                        f_n >>= 1;
                        s_n >>= 1;
                    }
                }
            } else {
                sr = H::hash_children(&sr, c);
            }
            f_n >>= 1;
            s_n >>= 1;
        }
        // 7.
        let ok = hashes_equal(&fr, old_root) & hashes_equal(&sr, new_root) & (s_n == 0);
        if ok {
            Ok(())
        } else {
            fail
        }
    }

    /// Canonical encoding: sizes, path.
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.old_size)
            .u64(self.new_size)
            .count(self.path.len());
        for h in &self.path {
            w.fixed(h);
        }
    }

    /// Decodes [`ConsistencyProof::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let old_size = r.u64("old size")?;
        let new_size = r.u64("new size")?;
        let n = r.count("consistency path", MAX_PATH_LEN)?;
        let mut path = Vec::with_capacity(n);
        for _ in 0..n {
            path.push(r.array::<32>("consistency path hash")?);
        }
        Ok(ConsistencyProof {
            old_size,
            new_size,
            path,
        })
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes [`ConsistencyProof::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let p = Self::decode(&mut r)?;
        r.finish()?;
        Ok(p)
    }
}

/// RFC 9162 `SUBPROOF(m, D[start:end], b)`.
fn subproof<H: LogHasher, R: HashReader + ?Sized>(
    reader: &R,
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), LogError> {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(subtree_hash::<H, R>(reader, start, end)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof::<H, R>(reader, m, start, start + k, complete, out)?;
        out.push(subtree_hash::<H, R>(reader, start + k, end)?);
    } else {
        subproof::<H, R>(reader, m - k, start + k, end, false, out)?;
        out.push(subtree_hash::<H, R>(reader, start, start + k)?);
    }
    Ok(())
}
