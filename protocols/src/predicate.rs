//! Predicate proofs: whoever holds the openings (the subject) proves a conjunction of
//! predicates over committed attributes, as **one aggregated Bulletproof**.
//!
//! Each predicate is reduced to "a commitment the verifier derives itself opens to a value in
//! `[0, 2ⁿ)`":
//!
//! | predicate | derived commitment | derived value |
//! |---|---|---|
//! | `v ≥ T` ([`Predicate::AtLeast`]) | `C − T·B` | `v − T` |
//! | `v ≤ T` ([`Predicate::AtMost`]) | `T·B − C` | `T − v` |
//! | `until ≤ D` ([`Predicate::NotListedOn`]) | `D·B − C` | `D − until` |
//! | `Σ wᵢ·vᵢ + c ≥ T` ([`Predicate::WeightedSumAtLeast`]) | `Σ wᵢ·Cᵢ + (c − T)·B` | `Σ wᵢ·vᵢ + c − T` |
//!
//! Every input commitment carries a holder-certified range `[0, maxᵢ]`
//! ([`crate::commitment::AttributeCommitment`]), so every derived value lies in a window far
//! smaller than the group order: a false predicate gives a "negative" derived value, which is
//! ≥ ℓ − 2¹⁰⁰ and so cannot be in `[0, 2ⁿ)`. The derived values are padded with zeros to a
//! power of two and proven together. The transcript binds the policy hash, subject, as-of day,
//! every input commitment and maximum, every predicate and `n`. See `protocols/proofs.md` §3.

use crate::commitment::{
    decode_point, decode_pseudonym, decode_range_proof, decompress, encode_pseudonym, generators,
    range_proof_len, subject_bytes, Opening, MAX_AGGREGATION,
};
use crate::encoding::{Reader, Writer};
use crate::error::{DecodeError, ProofError};
use crate::pseudonym::Pseudonym;
use crate::transcript::{labels, TranscriptProtocol};
use bulletproofs::RangeProof;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use merlin::Transcript;

/// Most committed inputs one statement may reference.
pub const MAX_INPUTS: usize = 256;
/// Most terms in one weighted sum.
pub const MAX_TERMS: usize = 64;
/// Derived values must stay within ±2^100: far from the group order (~2^252).
const VALUE_LIMIT: i128 = 1 << 100;

/// A committed input as the verifier knows it: the commitment and its certified maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommittedInput {
    /// The Pedersen commitment.
    pub commitment: CompressedRistretto,
    /// The holder-certified maximum of the committed value.
    pub max: u64,
}

/// One predicate over the statement's inputs (referenced by index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Predicate {
    /// `v[input] ≥ threshold`.
    AtLeast {
        /// Index into the statement's inputs.
        input: u32,
        /// `T`.
        threshold: u64,
    },
    /// `v[input] ≤ threshold`.
    AtMost {
        /// Index into the statement's inputs.
        input: u32,
        /// `T`.
        threshold: u64,
    },
    /// Not listed on `day`: the input is a "listed until" day and `until ≤ day`.
    NotListedOn {
        /// Index into the statement's inputs.
        input: u32,
        /// `D`, days since the epoch.
        day: u32,
    },
    /// `Σ weight·v[input] + constant ≥ threshold`.
    WeightedSumAtLeast {
        /// `(input index, weight)` pairs.
        terms: Vec<(u32, i64)>,
        /// `c`.
        constant: i64,
        /// `T`.
        threshold: i64,
    },
}

impl Predicate {
    fn encode(&self, w: &mut Writer) {
        match self {
            Predicate::AtLeast { input, threshold } => {
                w.u8(1).u32(*input).u64(*threshold);
            }
            Predicate::AtMost { input, threshold } => {
                w.u8(2).u32(*input).u64(*threshold);
            }
            Predicate::NotListedOn { input, day } => {
                w.u8(3).u32(*input).u32(*day);
            }
            Predicate::WeightedSumAtLeast {
                terms,
                constant,
                threshold,
            } => {
                w.u8(4).count(terms.len());
                for (i, wt) in terms {
                    w.u32(*i).i64(*wt);
                }
                w.i64(*constant).i64(*threshold);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.u8("predicate tag")?;
        Ok(match tag {
            1 => Predicate::AtLeast {
                input: r.u32("predicate input")?,
                threshold: r.u64("predicate threshold")?,
            },
            2 => Predicate::AtMost {
                input: r.u32("predicate input")?,
                threshold: r.u64("predicate threshold")?,
            },
            3 => Predicate::NotListedOn {
                input: r.u32("predicate input")?,
                day: r.u32("predicate day")?,
            },
            4 => {
                let n = r.count("weighted sum terms", MAX_TERMS)?;
                let mut terms = Vec::with_capacity(n);
                for _ in 0..n {
                    terms.push((r.u32("term input")?, r.i64("term weight")?));
                }
                Predicate::WeightedSumAtLeast {
                    terms,
                    constant: r.i64("sum constant")?,
                    threshold: r.i64("sum threshold")?,
                }
            }
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "predicate tag",
                    tag,
                })
            }
        })
    }

    /// `(terms, constant)` such that the derived value is `Σ w·v + constant`.
    fn affine(&self) -> (Vec<(u32, i128)>, i128) {
        match self {
            Predicate::AtLeast { input, threshold } => (vec![(*input, 1)], -i128::from(*threshold)),
            Predicate::AtMost { input, threshold } => (vec![(*input, -1)], i128::from(*threshold)),
            Predicate::NotListedOn { input, day } => (vec![(*input, -1)], i128::from(*day)),
            Predicate::WeightedSumAtLeast {
                terms,
                constant,
                threshold,
            } => (
                terms.iter().map(|&(i, w)| (i, i128::from(w))).collect(),
                i128::from(*constant) - i128::from(*threshold),
            ),
        }
    }
}

/// What a conjunction proof is for: these are bound into the transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementContext {
    /// SHA3-256 hash of the published policy the predicates come from.
    pub policy_hash: [u8; 32],
    /// The subject the inputs are about.
    pub subject: Pseudonym,
    /// The day the question is asked for (days since the epoch).
    pub as_of_day: u32,
}

/// A conjunction of predicates over committed inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Context bound into the proof.
    pub context: StatementContext,
    /// The committed inputs.
    pub inputs: Vec<CommittedInput>,
    /// The predicates, all of which must hold.
    pub predicates: Vec<Predicate>,
}

/// A checked statement: per predicate, the affine form and the largest derived value.
struct Lowered {
    forms: Vec<(Vec<(u32, i128)>, i128)>,
    bits: usize,
    padded: usize,
}

impl Statement {
    fn lower(&self) -> Result<Lowered, ProofError> {
        if self.predicates.is_empty() {
            return Err(ProofError::InvalidStatement(
                "a statement needs at least one predicate",
            ));
        }
        if self.predicates.len() > MAX_AGGREGATION {
            return Err(ProofError::InvalidStatement("more than 64 predicates"));
        }
        if self.inputs.is_empty() || self.inputs.len() > MAX_INPUTS {
            return Err(ProofError::InvalidStatement(
                "a statement needs 1 to 256 inputs",
            ));
        }
        let mut forms = Vec::with_capacity(self.predicates.len());
        let mut bound: i128 = 0;
        for p in &self.predicates {
            let (terms, constant) = p.affine();
            if terms.is_empty() || terms.len() > MAX_TERMS {
                return Err(ProofError::InvalidStatement(
                    "a weighted sum needs 1 to 64 terms",
                ));
            }
            // The derived value lies in [lo, hi] for every value allowed by the certificates.
            let (mut lo, mut hi) = (constant, constant);
            for &(i, w) in &terms {
                let input = self
                    .inputs
                    .get(i as usize)
                    .ok_or(ProofError::InvalidStatement(
                        "predicate names a missing input",
                    ))?;
                let extreme = w
                    .checked_mul(i128::from(input.max))
                    .ok_or(ProofError::InvalidStatement("weighted sum out of range"))?;
                let slot = if w > 0 { &mut hi } else { &mut lo };
                *slot = slot
                    .checked_add(extreme)
                    .ok_or(ProofError::InvalidStatement("weighted sum out of range"))?;
            }
            if !(-VALUE_LIMIT..VALUE_LIMIT).contains(&lo)
                || !(-VALUE_LIMIT..VALUE_LIMIT).contains(&hi)
            {
                return Err(ProofError::InvalidStatement("weighted sum out of range"));
            }
            bound = bound.max(hi);
            forms.push((terms, constant));
        }
        let bits = crate::commitment::bits_for(bound as u128).ok_or(
            ProofError::InvalidStatement("a derived value can exceed 64 bits"),
        )?;
        Ok(Lowered {
            forms,
            bits,
            padded: self.predicates.len().next_power_of_two(),
        })
    }

    /// The range-proof bit width this statement uses.
    pub fn bits(&self) -> Result<usize, ProofError> {
        Ok(self.lower()?.bits)
    }

    /// The commitments the verifier derives, one per predicate, padded with the identity.
    fn derived_commitments(&self, l: &Lowered) -> Result<Vec<CompressedRistretto>, ProofError> {
        let g = generators();
        let points: Vec<RistrettoPoint> = self
            .inputs
            .iter()
            .map(|i| decompress(&i.commitment))
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(l.padded);
        for (terms, constant) in &l.forms {
            let mut acc = g.pedersen.B * scalar_from_i128(*constant);
            for &(i, w) in terms {
                acc += points[i as usize] * scalar_from_i128(w);
            }
            out.push(acc.compress());
        }
        out.resize(l.padded, RistrettoPoint::identity().compress());
        Ok(out)
    }

    fn append_to(&self, t: &mut Transcript, bits: usize) -> Result<(), ProofError> {
        t.domain_sep(labels::PREDICATE_CONJUNCTION_V1);
        t.append_bytes(labels::POLICY, &self.context.policy_hash);
        t.append_bytes(labels::SUBJECT, &subject_bytes(&self.context.subject));
        t.append_u64_le(labels::AS_OF_DAY, u64::from(self.context.as_of_day));
        t.append_u64_le(labels::INPUT_COUNT, self.inputs.len() as u64);
        for input in &self.inputs {
            t.validate_and_append_point(labels::COMMITMENT, &input.commitment)?;
            t.append_u64_le(labels::MAX, input.max);
        }
        t.append_u64_le(labels::PREDICATE_COUNT, self.predicates.len() as u64);
        for p in &self.predicates {
            let mut w = Writer::new();
            p.encode(&mut w);
            t.append_bytes(labels::PREDICATE, w.as_slice());
        }
        t.append_u64_le(labels::BITS, bits as u64);
        Ok(())
    }

    /// One statement per predicate, each over the same inputs (for proving separately).
    pub fn split(&self) -> Vec<Statement> {
        self.predicates
            .iter()
            .map(|p| Statement {
                context: self.context.clone(),
                inputs: self.inputs.clone(),
                predicates: vec![p.clone()],
            })
            .collect()
    }

    /// Canonical encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.u8(1);
        w.fixed(&self.context.policy_hash);
        encode_pseudonym(&self.context.subject, w);
        w.u32(self.context.as_of_day);
        w.count(self.inputs.len());
        for i in &self.inputs {
            w.fixed(i.commitment.as_bytes()).u64(i.max);
        }
        w.count(self.predicates.len());
        for p in &self.predicates {
            p.encode(w);
        }
    }

    /// Decodes [`Statement::encode`] (all sizes bounded, points canonical). Private: no wire
    /// format carries a statement; see [`hazmat`].
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("statement version")?;
        if version != 1 {
            return Err(DecodeError::UnknownTag {
                field: "statement version",
                tag: version,
            });
        }
        let policy_hash = r.array::<32>("policy hash")?;
        let subject = decode_pseudonym(r)?;
        let as_of_day = r.u32("as-of day")?;
        let n = r.count("inputs", MAX_INPUTS)?;
        let mut inputs = Vec::with_capacity(n);
        for _ in 0..n {
            inputs.push(CommittedInput {
                commitment: decode_point(r, "input commitment")?,
                max: r.u64("input max")?,
            });
        }
        let n = r.count("predicates", MAX_AGGREGATION)?;
        let mut predicates = Vec::with_capacity(n);
        for _ in 0..n {
            predicates.push(Predicate::decode(r)?);
        }
        Ok(Statement {
            context: StatementContext {
                policy_hash,
                subject,
                as_of_day,
            },
            inputs,
            predicates,
        })
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }
}

/// Dangerous: decoding a [`Statement`] from bytes.
///
/// A verifier never needs this and must never use it: a statement received from a prover
/// proves whatever the prover chose (`score ≥ 0` labelled with the hash of a `score ≥ 600`
/// policy). Verifiers derive the statement from their own question
/// ([`crate::question::ProofTemplate::statement`]). This exists for frozen test vectors and
/// fuzzing of the statement encoding.
pub mod hazmat {
    use super::*;

    /// Decodes [`Statement::to_bytes`] (untrusted input: all sizes bounded, points canonical).
    pub fn statement_from_bytes(b: &[u8]) -> Result<Statement, DecodeError> {
        let mut r = Reader::new(b);
        let s = Statement::decode(&mut r)?;
        r.finish()?;
        Ok(s)
    }
}

fn scalar_from_i128(v: i128) -> Scalar {
    if v >= 0 {
        Scalar::from(v as u128)
    } else {
        -Scalar::from(v.unsigned_abs())
    }
}

/// An aggregated proof that every predicate of a [`Statement`] holds.
#[derive(Clone, Debug)]
pub struct PredicateProof {
    proof: RangeProof,
}

impl PredicateProof {
    /// Proves `statement` from the openings of its inputs (same order as `statement.inputs`).
    pub fn prove<R: rand_core::RngCore + rand_core::CryptoRng>(
        transcript: &mut Transcript,
        statement: &Statement,
        openings: &[Opening],
        rng: &mut R,
    ) -> Result<Self, ProofError> {
        let l = statement.lower()?;
        if openings.len() != statement.inputs.len() {
            return Err(ProofError::InvalidStatement(
                "one opening is needed per statement input",
            ));
        }
        for (o, i) in openings.iter().zip(&statement.inputs) {
            if o.commit() != i.commitment {
                return Err(ProofError::InvalidStatement(
                    "an opening does not open its input commitment",
                ));
            }
            if o.value() > i.max {
                return Err(ProofError::InvalidStatement(
                    "an opening's value exceeds the input's certified maximum",
                ));
            }
        }
        let mut values = Vec::with_capacity(l.padded);
        let mut blindings = Vec::with_capacity(l.padded);
        for (index, (terms, constant)) in l.forms.iter().enumerate() {
            let mut v: i128 = *constant;
            let mut b = Scalar::ZERO;
            for &(i, w) in terms {
                let o = &openings[i as usize];
                v += w * i128::from(o.value());
                b += scalar_from_i128(w) * o.blinding();
            }
            let limit = 1i128 << l.bits;
            if !(0..limit).contains(&v) {
                return Err(ProofError::Unsatisfied { index });
            }
            values.push(v as u64);
            blindings.push(b);
        }
        values.resize(l.padded, 0);
        blindings.resize(l.padded, Scalar::ZERO);
        statement.append_to(transcript, l.bits)?;
        let g = generators();
        let (proof, _) = RangeProof::prove_multiple_with_rng(
            &g.bulletproofs,
            &g.pedersen,
            transcript,
            &values,
            &blindings,
            l.bits,
            rng,
        )
        .map_err(|_| ProofError::InvalidStatement("range proof could not be created"))?;
        Ok(PredicateProof { proof })
    }

    /// Verifies the proof for `statement`. The derived commitments are computed here, from the
    /// statement's inputs; nothing the prover sends is trusted for them.
    pub fn verify(
        &self,
        transcript: &mut Transcript,
        statement: &Statement,
    ) -> Result<(), ProofError> {
        let l = statement.lower()?;
        statement.append_to(transcript, l.bits)?;
        let derived = statement.derived_commitments(&l)?;
        let g = generators();
        self.proof
            .verify_multiple(&g.bulletproofs, &g.pedersen, transcript, &derived, l.bits)
            .map_err(|_| ProofError::VerificationFailed)
    }

    /// Proof bytes: a version byte, then the Bulletproof.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(1).bytes(&self.proof.to_bytes());
        w.into_bytes()
    }

    /// Decodes [`PredicateProof::to_bytes`] for `statement` (whose shape fixes the length).
    pub fn from_bytes(b: &[u8], statement: &Statement) -> Result<Self, ProofError> {
        let l = statement.lower()?;
        let mut r = Reader::new(b);
        let version = r.u8("predicate proof version")?;
        if version != 1 {
            return Err(DecodeError::UnknownTag {
                field: "predicate proof version",
                tag: version,
            }
            .into());
        }
        let len = range_proof_len(l.bits, l.padded);
        let bytes = r.bytes("predicate proof", len)?;
        r.finish()?;
        let proof = decode_range_proof(bytes, l.bits, l.padded, "predicate proof")?;
        Ok(PredicateProof { proof })
    }

    /// Size in bytes of [`PredicateProof::to_bytes`].
    pub fn size(&self) -> usize {
        1 + 4 + self.proof.to_bytes().len()
    }
}
