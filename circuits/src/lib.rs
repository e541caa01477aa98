//! # credence-circuits
//!
//! Credence policies: the catalogue of attributes (公共信用信息目录), the policy language, the
//! plaintext reference evaluator, and the lowerings to FHE and to proof statements.
//!
//! | module | |
//! |---|---|
//! | [`catalog`] | the catalogue (`circuits/catalog.toml`): every attribute, its owner, kind, range, default |
//! | [`policy`] | the policy language, canonical form and policy hash; the shipped policies (`circuits/policies/`) |
//! | [`eval`] | the plaintext reference evaluator — the oracle |
//! | [`periods`] | listing periods: the regimes table (`circuits/regimes.toml`), `until` and earliest repair |
//! | [`proof`] | lowering a policy to the predicate conjunction `credence-protocols` proves |
//! | [`fhe`] | evaluating a policy on TFHE ciphertexts: the naive lowering (the optimised one follows) |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod catalog;
pub mod eval;
pub mod fhe;
pub mod periods;
pub mod policy;
pub mod proof;

use sha3::{Digest, Sha3_256};

/// Domain separator of policy hashes.
pub const POLICY_HASH_DOMAIN: &[u8] = b"credence/v1/policy\0";

/// The SHA3-256 policy hash of a policy's canonical text:
/// `SHA3-256("credence/v1/policy\0" || canonical text)`.
pub fn policy_hash(canonical_text: &str) -> [u8; 32] {
    let mut h = Sha3_256::new();
    h.update(POLICY_HASH_DOMAIN);
    h.update(canonical_text.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn policy_hash_is_domain_separated() {
        use sha3::Digest;
        let text = "xinyidai v1";
        let plain: [u8; 32] = sha3::Sha3_256::digest(text.as_bytes()).into();
        assert_ne!(super::policy_hash(text), plain);
        assert_eq!(super::policy_hash(text), super::policy_hash(text));
    }
}
