//! Keyed pseudonyms: how the service names a subject without storing its identifier.
//!
//! `pseudonym = HMAC-SHA3-256(key, "credence/v1/pseudonym/" || kind || 0x00 || normalised id)`
//! (see `protocols/identifiers.md`). The kind (`enterprise` / `person`) is part of the hashed
//! message, so the two identifier spaces can never collide even where a code is all digits.
//! Without the key, a pseudonym cannot be linked to an identifier even by enumerating the
//! (small) identifier space; the key is the service's secret, zeroized on drop and never printed.

use crate::identifiers::{SubjectId, SubjectKind};
use hmac::{Mac, SimpleHmac};
use sha3::Sha3_256;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Domain separator prefixed to every pseudonym input.
pub const PSEUDONYM_DOMAIN: &str = "credence/v1/pseudonym/";

/// The service secret under which pseudonyms are computed. 32 random bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PseudonymKey([u8; 32]);

impl PseudonymKey {
    /// A fresh random key.
    pub fn generate<R: rand_core::RngCore + rand_core::CryptoRng>(rng: &mut R) -> Self {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        PseudonymKey(k)
    }
    /// Wraps existing key bytes (e.g. loaded from the service's key store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PseudonymKey(bytes)
    }
    /// The key bytes, for writing to a key store. Handle as a secret.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
    /// The pseudonym of `subject` under this key.
    pub fn pseudonym(&self, subject: &SubjectId) -> Pseudonym {
        // SimpleHmac works with any Digest; SHA3 has no block-level API for the core Hmac.
        let mut mac = <SimpleHmac<Sha3_256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC accepts keys of any length");
        mac.update(PSEUDONYM_DOMAIN.as_bytes());
        mac.update(subject.kind().as_str().as_bytes());
        mac.update(&[0]);
        mac.update(subject.as_str().as_bytes());
        Pseudonym {
            kind: subject.kind(),
            bytes: mac.finalize().into_bytes().into(),
        }
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

impl PartialEq for PseudonymKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for PseudonymKey {}

/// A subject's pseudonym: its kind and a 32-byte keyed hash of its identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym {
    /// Enterprise or person (consent rules differ).
    pub kind: SubjectKind,
    /// The keyed hash.
    pub bytes: [u8; 32],
}

impl Pseudonym {
    /// Lower-case hex of the hash, prefixed by the kind: `enterprise:3fa1…`.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.kind, hex_lower(&self.bytes))
    }
    /// Parses [`Pseudonym::to_text`] output.
    pub fn from_text(s: &str) -> Option<Self> {
        let (kind, hex) = s.split_once(':')?;
        let kind = match kind {
            "enterprise" => SubjectKind::Enterprise,
            "person" => SubjectKind::Person,
            _ => return None,
        };
        let bytes = hex_decode_32(hex)?;
        Some(Pseudonym { kind, bytes })
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonym({})", self.to_text())
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

pub(crate) fn hex_lower(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

pub(crate) fn hex_decode_32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for i in 0..32 {
        out[i] = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::{ResidentId, Uscc};

    #[test]
    fn deterministic_keyed_and_kind_separated() {
        let k1 = PseudonymKey::from_bytes([7; 32]);
        let k2 = PseudonymKey::from_bytes([8; 32]);
        let e = SubjectId::Enterprise(Uscc::parse("914403001922038216").unwrap());
        let p = SubjectId::Person(ResidentId::parse("11010519491231002X").unwrap());
        assert_eq!(k1.pseudonym(&e), k1.pseudonym(&e));
        assert_ne!(k1.pseudonym(&e).bytes, k2.pseudonym(&e).bytes);
        assert_ne!(k1.pseudonym(&e).bytes, k1.pseudonym(&p).bytes);
        let t = k1.pseudonym(&p).to_text();
        assert!(t.starts_with("person:"));
        assert_eq!(Pseudonym::from_text(&t), Some(k1.pseudonym(&p)));
        assert_eq!(format!("{:?}", k1), "PseudonymKey(<redacted>)");
    }
}
