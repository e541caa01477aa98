//! RFC 9162 §2.1.1 Merkle tree hashing, generic over a 32-byte digest.
//!
//! ```text
//! MTH({})        = HASH()
//! leaf hash      = HASH(0x00 || d(0))
//! node hash      = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
//! ```

use digest::{Digest, OutputSizeUser};
use std::marker::PhantomData;
use subtle::ConstantTimeEq;

/// A 32-byte tree hash.
pub type Hash = [u8; 32];

/// The hash functions of an RFC 9162 tree.
pub trait LogHasher {
    /// `HASH()`: the root of the empty tree.
    fn empty_root() -> Hash;
    /// `HASH(0x00 || leaf)`.
    fn hash_leaf(leaf: &[u8]) -> Hash;
    /// `HASH(0x01 || left || right)`.
    fn hash_children(left: &Hash, right: &Hash) -> Hash;
}

/// RFC 9162 hashing with digest `D` (which must have a 32-byte output).
pub struct Rfc9162<D>(PhantomData<D>);

/// Credence's log hashing: RFC 9162 with SHA3-256.
pub type Sha3Log = Rfc9162<sha3::Sha3_256>;
/// RFC 6962 / 9162 with SHA-256: used to check this code against the published vectors.
pub type Sha256Log = Rfc9162<sha2::Sha256>;

/// Leaf prefix (RFC 9162 §2.1.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// Interior node prefix (RFC 9162 §2.1.1).
pub const NODE_PREFIX: u8 = 0x01;

impl<D> LogHasher for Rfc9162<D>
where
    D: Digest + OutputSizeUser<OutputSize = digest::consts::U32>,
{
    fn empty_root() -> Hash {
        D::digest([]).into()
    }
    fn hash_leaf(leaf: &[u8]) -> Hash {
        let mut h = D::new();
        h.update([LEAF_PREFIX]);
        h.update(leaf);
        h.finalize().into()
    }
    fn hash_children(left: &Hash, right: &Hash) -> Hash {
        let mut h = D::new();
        h.update([NODE_PREFIX]);
        h.update(left);
        h.update(right);
        h.finalize().into()
    }
}

/// Constant-time equality of two hashes (roots are compared this way everywhere).
pub fn hashes_equal(a: &Hash, b: &Hash) -> bool {
    a.ct_eq(b).into()
}
