//! Attribute commitments: a holder's Pedersen commitment to one attribute value, with a range
//! certificate proving the value lies in its declared range `[0, max]`.
//!
//! `C = v·B + r·B̃` with the `bulletproofs` Pedersen generators. The range certificate is one
//! aggregated Bulletproof over the two values `v` and `max − v` (commitments `C` and
//! `max·B − C`), each in `[0, 2ⁿ)` with `n` the smallest of 8/16/32/64 bits covering `max`.
//! Both being non-negative and small is what makes later weighted sums unable to wrap modulo
//! the group order. The transcript binds the holder, attribute, subject pseudonym, submission
//! id, `max` and `C`. See `protocols/proofs.md` §2.

use crate::encoding::{Reader, Writer};
use crate::error::{DecodeError, ProofError, SignatureError};
use crate::names::{AttributeId, PartyId};
use crate::pseudonym::Pseudonym;
use crate::signing::{PublicKey, Role, Signable, Signature, SigningKey};
use crate::transcript::{labels, TranscriptProtocol};
use bulletproofs::{BulletproofGens, PedersenGens, RangeProof};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use merlin::Transcript;
use std::sync::OnceLock;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Application label of the transcripts on which attribute certificates are made and checked.
pub const ATTRIBUTE_TRANSCRIPT_LABEL: &[u8] = labels::APP_ATTRIBUTE;

/// The largest number of range proofs aggregated into one proof.
pub const MAX_AGGREGATION: usize = 64;

/// The Pedersen and Bulletproof generators every Credence proof uses.
pub struct Generators {
    /// `B` (value) and `B̃` (blinding).
    pub pedersen: PedersenGens,
    /// Bulletproof vector generators: 64 bits × [`MAX_AGGREGATION`] parties.
    pub bulletproofs: BulletproofGens,
}

/// The shared generators (computed once per process).
pub fn generators() -> &'static Generators {
    static G: OnceLock<Generators> = OnceLock::new();
    G.get_or_init(|| Generators {
        pedersen: PedersenGens::default(),
        bulletproofs: BulletproofGens::new(64, MAX_AGGREGATION),
    })
}

/// The smallest supported range-proof bit width `n` (8, 16, 32 or 64) with `bound < 2ⁿ`.
pub fn bits_for(bound: u128) -> Option<usize> {
    [8usize, 16, 32, 64]
        .into_iter()
        .find(|&n| bound < (1u128 << n))
}

/// The opening of a commitment: value and blinding. Secret: zeroized on drop, no `Debug`,
/// constant-time equality.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Opening {
    value: u64,
    blinding: Scalar,
}

impl Opening {
    /// An opening with a fresh random blinding.
    pub fn random<R: rand_core::RngCore + rand_core::CryptoRng>(value: u64, rng: &mut R) -> Self {
        Opening {
            value,
            blinding: Scalar::random(rng),
        }
    }
    /// An opening from parts.
    pub fn from_parts(value: u64, blinding: Scalar) -> Self {
        Opening { value, blinding }
    }
    /// The committed value.
    pub fn value(&self) -> u64 {
        self.value
    }
    /// The blinding factor.
    pub fn blinding(&self) -> &Scalar {
        &self.blinding
    }
    /// `v·B + r·B̃`.
    pub fn commit(&self) -> CompressedRistretto {
        generators()
            .pedersen
            .commit(Scalar::from(self.value), self.blinding)
            .compress()
    }
    /// 40 bytes: value (u64 BE) then blinding (32 bytes, canonical).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut v = zeroize::Zeroizing::new(Vec::with_capacity(40));
        v.extend_from_slice(&self.value.to_be_bytes());
        v.extend_from_slice(self.blinding.as_bytes());
        v
    }
    /// Decodes [`Opening::to_bytes`]; rejects non-canonical scalars.
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let value = r.u64("opening value")?;
        let blinding = r.array::<32>("opening blinding")?;
        r.finish()?;
        let blinding = Option::<Scalar>::from(Scalar::from_canonical_bytes(blinding)).ok_or(
            DecodeError::NonCanonical {
                field: "opening blinding",
            },
        )?;
        Ok(Opening { value, blinding })
    }
}

impl PartialEq for Opening {
    fn eq(&self, other: &Self) -> bool {
        (self.value.ct_eq(&other.value) & self.blinding.ct_eq(&other.blinding)).into()
    }
}
impl Eq for Opening {}

/// What an attribute commitment is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeContext {
    /// The holder that committed (and signs).
    pub holder: PartyId,
    /// The catalogue attribute.
    pub attribute: AttributeId,
    /// The subject's pseudonym.
    pub subject: Pseudonym,
    /// The holder's submission identifier (a new submission supersedes older ones).
    pub submission: u64,
}

impl AttributeContext {
    fn append_to(&self, t: &mut Transcript) {
        t.append_bytes(labels::HOLDER, self.holder.as_str().as_bytes());
        t.append_bytes(labels::ATTRIBUTE, self.attribute.as_str().as_bytes());
        t.append_bytes(labels::SUBJECT, &subject_bytes(&self.subject));
        t.append_u64_le(labels::SUBMISSION, self.submission);
    }
    /// Canonical encoding.
    pub fn encode(&self, w: &mut Writer) {
        self.holder.encode(w);
        self.attribute.encode(w);
        encode_pseudonym(&self.subject, w);
        w.u64(self.submission);
    }
    /// Decodes [`AttributeContext::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AttributeContext {
            holder: PartyId::decode(r)?,
            attribute: AttributeId::decode(r)?,
            subject: decode_pseudonym(r)?,
            submission: r.u64("submission")?,
        })
    }
}

pub(crate) fn subject_bytes(p: &Pseudonym) -> [u8; 33] {
    let mut b = [0u8; 33];
    b[0] = p.kind.tag();
    b[1..].copy_from_slice(&p.bytes);
    b
}

pub(crate) fn encode_pseudonym(p: &Pseudonym, w: &mut Writer) {
    w.fixed(&subject_bytes(p));
}

pub(crate) fn decode_pseudonym(r: &mut Reader<'_>) -> Result<Pseudonym, DecodeError> {
    let tag = r.u8("subject kind")?;
    let kind = crate::identifiers::SubjectKind::from_tag(tag).ok_or(DecodeError::UnknownTag {
        field: "subject kind",
        tag,
    })?;
    Ok(Pseudonym {
        kind,
        bytes: r.array::<32>("subject pseudonym")?,
    })
}

/// Decodes a compressed point and requires it to be a canonical, non-identity Ristretto point.
pub(crate) fn decode_point(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<CompressedRistretto, DecodeError> {
    use curve25519_dalek::traits::IsIdentity;
    let c = CompressedRistretto(r.array::<32>(field)?);
    match c.decompress() {
        Some(p) if !p.is_identity() => Ok(c),
        _ => Err(DecodeError::NonCanonical { field }),
    }
}

pub(crate) fn decompress(c: &CompressedRistretto) -> Result<RistrettoPoint, ProofError> {
    c.decompress().ok_or(ProofError::VerificationFailed)
}

/// The number of bytes of an aggregated range proof for `m` values of `n` bits.
pub(crate) fn range_proof_len(n: usize, m: usize) -> usize {
    // A, S, T1, T2, t_x, t_x_blinding, e_blinding; lg(n·m) (L, R) pairs; a, b.
    let lg = (n * m).trailing_zeros() as usize;
    32 * (9 + 2 * lg)
}

pub(crate) fn decode_range_proof(
    bytes: &[u8],
    n: usize,
    m: usize,
    field: &'static str,
) -> Result<RangeProof, DecodeError> {
    if bytes.len() != range_proof_len(n, m) {
        return Err(DecodeError::Invalid {
            field,
            reason: "range proof has the wrong length for its statement",
        });
    }
    RangeProof::from_bytes(bytes).map_err(|_| DecodeError::NonCanonical { field })
}

/// A holder's commitment to one attribute value, with its range certificate.
#[derive(Clone)]
pub struct AttributeCommitment {
    /// What the commitment is about.
    pub context: AttributeContext,
    /// `C = v·B + r·B̃`.
    pub commitment: CompressedRistretto,
    /// The declared maximum (from the catalogue): `0 ≤ v ≤ max`.
    pub max: u64,
    range_proof: RangeProof,
}

impl std::fmt::Debug for AttributeCommitment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttributeCommitment")
            .field("context", &self.context)
            .field(
                "commitment",
                &crate::pseudonym::hex_lower(self.commitment.as_bytes()),
            )
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

fn range_transcript_prefix(
    t: &mut Transcript,
    context: &AttributeContext,
    commitment: &CompressedRistretto,
    max: u64,
    n: usize,
) -> Result<(), ProofError> {
    t.domain_sep(labels::ATTRIBUTE_RANGE_V1);
    context.append_to(t);
    t.append_u64_le(labels::MAX, max);
    t.validate_and_append_point(labels::COMMITMENT, commitment)?;
    t.append_u64_le(labels::BITS, n as u64);
    Ok(())
}

impl AttributeCommitment {
    /// Commits to `opening` with a certificate that its value is in `[0, max]`.
    pub fn create<R: rand_core::RngCore + rand_core::CryptoRng>(
        transcript: &mut Transcript,
        context: AttributeContext,
        opening: &Opening,
        max: u64,
        rng: &mut R,
    ) -> Result<Self, ProofError> {
        if opening.value > max {
            return Err(ProofError::Unsatisfied { index: 0 });
        }
        let n = bits_for(u128::from(max)).expect("u64 fits in 64 bits");
        let commitment = opening.commit();
        range_transcript_prefix(transcript, &context, &commitment, max, n)?;
        let g = generators();
        let values = [opening.value, max - opening.value];
        let blindings = [opening.blinding, -opening.blinding];
        let (range_proof, _) = RangeProof::prove_multiple_with_rng(
            &g.bulletproofs,
            &g.pedersen,
            transcript,
            &values,
            &blindings,
            n,
            rng,
        )
        .map_err(|_| ProofError::InvalidStatement("range proof could not be created"))?;
        Ok(AttributeCommitment {
            context,
            commitment,
            max,
            range_proof,
        })
    }

    /// Verifies the range certificate.
    pub fn verify(&self, transcript: &mut Transcript) -> Result<(), ProofError> {
        let n = bits_for(u128::from(self.max)).expect("u64 fits in 64 bits");
        range_transcript_prefix(transcript, &self.context, &self.commitment, self.max, n)?;
        let g = generators();
        let c = decompress(&self.commitment)?;
        let upper = (g.pedersen.B * Scalar::from(self.max) - c).compress();
        self.range_proof
            .verify_multiple(
                &g.bulletproofs,
                &g.pedersen,
                transcript,
                &[self.commitment, upper],
                n,
            )
            .map_err(|_| ProofError::VerificationFailed)
    }

    /// Verifies the range certificate on a fresh transcript labelled
    /// [`ATTRIBUTE_TRANSCRIPT_LABEL`] (how Credence parties exchange them).
    pub fn verify_standalone(&self) -> Result<(), ProofError> {
        self.verify(&mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL))
    }

    /// Whether `opening` opens this commitment.
    pub fn is_opened_by(&self, opening: &Opening) -> bool {
        opening
            .commit()
            .as_bytes()
            .ct_eq(self.commitment.as_bytes())
            .into()
    }

    /// Canonical encoding (also the signed body).
    pub fn encode(&self, w: &mut Writer) {
        w.u8(1);
        self.context.encode(w);
        w.fixed(self.commitment.as_bytes()).u64(self.max);
        w.bytes(&self.range_proof.to_bytes());
    }

    /// Decodes [`AttributeCommitment::encode`]. Does not verify the certificate.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("attribute commitment version")?;
        if version != 1 {
            return Err(DecodeError::UnknownTag {
                field: "attribute commitment version",
                tag: version,
            });
        }
        let context = AttributeContext::decode(r)?;
        let commitment = decode_point(r, "commitment")?;
        let max = r.u64("max")?;
        let n = bits_for(u128::from(max)).expect("u64 fits in 64 bits");
        let proof = r.bytes("range proof", range_proof_len(n, 2))?;
        let range_proof = decode_range_proof(proof, n, 2, "range proof")?;
        Ok(AttributeCommitment {
            context,
            commitment,
            max,
            range_proof,
        })
    }
}

impl Signable for AttributeCommitment {
    const KIND: &'static str = "attribute-commitment/v1";
    fn encode_body(&self, w: &mut Writer) {
        self.encode(w);
    }
}

/// An attribute commitment signed by its holder.
#[derive(Clone, Debug)]
pub struct SignedAttributeCommitment {
    /// The commitment and certificate.
    pub commitment: AttributeCommitment,
    /// The holder's signature over it.
    pub signature: Signature,
}

impl SignedAttributeCommitment {
    /// Signs a commitment. The key must be the holder's.
    pub fn sign(commitment: AttributeCommitment, holder_key: &SigningKey) -> Self {
        let signature = holder_key.sign(&commitment);
        SignedAttributeCommitment {
            commitment,
            signature,
        }
    }

    /// Checks the holder's signature (with a `Holder` key) and the range certificate.
    pub fn verify(&self, holder_key: &PublicKey) -> Result<(), ProofError> {
        holder_key
            .verify(Role::Holder, &self.commitment, &self.signature)
            .map_err(|_: SignatureError| ProofError::VerificationFailed)?;
        self.commitment.verify_standalone()
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }

    /// Appends the canonical encoding.
    pub fn encode(&self, w: &mut Writer) {
        self.commitment.encode(w);
        self.signature.encode(w);
    }

    /// Reads one signed commitment.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedAttributeCommitment {
            commitment: AttributeCommitment::decode(r)?,
            signature: Signature::decode(r, "holder signature")?,
        })
    }

    /// Decodes [`SignedAttributeCommitment::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let s = Self::decode(&mut r)?;
        r.finish()?;
        Ok(s)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::identifiers::SubjectKind;

    pub(crate) fn context() -> AttributeContext {
        AttributeContext {
            holder: PartyId::new("court.beijing").unwrap(),
            attribute: AttributeId::new("court.dishonest_debtor").unwrap(),
            subject: Pseudonym {
                kind: SubjectKind::Enterprise,
                bytes: [9; 32],
            },
            submission: 1,
        }
    }

    #[test]
    fn certificate_accepts_range_and_rejects_outside() {
        let mut rng = rand::thread_rng();
        for (v, max) in [
            (0, 0),
            (0, 100),
            (100, 100),
            (20415, 40000),
            (u64::MAX, u64::MAX),
        ] {
            let o = Opening::random(v, &mut rng);
            let t = &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL);
            let c = AttributeCommitment::create(t, context(), &o, max, &mut rng).unwrap();
            c.verify_standalone().unwrap();
            assert!(c.is_opened_by(&o));
            let mut w = Writer::new();
            c.encode(&mut w);
            let d = AttributeCommitment::decode(&mut Reader::new(w.as_slice())).unwrap();
            d.verify_standalone().unwrap();
        }
        let o = Opening::random(101, &mut rng);
        let t = &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL);
        assert!(AttributeCommitment::create(t, context(), &o, 100, &mut rng).is_err());
    }

    #[test]
    fn certificate_is_bound_to_context_and_max() {
        let mut rng = rand::thread_rng();
        let o = Opening::random(50, &mut rng);
        let t = &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL);
        let c = AttributeCommitment::create(t, context(), &o, 100, &mut rng).unwrap();
        let mut other = c.clone();
        other.context.submission = 2;
        assert!(other.verify_standalone().is_err());
        let mut other = c.clone();
        other.max = 101;
        assert!(other.verify_standalone().is_err());
        let mut other = c.clone();
        other.context.attribute = AttributeId::new("tax.credit_level").unwrap();
        assert!(other.verify_standalone().is_err());
    }

    #[test]
    fn signed_commitment_roundtrip() {
        let mut rng = rand::thread_rng();
        let holder = SigningKey::generate(Role::Holder, &mut rng);
        let o = Opening::random(7, &mut rng);
        let t = &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL);
        let c = AttributeCommitment::create(t, context(), &o, 10, &mut rng).unwrap();
        let s = SignedAttributeCommitment::sign(c, &holder);
        let bytes = s.to_bytes();
        let d = SignedAttributeCommitment::from_bytes(&bytes).unwrap();
        d.verify(&holder.public()).unwrap();
        let other = SigningKey::generate(Role::Holder, &mut rng);
        assert!(d.verify(&other.public()).is_err());
        assert!(SignedAttributeCommitment::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}
