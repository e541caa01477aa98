//! The verifier's own question, and the published policy it pins.
//!
//! Every check of a proof, package or verdict in Credence starts from a [`Question`] the
//! verifier writes itself — *this* subject, *this* published policy (pinned by hash), *this*
//! day — and recomputes everything it compares from it. Nothing the prover, a signer or the
//! checked service supplies decides what is checked:
//!
//! * the statement a predicate proof is verified against is **derived** here
//!   ([`ProofTemplate::statement`]) from the verifier's pinned policy, subject and day, over the
//!   holder-signed commitments it was shown; no wire format carries a statement, and no
//!   verification entry point accepts one;
//! * thresholds, days, weights, constants and maxima come from the [`ProofTemplate`], which a
//!   verifier obtains by lowering the policy text it pinned (`credence-circuits`), never from
//!   the prover;
//! * every input must be a commitment to the attribute the template names for its position,
//!   by a holder of the authority that owns that attribute, about the asked subject, certified
//!   for exactly the template's range; its holder key comes from the verifier's own registry or
//!   from the log under a checkpoint the verifier's pinned anchors accept.
//!
//! (The class of bug this rules out: Hyperledger AnonCreds 0.2.3 verifies a presentation
//! proving `a ≥ 50` against a request for `a ≥ 101`, because the predicate it checks is read
//! from the presentation.)

use crate::commitment::SignedAttributeCommitment;
use crate::error::{ProofError, VerdictError};
use crate::log::hash::Hash;
use crate::names::{AttributeId, PartyId};
use crate::predicate::{
    CommittedInput, Predicate, PredicateProof, Statement, StatementContext, MAX_INPUTS, MAX_TERMS,
};
use crate::pseudonym::Pseudonym;
use crate::signing::PublicKey;
use crate::transcript::labels;
use merlin::Transcript;
use std::collections::BTreeMap;

/// The last day a question may be about: the largest `until` day a record can hold
/// (days since 1970-01-01; 65535 is 2149-06-06). Days above it are refused everywhere with a
/// clear error instead of being computed with.
pub const MAX_DAY: u32 = 65_535;

/// Largest magnitude of a threshold, weight or constant in a policy (`2⁶²`): far inside
/// `i64`, so no lowering (`T + 1`, `−T`) can overflow, and far inside the proof system's
/// `±2¹⁰⁰` window.
pub const MAX_POLICY_CONSTANT: i64 = 1 << 62;

/// Checks a question day (or any day a party names): at most [`MAX_DAY`].
pub fn check_day(field: &'static str, day: u32) -> Result<u32, String> {
    if day > MAX_DAY {
        return Err(format!(
            "{field}: day {day} is after day {MAX_DAY} (2149-06-06), the last day a record can represent"
        ));
    }
    Ok(day)
}

/// What a policy outputs, as a verifier needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputShape {
    /// Eligible or not.
    Eligible,
    /// A grade index `0..=bands` (`bands` thresholds, then the label below them all).
    Grade {
        /// Number of thresholds.
        bands: u8,
    },
}

/// A published policy as a verifier pinned it: its hash, the attributes it reads, those it
/// requires records of, its output, and — when it has one — the statement template of its
/// proof lowering. Made by `credence-circuits` from the policy text (`Policy::pin`); a
/// verifier gets one from the text it pinned, never from the party it checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedPolicy {
    hash: Hash,
    attributes: Vec<AttributeId>,
    required: Vec<AttributeId>,
    output: OutputShape,
    proof: Option<ProofTemplate>,
}

impl PinnedPolicy {
    /// A pinned policy. `attributes` and `required` are sorted and deduplicated here;
    /// `required` must be a subset of `attributes`, and a proof template must carry the same
    /// hash and read only `attributes`.
    pub fn new(
        hash: Hash,
        mut attributes: Vec<AttributeId>,
        mut required: Vec<AttributeId>,
        output: OutputShape,
        proof: Option<ProofTemplate>,
    ) -> Result<Self, ProofError> {
        attributes.sort();
        attributes.dedup();
        required.sort();
        required.dedup();
        if attributes.len() > MAX_INPUTS {
            return Err(ProofError::InvalidStatement(
                "a policy reads at most 256 attributes",
            ));
        }
        if required
            .iter()
            .any(|r| attributes.binary_search(r).is_err())
        {
            return Err(ProofError::InvalidStatement(
                "a required attribute is not read by the policy",
            ));
        }
        if let Some(t) = &proof {
            if t.policy_hash != hash
                || t.inputs
                    .iter()
                    .any(|i| attributes.binary_search(&i.attribute).is_err())
            {
                return Err(ProofError::InvalidStatement(
                    "the proof template is not this policy's",
                ));
            }
        }
        Ok(PinnedPolicy {
            hash,
            attributes,
            required,
            output,
            proof,
        })
    }
    /// The policy hash every verdict about it carries.
    pub fn hash(&self) -> Hash {
        self.hash
    }
    /// Every attribute the policy reads (sorted).
    pub fn attributes(&self) -> &[AttributeId] {
        &self.attributes
    }
    /// The attributes without a record of which the policy never answers "eligible" (sorted).
    pub fn required(&self) -> &[AttributeId] {
        &self.required
    }
    /// The output shape.
    pub fn output(&self) -> OutputShape {
        self.output
    }
    /// The proof lowering, if the policy has one.
    pub fn proof(&self) -> Option<&ProofTemplate> {
        self.proof.as_ref()
    }
}

/// The question a verifier asks: is `subject` eligible under `policy` on day `as_of_day`?
/// Everything a check compares is recomputed from it.
#[derive(Clone, Copy, Debug)]
pub struct Question<'p> {
    /// The subject asked about (the pseudonym in the region that answers).
    pub subject: Pseudonym,
    /// The published policy, as the verifier pinned it.
    pub policy: &'p PinnedPolicy,
    /// The day asked about.
    pub as_of_day: u32,
}

/// One input slot of a proof template: the attribute, the authority that owns it, and its
/// certified range `[0, max]` (from the catalogue entry the policy pins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateInput {
    /// The catalogue attribute.
    pub attribute: AttributeId,
    /// The holder authority that owns it (a party-id prefix, see [`PartyId::belongs_to`]).
    pub authority: String,
    /// The catalogue maximum the holder's range certificate must state.
    pub max: u64,
}

/// One predicate of a proof template; the question's day `D` is filled in per question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplatePredicate {
    /// `input ≤ D` (not listed on day `D`).
    NotListed(u32),
    /// `input ≥ D + 1` (listed on day `D`).
    Listed(u32),
    /// `input ≥ t`.
    AtLeast(u32, u64),
    /// `input ≤ t`.
    AtMost(u32, u64),
    /// `Σ w·input + constant ≥ threshold`.
    Sum {
        /// `(input, weight)`.
        terms: Vec<(u32, i64)>,
        /// Constant.
        constant: i64,
        /// Threshold.
        threshold: i64,
    },
}

/// A policy lowered to proof form: the attributes the subject must show commitments to, in
/// order, and the predicates over them, with the question's day left open. Produced by the
/// policy lowering in `credence-circuits`; it has no wire encoding, so it cannot be received
/// from the party being checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofTemplate {
    policy_hash: Hash,
    inputs: Vec<TemplateInput>,
    predicates: Vec<TemplatePredicate>,
}

impl ProofTemplate {
    /// A template; checks its shape (1 to 256 inputs, 1 to 64 predicates, indices in range,
    /// sums of 1 to 64 terms, every constant within ±[`MAX_POLICY_CONSTANT`]).
    pub fn new(
        policy_hash: Hash,
        inputs: Vec<TemplateInput>,
        predicates: Vec<TemplatePredicate>,
    ) -> Result<Self, ProofError> {
        let bad = ProofError::InvalidStatement;
        if inputs.is_empty() || inputs.len() > MAX_INPUTS {
            return Err(bad("a proof template needs 1 to 256 inputs"));
        }
        if predicates.is_empty() || predicates.len() > crate::commitment::MAX_AGGREGATION {
            return Err(bad("a proof template needs 1 to 64 predicates"));
        }
        let n = inputs.len() as u32;
        let small = |v: i64| v.unsigned_abs() <= MAX_POLICY_CONSTANT as u64;
        for p in &predicates {
            let ok = match p {
                TemplatePredicate::NotListed(i) | TemplatePredicate::Listed(i) => *i < n,
                TemplatePredicate::AtLeast(i, t) | TemplatePredicate::AtMost(i, t) => {
                    *i < n && *t <= MAX_POLICY_CONSTANT as u64
                }
                TemplatePredicate::Sum {
                    terms,
                    constant,
                    threshold,
                } => {
                    !terms.is_empty()
                        && terms.len() <= MAX_TERMS
                        && terms.iter().all(|(i, w)| *i < n && small(*w))
                        && small(*constant)
                        && small(*threshold)
                }
            };
            if !ok {
                return Err(bad(
                    "a template predicate names a missing input or has a constant out of range",
                ));
            }
        }
        Ok(ProofTemplate {
            policy_hash,
            inputs,
            predicates,
        })
    }
    /// The policy hash.
    pub fn policy_hash(&self) -> Hash {
        self.policy_hash
    }
    /// The input slots, in order.
    pub fn inputs(&self) -> &[TemplateInput] {
        &self.inputs
    }
    /// The predicates.
    pub fn predicates(&self) -> &[TemplatePredicate] {
        &self.predicates
    }

    /// The concrete predicates for day `day`.
    pub fn predicates_for(&self, day: u32) -> Vec<Predicate> {
        self.predicates
            .iter()
            .map(|p| match p {
                TemplatePredicate::NotListed(i) => Predicate::NotListedOn { input: *i, day },
                TemplatePredicate::Listed(i) => Predicate::AtLeast {
                    input: *i,
                    threshold: u64::from(day) + 1,
                },
                TemplatePredicate::AtLeast(i, t) => Predicate::AtLeast {
                    input: *i,
                    threshold: *t,
                },
                TemplatePredicate::AtMost(i, t) => Predicate::AtMost {
                    input: *i,
                    threshold: *t,
                },
                TemplatePredicate::Sum {
                    terms,
                    constant,
                    threshold,
                } => Predicate::WeightedSumAtLeast {
                    terms: terms.clone(),
                    constant: *constant,
                    threshold: *threshold,
                },
            })
            .collect()
    }

    /// The statement a prover proves for `subject` on `day` over commitments in template
    /// order (the prover's side; verifiers use [`ProofTemplate::statement`]).
    pub fn statement_over(
        &self,
        subject: Pseudonym,
        day: u32,
        commitments: &[curve25519_dalek::ristretto::CompressedRistretto],
    ) -> Result<Statement, ProofError> {
        if commitments.len() != self.inputs.len() {
            return Err(ProofError::InvalidStatement(
                "one commitment is needed per template input",
            ));
        }
        Ok(Statement {
            context: StatementContext {
                policy_hash: self.policy_hash,
                subject,
                as_of_day: day,
            },
            inputs: commitments
                .iter()
                .zip(&self.inputs)
                .map(|(c, t)| CommittedInput {
                    commitment: *c,
                    max: t.max,
                })
                .collect(),
            predicates: self.predicates_for(day),
        })
    }

    /// The statement the verifier derives for its own `question` over the holder-signed
    /// `inputs` it was shown: the template's predicates for the question's day, over exactly
    /// these commitments, each of which must commit to the template's attribute for its
    /// position, by a holder of the owning authority, about the question's subject, with a
    /// range certificate for the template's maximum. Says which rule an input breaks
    /// ([`VerdictError::Mismatch`]): these are facts about the evidence, not about secrets.
    pub fn statement(
        &self,
        question: &Question<'_>,
        inputs: &[SignedAttributeCommitment],
    ) -> Result<Statement, VerdictError> {
        if question.policy.hash() != self.policy_hash {
            return Err(VerdictError::Mismatch(
                "the proof template is not the pinned policy's",
            ));
        }
        check_day("as-of day", question.as_of_day)
            .map_err(|_| VerdictError::Mismatch("the question's day is after the last day"))?;
        if inputs.len() != self.inputs.len() {
            return Err(VerdictError::Mismatch(
                "the evidence does not have one commitment per input of the policy's proof",
            ));
        }
        for (signed, slot) in inputs.iter().zip(&self.inputs) {
            let c = &signed.commitment;
            if c.context.attribute != slot.attribute {
                return Err(VerdictError::Mismatch(
                    "a commitment is not to the attribute the policy reads at its position",
                ));
            }
            if !c.context.holder.belongs_to(&slot.authority) {
                return Err(VerdictError::Mismatch(
                    "a commitment is signed by a holder of another authority than the one that owns its attribute",
                ));
            }
            if c.context.subject != question.subject {
                return Err(VerdictError::Mismatch(
                    "a commitment is about another subject",
                ));
            }
            if c.max != slot.max {
                return Err(VerdictError::Mismatch(
                    "a commitment's range certificate is not for the attribute's catalogue range",
                ));
            }
        }
        let commitments: Vec<_> = inputs.iter().map(|s| s.commitment.commitment).collect();
        Ok(self.statement_over(question.subject, question.as_of_day, &commitments)?)
    }
}

/// Registered holders' keys, as the verifier knows them (its own registry, or learned from
/// the log under a checkpoint its anchors accept).
pub type HolderKeys = BTreeMap<PartyId, PublicKey>;

/// What a verified predicate proof establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenAnswer {
    /// The attributes whose records the proof rests on (sorted): all of the policy's proof
    /// inputs.
    pub coverage: Vec<AttributeId>,
}

/// The one check of proven-path evidence, shared by the service (`POST /v1/bank/proof`), the
/// bank's receipt check, `credence verify`, the audit and partner regions: derives the
/// statement from `question` ([`ProofTemplate::statement`]), checks every input's holder
/// signature and range certificate under `keys`, decodes the proof for the derived statement
/// and verifies it. The policy must have a proof lowering and must require nothing the proof
/// does not cover.
pub fn verify_proof(
    question: &Question<'_>,
    keys: &HolderKeys,
    proof: &[u8],
    inputs: &[SignedAttributeCommitment],
) -> Result<ProvenAnswer, VerdictError> {
    let template = question.policy.proof().ok_or(VerdictError::Mismatch(
        "the pinned policy has no proof lowering: it is answered on the sealed path only",
    ))?;
    let statement = template.statement(question, inputs)?;
    for signed in inputs {
        let key = keys
            .get(&signed.commitment.context.holder)
            .ok_or(VerdictError::Mismatch(
                "a commitment is signed by a holder whose key the verifier does not know",
            ))?;
        signed.verify(key)?;
    }
    let proof = PredicateProof::from_bytes(proof, &statement)?;
    proof.verify(&mut Transcript::new(labels::APP_VERDICT), &statement)?;
    let mut coverage: Vec<AttributeId> = template
        .inputs()
        .iter()
        .map(|i| i.attribute.clone())
        .collect();
    coverage.sort();
    coverage.dedup();
    if question
        .policy
        .required()
        .iter()
        .any(|r| coverage.binary_search(r).is_err())
    {
        return Err(VerdictError::Mismatch(
            "the policy requires a record its proof does not cover",
        ));
    }
    Ok(ProvenAnswer { coverage })
}
