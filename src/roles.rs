//! What each party does on its own machine, shared by the CLI, the demo and the examples:
//! a holder commits to attribute values and seals the openings to the subject; a subject opens
//! its records and proves a policy.

use crate::circuits::catalog::Catalog;
use crate::circuits::policy::Policy;
use crate::circuits::proof::lower_to_proof;
use crate::protocols::commitment::{
    AttributeCommitment, AttributeContext, Opening, SignedAttributeCommitment,
    ATTRIBUTE_TRANSCRIPT_LABEL,
};
use crate::protocols::names::{AttributeId, PartyId};
use crate::protocols::package::{Claim, ProofPackage};
use crate::protocols::predicate::PredicateProof;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::seal::{SealedOpening, SealingPublicKey, SealingSecretKey};
use crate::protocols::signing::SigningKey;
use crate::protocols::transcript::labels;
use crate::protocols::ProofError;
use merlin::Transcript;
use rand::rngs::OsRng;

/// Why a holder or subject step failed.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// Catalogue: unknown attribute, not this holder's, value out of range.
    #[error("{0}")]
    Catalog(String),
    /// The policy has no proof lowering.
    #[error("{0}")]
    NotProvable(String),
    /// The subject has no current commitment to an attribute the policy reads.
    #[error("no commitment to `{0}` for this subject: its holder has not submitted one on the proven path")]
    Missing(String),
    /// A sealed opening did not open (not sealed to this subject's key, or tampered).
    #[error("the opening of `{0}` does not open with this subject's sealing key")]
    Opening(String),
    /// The subject's values do not satisfy the policy: no proof exists.
    #[error("the policy is not satisfied (its predicate {0} fails), so there is nothing to prove; only the sealed path answers \"no\"")]
    Unsatisfied(usize),
    /// Any other proof failure.
    #[error("proof failed: {0}")]
    Proof(String),
    /// The service could not provide the holders' registrations.
    #[error("cannot fetch the holders' registrations from the log: {0}")]
    Service(String),
}

/// Holder: commits to `values` of `subject` (submission ids from `first_submission` on),
/// signs each commitment with a range certificate for the catalogue maximum and seals each
/// opening to the subject's sealing key.
pub fn commit_attributes(
    catalog: &Catalog,
    holder: &PartyId,
    holder_key: &SigningKey,
    subject: Pseudonym,
    sealing: &SealingPublicKey,
    values: &[(AttributeId, u64)],
    first_submission: u64,
) -> Result<Vec<(SignedAttributeCommitment, SealedOpening)>, RoleError> {
    let mut rng = OsRng;
    let mut out = Vec::with_capacity(values.len());
    for (n, (attribute, value)) in values.iter().enumerate() {
        let entry = catalog
            .get(attribute.as_str())
            .map_err(|e| RoleError::Catalog(e.to_string()))?;
        if !entry.owned_by(holder.as_str()) {
            return Err(RoleError::Catalog(format!(
                "attribute `{attribute}` belongs to the `{}` authority, not to `{holder}`",
                entry.holder
            )));
        }
        entry
            .check_value(*value)
            .map_err(|e| RoleError::Catalog(e.to_string()))?;
        let context = AttributeContext {
            holder: holder.clone(),
            attribute: attribute.clone(),
            subject,
            submission: first_submission + n as u64,
        };
        let opening = Opening::random(*value, &mut rng);
        let c = AttributeCommitment::create(
            &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
            context.clone(),
            &opening,
            entry.max,
            &mut rng,
        )
        .map_err(|e| RoleError::Proof(e.to_string()))?;
        let sealed = SealedOpening::seal(sealing, &context, &c.commitment, &opening, &mut rng);
        out.push((SignedAttributeCommitment::sign(c, holder_key), sealed));
    }
    Ok(out)
}

/// Subject: opens its current records and proves `policy` about itself on `day`. The package
/// carries the holders' registrations in the log under a cosigned checkpoint (fetched through
/// `client`), so a bank can check it with its pinned anchors alone.
pub fn prove(
    policy: &Policy,
    day: u32,
    subject: Pseudonym,
    records: &[(SignedAttributeCommitment, SealedOpening)],
    sealing: &SealingSecretKey,
    client: &crate::client::Client,
) -> Result<ProofPackage, RoleError> {
    let (proof, inputs) = prove_offline(policy, day, subject, records, sealing)?;
    let mut holders: Vec<PartyId> = inputs
        .iter()
        .map(|i| i.commitment.context.holder.clone())
        .collect();
    holders.sort();
    holders.dedup();
    let (checkpoint, keys) = client
        .key_evidence(&holders)
        .map_err(|e| RoleError::Service(e.to_string()))?;
    Ok(ProofPackage {
        claim: Claim {
            subject,
            policy_hash: policy.hash(),
            as_of_day: day,
        },
        proof: proof.to_bytes(),
        inputs,
        checkpoint,
        keys,
    })
}

/// The proof alone: opens the commitments the policy's proof needs and proves them, over the
/// statement the policy's template gives for this subject and day.
pub fn prove_offline(
    policy: &Policy,
    day: u32,
    subject: Pseudonym,
    records: &[(SignedAttributeCommitment, SealedOpening)],
    sealing: &SealingSecretKey,
) -> Result<(PredicateProof, Vec<SignedAttributeCommitment>), RoleError> {
    let template = lower_to_proof(policy).map_err(|e| RoleError::NotProvable(e.to_string()))?;
    let mut inputs = Vec::with_capacity(template.inputs().len());
    let mut openings = Vec::with_capacity(template.inputs().len());
    for slot in template.inputs() {
        let attribute = &slot.attribute;
        let (signed, sealed) = records
            .iter()
            .find(|(s, _)| {
                s.commitment.context.attribute == *attribute
                    && s.commitment.context.subject == subject
            })
            .ok_or_else(|| RoleError::Missing(attribute.to_string()))?;
        let c = &signed.commitment;
        let opening = sealed
            .open(sealing, &c.context, &c.commitment)
            .map_err(|_| RoleError::Opening(attribute.to_string()))?;
        inputs.push(signed.clone());
        openings.push(opening);
    }
    let commitments: Vec<_> = inputs.iter().map(|s| s.commitment.commitment).collect();
    let statement = template
        .statement_over(subject, day, &commitments)
        .map_err(|e| RoleError::Proof(e.to_string()))?;
    let proof = PredicateProof::prove(
        &mut Transcript::new(labels::APP_VERDICT),
        &statement,
        &openings,
        &mut OsRng,
    )
    .map_err(|e| match e {
        ProofError::Unsatisfied { index } => RoleError::Unsatisfied(index),
        e => RoleError::Proof(e.to_string()),
    })?;
    Ok((proof, inputs))
}
