//! What a holder runs on its own machine: encrypt a record's values under the service's compact
//! public key with a proof of plaintext knowledge bound to the submission metadata (sealed
//! path), or commit to them with range certificates and seal each opening to the subject
//! (proven path).

use super::RoleError;
use crate::circuits::catalog::Catalog;
use crate::fhe::{SealedRecord, MAX_LIST_BYTES};
use crate::protocols::commitment::{
    AttributeCommitment, AttributeContext, Opening, SignedAttributeCommitment,
    ATTRIBUTE_TRANSCRIPT_LABEL,
};
use crate::protocols::names::{AttributeId, PartyId};
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::seal::{SealedOpening, SealingPublicKey};
use crate::protocols::sealed::{SealedSubmission, SignedSealedSubmission};
use crate::protocols::signing::Role;
use crate::protocols::signing::SigningKey;
use merlin::Transcript;
use rand::rngs::OsRng;
use tfhe::safe_serialization::safe_serialize;
use tfhe::zk::{CompactPkeCrs, ZkComputeLoad};
use tfhe::{CompactPublicKey, ProvenCompactCiphertextList};

/// A record could not be sealed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Unknown attribute, not this holder's, or value out of range.
    #[error("{0}")]
    Catalog(String),
    /// No values, too many, or an attribute twice.
    #[error("a sealed record carries 1 to {max} distinct attributes, got {got}")]
    Count {
        /// Most allowed.
        max: usize,
        /// Given.
        got: usize,
    },
    /// The key is not a holder key.
    #[error("sealed records are signed with a holder key")]
    WrongRole,
    /// tfhe failed.
    #[error("encryption failed: {0}")]
    Encryption(String),
}

/// Encrypts `values` for `subject` as one proven list and signs the submission.
#[allow(clippy::too_many_arguments)]
pub fn encrypt_record(
    catalog: &Catalog,
    public_key: &CompactPublicKey,
    crs: &CompactPkeCrs,
    holder: &PartyId,
    holder_key: &SigningKey,
    subject: Pseudonym,
    submission_id: u64,
    values: &[(AttributeId, u64)],
) -> Result<SealedRecord, SealError> {
    if holder_key.role() != Role::Holder {
        return Err(SealError::WrongRole);
    }
    let max = crate::fhe::keys::MAX_LIST_ATTRIBUTES;
    let mut ids: Vec<AttributeId> = Vec::with_capacity(values.len());
    for (a, _) in values {
        if ids.contains(a) {
            return Err(SealError::Count {
                max,
                got: values.len(),
            });
        }
        ids.push(a.clone());
    }
    if values.is_empty() || values.len() > max {
        return Err(SealError::Count {
            max,
            got: values.len(),
        });
    }
    let mut builder = ProvenCompactCiphertextList::builder(public_key);
    for (a, v) in values {
        let attr = catalog
            .get(a.as_str())
            .map_err(|e| SealError::Catalog(e.to_string()))?;
        if !attr.owned_by(holder.as_str()) {
            return Err(SealError::Catalog(format!(
                "attribute `{a}` is not held by `{holder}`"
            )));
        }
        attr.check_value(*v)
            .map_err(|e| SealError::Catalog(e.to_string()))?;
        builder.push(*v as u16);
    }
    let metadata = SealedSubmission::metadata(holder, &subject, submission_id, &ids);
    let list = builder
        .build_with_proof_packed(crs, &metadata, ZkComputeLoad::Proof)
        .map_err(|e| SealError::Encryption(e.to_string()))?;
    let mut bytes = Vec::new();
    safe_serialize(&list, &mut bytes, MAX_LIST_BYTES)
        .map_err(|e| SealError::Encryption(e.to_string()))?;
    let submission = SealedSubmission {
        holder: holder.clone(),
        subject,
        submission_id,
        attributes: ids,
        list_hash: SealedSubmission::hash_list(&bytes),
    };
    Ok(SealedRecord {
        submission: SignedSealedSubmission::sign(submission, holder_key),
        list: bytes,
    })
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
