//! Ed25519 keys by role, and the canonical, versioned, domain-separated signing format.
//!
//! Every signed statement is signed over
//!
//! ```text
//! "credence/v1/signed" || 0x00 || role tag (1 byte) || len(kind) (u32 BE) || kind || body
//! ```
//!
//! where `kind` names the statement and its version (e.g. `attribute-commitment/v1`) and
//! `body` is the statement's canonical encoding (`protocols/encoding.md`). Binding the signer's
//! role means a holder's signature can never be replayed as a bank's, and binding the kind
//! means no two statement types can share a signature. Verification uses Ed25519
//! `verify_strict` (no small-order keys, no malleable signatures).
//!
//! Checkpoints are the one exception: they are C2SP signed notes, signed over the note text as
//! that format requires, and only by `Log` and `Witness` keys (see [`crate::log::checkpoint`]).

use crate::encoding::{Reader, Writer};
use crate::error::{DecodeError, SignatureError};
use ed25519_dalek::Signer;
use std::fmt;

/// Prefix of every signed message.
pub const SIGNING_DOMAIN: &[u8] = b"credence/v1/signed\0";

/// Who a key belongs to. Part of every signed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A data holder: court, tax bureau, regulator, bank as a source.
    Holder,
    /// A querier: a bank's loan desk or an approval system.
    Bank,
    /// A subject (enterprise or person) signing consents, pledges and disputes.
    Subject,
    /// The service itself: signs checkpoints (as the log) and proven-path verdicts.
    Log,
    /// The key authority: signs sealed-path verdicts after a checked decryption.
    KeyAuthority,
    /// A witness (typically a partner region) cosigning checkpoints.
    Witness,
    /// The operator: registers parties and publishes policies.
    Operator,
    /// A privacy auditor (the 数据铁笼 supervisor): reads the whole log and the objects it
    /// refers to; no other party reads other parties' queries and verdicts.
    Auditor,
    /// An authority's root key (court, tax, market, …), pinned in the trust anchors: it
    /// certifies the authority's holder keys. Never a registered party.
    Authority,
}

impl Role {
    /// Stable one-byte tag.
    pub fn tag(self) -> u8 {
        match self {
            Role::Holder => 1,
            Role::Bank => 2,
            Role::Subject => 3,
            Role::Log => 4,
            Role::KeyAuthority => 5,
            Role::Witness => 6,
            Role::Operator => 7,
            Role::Auditor => 8,
            Role::Authority => 9,
        }
    }
    /// The role's name as the API and the CLI write it (`holder`, `key-authority`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Holder => "holder",
            Role::Bank => "bank",
            Role::Subject => "subject",
            Role::Log => "log",
            Role::KeyAuthority => "key-authority",
            Role::Witness => "witness",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Authority => "authority",
        }
    }

    /// Every role, in tag order.
    pub const ALL: [Role; 9] = [
        Role::Holder,
        Role::Bank,
        Role::Subject,
        Role::Log,
        Role::KeyAuthority,
        Role::Witness,
        Role::Operator,
        Role::Auditor,
        Role::Authority,
    ];

    /// Inverse of [`Role::tag`].
    pub fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            1 => Role::Holder,
            2 => Role::Bank,
            3 => Role::Subject,
            4 => Role::Log,
            5 => Role::KeyAuthority,
            6 => Role::Witness,
            7 => Role::Operator,
            8 => Role::Auditor,
            9 => Role::Authority,
            _ => return None,
        })
    }
    pub(crate) fn decode(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        let tag = r.u8(field)?;
        Role::from_tag(tag).ok_or(DecodeError::UnknownTag { field, tag })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A statement that can be signed: a kind (with version) and a canonical body.
pub trait Signable {
    /// Statement kind and version, e.g. `attribute-commitment/v1`. Listed in `protocols/signatures.md`.
    const KIND: &'static str;
    /// Appends the canonical body encoding.
    fn encode_body(&self, w: &mut Writer);
}

/// The exact bytes signed for `statement` by a key of `role`.
pub fn signing_message<T: Signable + ?Sized>(role: Role, statement: &T) -> Vec<u8> {
    let mut w = Writer::new();
    w.fixed(SIGNING_DOMAIN).u8(role.tag()).str(T::KIND);
    statement.encode_body(&mut w);
    w.into_bytes()
}

/// An Ed25519 signing key with its role. Zeroized on drop (by `ed25519-dalek`); `Debug`
/// shows only the role and public key.
#[derive(Clone)]
pub struct SigningKey {
    role: Role,
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A fresh key for `role`.
    pub fn generate<R: rand_core::RngCore + rand_core::CryptoRng>(role: Role, rng: &mut R) -> Self {
        SigningKey {
            role,
            key: ed25519_dalek::SigningKey::generate(rng),
        }
    }
    /// A key from its 32-byte seed (from a key store).
    pub fn from_seed(role: Role, seed: &[u8; 32]) -> Self {
        SigningKey {
            role,
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }
    /// The seed, for writing to a key store. Handle as a secret.
    pub fn expose_seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            role: self.role,
            key: self.key.verifying_key(),
        }
    }
    /// Signs a statement.
    pub fn sign<T: Signable + ?Sized>(&self, statement: &T) -> Signature {
        Signature(
            self.key
                .sign(&signing_message(self.role, statement))
                .to_bytes(),
        )
    }
    /// Signs raw note text. Only for C2SP signed notes (checkpoints, cosignatures).
    pub(crate) fn sign_note_bytes(&self, msg: &[u8]) -> [u8; 64] {
        debug_assert!(matches!(self.role, Role::Log | Role::Witness));
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({}, public {:?}, secret <redacted>)",
            self.role,
            self.public()
        )
    }
}

/// An Ed25519 public key with its role.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey {
    role: Role,
    key: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// From a role and 32 key bytes; rejects invalid and weak (small-order) keys.
    pub fn from_bytes(role: Role, bytes: &[u8; 32]) -> Result<Self, SignatureError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| SignatureError::InvalidKey)?;
        if key.is_weak() {
            return Err(SignatureError::InvalidKey);
        }
        Ok(PublicKey { role, key })
    }
    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The 32 key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
    /// Verifies `signature` on `statement`, requiring this key to have role `expected`.
    pub fn verify<T: Signable + ?Sized>(
        &self,
        expected: Role,
        statement: &T,
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        if self.role != expected {
            return Err(SignatureError::WrongRole {
                expected,
                found: self.role,
            });
        }
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.key
            .verify_strict(&signing_message(self.role, statement), &sig)
            .map_err(|_| SignatureError::Invalid)
    }
    /// Verifies a raw note signature (C2SP signed notes only).
    pub(crate) fn verify_note_bytes(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        self.key.verify_strict(msg, &sig).is_ok()
    }
    /// Canonical encoding: role tag, 32 key bytes.
    pub fn encode(&self, w: &mut Writer) {
        w.u8(self.role.tag()).fixed(&self.to_bytes());
    }
    /// Decodes [`PublicKey::encode`].
    pub fn decode(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        let role = Role::decode(r, field)?;
        let bytes = r.array::<32>(field)?;
        PublicKey::from_bytes(role, &bytes).map_err(|_| DecodeError::NonCanonical { field })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKey({}, {})",
            self.role,
            crate::pseudonym::hex_lower(&self.to_bytes())
        )
    }
}

/// A 64-byte Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// Canonical encoding: the 64 bytes.
    pub fn encode(&self, w: &mut Writer) {
        w.fixed(&self.0);
    }
    /// Decodes [`Signature::encode`].
    pub fn decode(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        Ok(Signature(r.array::<64>(field)?))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signature({}…)",
            crate::pseudonym::hex_lower(&self.0[..8])
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Msg(u64);
    impl Signable for Msg {
        const KIND: &'static str = "test-message/v1";
        fn encode_body(&self, w: &mut Writer) {
            w.u64(self.0);
        }
    }

    #[test]
    fn role_and_statement_are_bound() {
        let mut rng = rand::thread_rng();
        let k = SigningKey::generate(Role::Holder, &mut rng);
        let sig = k.sign(&Msg(5));
        k.public().verify(Role::Holder, &Msg(5), &sig).unwrap();
        assert_eq!(
            k.public().verify(Role::Holder, &Msg(6), &sig),
            Err(SignatureError::Invalid)
        );
        assert!(matches!(
            k.public().verify(Role::Bank, &Msg(5), &sig),
            Err(SignatureError::WrongRole { .. })
        ));
        // The same key bytes presented under another role do not verify either.
        let as_bank = PublicKey::from_bytes(Role::Bank, &k.public().to_bytes()).unwrap();
        assert_eq!(
            as_bank.verify(Role::Bank, &Msg(5), &sig),
            Err(SignatureError::Invalid)
        );
        assert!(!format!("{k:?}").contains(&crate::pseudonym::hex_lower(&k.expose_seed())));
    }
}
