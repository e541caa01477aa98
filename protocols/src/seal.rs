//! Sealing an opening to its subject: libsodium sealed boxes (X25519 + XSalsa20-Poly1305,
//! `crypto_box`), so that the holder can hand the subject the opening of a commitment
//! through the service without the service learning it.
//!
//! The plaintext binds the opening to its commitment and context:
//! `0x01 || SHA3-256("credence/v1/sealed-opening\0" || context || C) || value (u64 BE) || blinding`.
//! [`SealedOpening::open`] checks that binding and that the opening really opens `C`, so a
//! service cannot swap one subject's sealed opening for another's undetected.

use crate::commitment::{AttributeContext, Opening};
use crate::encoding::{Reader, Writer};
use crate::error::DecodeError;
use curve25519_dalek::ristretto::CompressedRistretto;
use sha3::{Digest, Sha3_256};
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Domain separator of the context binding.
pub const SEALED_OPENING_DOMAIN: &[u8] = b"credence/v1/sealed-opening\0";

/// Length of a sealed opening: ephemeral key (32) + tag (16) + plaintext (1 + 32 + 40).
pub const SEALED_OPENING_LEN: usize = 32 + 16 + 73;

/// A subject's X25519 secret key for receiving sealed openings. Zeroized on drop.
pub struct SealingSecretKey(crypto_box::SecretKey);

impl SealingSecretKey {
    /// A fresh key.
    pub fn generate<R: rand_core::RngCore + rand_core::CryptoRng>(rng: &mut R) -> Self {
        SealingSecretKey(crypto_box::SecretKey::generate(rng))
    }
    /// From stored bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        SealingSecretKey(crypto_box::SecretKey::from_bytes(b))
    }
    /// The bytes, for a key store. Handle as a secret.
    pub fn expose_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }
    /// The public half.
    pub fn public(&self) -> SealingPublicKey {
        SealingPublicKey(self.0.public_key())
    }
}

impl fmt::Debug for SealingSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingSecretKey(<redacted>)")
    }
}

/// A subject's X25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingPublicKey(crypto_box::PublicKey);

impl SealingPublicKey {
    /// From 32 bytes, unchecked (a key this party made itself).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        SealingPublicKey(crypto_box::PublicKey::from_bytes(b))
    }
    /// From 32 bytes received from someone else: refuses a point that is not on Curve25519
    /// (a twist point) or is of small order (the identity among them). Sealing to such a key
    /// yields a shared secret from a handful of values, so anyone could open what is sealed
    /// to it.
    pub fn from_bytes_checked(b: [u8; 32]) -> Result<Self, DecodeError> {
        let u = curve25519_dalek::montgomery::MontgomeryPoint(b);
        let ok = [0u8, 1].iter().any(|&sign| {
            u.to_edwards(sign)
                .is_some_and(|p| !p.is_small_order() && p.to_montgomery().as_bytes() == &b)
        });
        if !ok {
            return Err(DecodeError::Invalid {
                field: "sealing key",
                reason: "not a Curve25519 point of large order (small-order, identity, non-canonical or twist point)",
            });
        }
        Ok(Self::from_bytes(b))
    }
    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl fmt::Debug for SealingPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealingPublicKey({})",
            crate::pseudonym::hex_lower(self.0.as_bytes())
        )
    }
}

/// Opening a sealed opening failed: wrong key, tampered box, or it belongs to another
/// commitment. Deliberately opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("sealed opening could not be opened for this commitment")]
pub struct OpenError;

fn binding(context: &AttributeContext, commitment: &CompressedRistretto) -> [u8; 32] {
    let mut w = Writer::new();
    w.fixed(SEALED_OPENING_DOMAIN);
    context.encode(&mut w);
    w.fixed(commitment.as_bytes());
    Sha3_256::digest(w.as_slice()).into()
}

/// An opening sealed to its subject.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedOpening {
    ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedOpening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedOpening({} bytes)", self.ciphertext.len())
    }
}

impl SealedOpening {
    /// Seals `opening` of `commitment` (about `context`) to `recipient`.
    pub fn seal<R: rand_core::RngCore + rand_core::CryptoRng>(
        recipient: &SealingPublicKey,
        context: &AttributeContext,
        commitment: &CompressedRistretto,
        opening: &Opening,
        rng: &mut R,
    ) -> Self {
        let mut pt = Zeroizing::new(Vec::with_capacity(73));
        pt.push(1);
        pt.extend_from_slice(&binding(context, commitment));
        pt.extend_from_slice(&opening.to_bytes());
        let ciphertext = recipient
            .0
            .seal(rng, &pt)
            .expect("sealing a short message cannot fail");
        SealedOpening { ciphertext }
    }

    /// Opens with the subject's key and checks it is the opening of `commitment` for `context`.
    pub fn open(
        &self,
        key: &SealingSecretKey,
        context: &AttributeContext,
        commitment: &CompressedRistretto,
    ) -> Result<Opening, OpenError> {
        let pt = Zeroizing::new(key.0.unseal(&self.ciphertext).map_err(|_| OpenError)?);
        if pt.len() != 73 || pt[0] != 1 {
            return Err(OpenError);
        }
        if !bool::from(pt[1..33].ct_eq(&binding(context, commitment))) {
            return Err(OpenError);
        }
        let opening = Opening::from_bytes(&pt[33..]).map_err(|_| OpenError)?;
        if !bool::from(opening.commit().as_bytes().ct_eq(commitment.as_bytes())) {
            return Err(OpenError);
        }
        Ok(opening)
    }

    /// Canonical bytes (length-prefixed ciphertext).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(&self.ciphertext);
        w.into_bytes()
    }

    /// Decodes [`SealedOpening::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let ct = r.bytes("sealed opening", SEALED_OPENING_LEN)?;
        r.finish()?;
        if ct.len() != SEALED_OPENING_LEN {
            return Err(DecodeError::Invalid {
                field: "sealed opening",
                reason: "wrong length",
            });
        }
        Ok(SealedOpening {
            ciphertext: ct.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commitment::tests::context;

    #[test]
    fn seal_open_and_binding() {
        let mut rng = rand::thread_rng();
        let sk = SealingSecretKey::generate(&mut rng);
        let o = Opening::random(42, &mut rng);
        let c = o.commit();
        let ctx = context();
        let sealed = SealedOpening::seal(&sk.public(), &ctx, &c, &o, &mut rng);
        let back = SealedOpening::from_bytes(&sealed.to_bytes()).unwrap();
        assert!(back.open(&sk, &ctx, &c).unwrap() == o);

        let other = SealingSecretKey::generate(&mut rng);
        assert!(back.open(&other, &ctx, &c).is_err());
        let mut ctx2 = ctx.clone();
        ctx2.submission += 1;
        assert!(back.open(&sk, &ctx2, &c).is_err());
        let c2 = Opening::random(42, &mut rng).commit();
        assert!(back.open(&sk, &ctx, &c2).is_err());
        let mut bytes = sealed.to_bytes();
        bytes[40] ^= 1;
        assert!(SealedOpening::from_bytes(&bytes)
            .unwrap()
            .open(&sk, &ctx, &c)
            .is_err());
        assert_eq!(format!("{sk:?}"), "SealingSecretKey(<redacted>)");
    }

    #[test]
    fn received_sealing_keys_are_checked() {
        let mut rng = rand::thread_rng();
        let good = SealingSecretKey::generate(&mut rng).public().to_bytes();
        SealingPublicKey::from_bytes_checked(good).unwrap();
        let mut one = [0u8; 32];
        one[0] = 1;
        // The identity (u = 0), a point of order 4 (u = 1), and u = p − 1 (order 2).
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        for bad in [[0u8; 32], one, minus_one, [0xff; 32]] {
            assert!(
                SealingPublicKey::from_bytes_checked(bad).is_err(),
                "{}",
                crate::pseudonym::hex_lower(&bad)
            );
        }
    }
}
