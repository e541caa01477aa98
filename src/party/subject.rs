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

/// What a subject found about its own binding in the log ([`check_binding`]).
#[derive(Debug)]
pub struct BindingCheck {
    /// Index of its `SubjectBound` entry.
    pub index: u64,
    /// Size of the verified checkpoint the entry is included under.
    pub size: u64,
    /// The pseudonym it is bound to.
    pub pseudonym: Pseudonym,
}

/// Subject: checks from the log that my pseudonym is bound to my keys, and that nothing I can
/// read binds it, or me, otherwise. The checkpoint must verify under my pinned `anchors`, and
/// the entries the service shows me (in full, or as leaf hashes) must rebuild its root, so
/// they are the logged ones; among them a `SubjectBound` entry for my party, every one naming
/// the pseudonym the service says is mine, my signing key and my sealing key; my registration
/// with my key; no other binding of that pseudonym or of my party; no key rotation of my
/// party.
///
/// What this cannot see: which pseudonym is really mine (a keyed hash only the service
/// computes), and entries the service shows me as hashes only. A binding of my real pseudonym
/// to another party's key, with me bound to another one, is the auditor's to find: it reads
/// every entry and flags a pseudonym bound twice.
pub fn check_binding(
    client: &crate::party::client::Client,
    sealing: &crate::protocols::seal::SealingPublicKey,
    anchors: &crate::protocols::verdict::TrustAnchors,
) -> Result<BindingCheck, String> {
    use crate::protocols::log::entry::LogEntry;
    use crate::protocols::log::tree::MemoryTree;
    use crate::protocols::log::Sha3Log;
    let sealing = sealing.to_bytes();
    let me = client.party();
    let signed = client.checkpoint().map_err(|e| e.to_string())?;
    let cp = anchors
        .verify_checkpoint(&signed)
        .map_err(|e| format!("checkpoint: {e}"))?
        .clone();
    let pseudonym = client.subject_pseudonym().map_err(|e| e.to_string())?;
    let mine = client.key().public();
    let mut tree = MemoryTree::<Sha3Log>::new();
    let (mut bindings, mut registered) = (Vec::new(), false);
    while tree.size() < cp.size {
        let from = tree.size();
        let got = client
            .entries(from, (from + 1000).min(cp.size))
            .map_err(|e| e.to_string())?;
        if got.is_empty() {
            return Err(format!("the service returned no entries from {from}"));
        }
        for (i, e) in got {
            if i != tree.size() {
                return Err(format!("the service returned entry {i} out of order"));
            }
            tree.append_leaf_hash(e.leaf_hash());
            let Some(leaf) = e.into_leaf() else { continue };
            match &leaf.entry {
                LogEntry::PartyRegistered { party, key } if party == me => {
                    if *key != mine || registered {
                        return Err(format!("entry {i} registers my party with another key"));
                    }
                    registered = true;
                }
                LogEntry::KeyRotation { party, .. } if party == me => {
                    return Err(format!("entry {i} rotates my key: I never asked for that"));
                }
                LogEntry::SubjectBound {
                    party,
                    subject,
                    key,
                    sealing_key,
                    ..
                } if party == me || *subject == pseudonym => {
                    if party != me || *subject != pseudonym {
                        return Err(format!(
                            "entry {i} binds {} to {party}: another party speaks for my pseudonym, or I am bound to another one",
                            subject.to_text()
                        ));
                    }
                    if *key != mine || *sealing_key != sealing {
                        return Err(format!(
                            "entry {i} binds my pseudonym to keys that are not mine"
                        ));
                    }
                    bindings.push(i);
                }
                _ => {}
            }
        }
    }
    if tree.size() != cp.size || tree.root() != cp.root {
        return Err("the entries the service showed do not rebuild the checkpoint's root".into());
    }
    if !registered {
        return Err("my registration is not in the log".into());
    }
    // The same binding logged again (a restart of an upgraded service) is no harm: every one
    // was checked above to name my pseudonym and my keys.
    let Some(index) = bindings.last() else {
        return Err("the log holds no binding of my party".into());
    };
    Ok(BindingCheck {
        index: *index,
        size: cp.size,
        pseudonym,
    })
}
