//! What a subject runs on its own machine: open its records and prove a policy about itself.

use super::RoleError;
use crate::circuits::policy::Policy;
use crate::circuits::proof::lower_to_proof;
use crate::protocols::commitment::SignedAttributeCommitment;
use crate::protocols::names::PartyId;
use crate::protocols::package::{Claim, ProofPackage};
use crate::protocols::predicate::PredicateProof;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::seal::{SealedOpening, SealingSecretKey};
use crate::protocols::transcript::labels;
use crate::protocols::ProofError;
use merlin::Transcript;
use rand::rngs::OsRng;

/// Subject: opens its current records and proves `policy` about itself on `day`. The package
/// carries the holders' registrations in the log under a cosigned checkpoint (fetched through
/// `client`), so a bank can check it with its pinned anchors alone.
pub fn prove(
    policy: &Policy,
    day: u32,
    subject: Pseudonym,
    records: &[(SignedAttributeCommitment, SealedOpening)],
    sealing: &SealingSecretKey,
    client: &crate::party::client::Client,
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
