//! Holder-side sealing: encrypt a record's values under the compact public key, prove plaintext
//! knowledge bound to the submission metadata, sign the submission.

use crate::circuits::catalog::Catalog;
use crate::protocols::names::{AttributeId, PartyId};
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::sealed::{SealedSubmission, SignedSealedSubmission};
use crate::protocols::signing::{Role, SigningKey};
use tfhe::safe_serialization::safe_serialize;
use tfhe::zk::{CompactPkeCrs, ZkComputeLoad};
use tfhe::{CompactPublicKey, ProvenCompactCiphertextList};

/// Largest serialized proven list the service accepts (16 attributes come to ≈ 20 KB).
pub const MAX_LIST_BYTES: u64 = 1 << 20;

/// What a holder uploads: the signed submission and the proven compact list
/// ([`crate::protocols::sealed::SealedUpload`], whose codec is shared with every verifier).
pub type SealedRecord = crate::protocols::sealed::SealedUpload;

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
pub fn seal(
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
    let max = super::keys::MAX_LIST_ATTRIBUTES;
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
