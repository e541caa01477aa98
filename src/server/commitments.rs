//! Checking and staging signed attribute commitments (holder submissions, dispute corrections,
//! repairs).

use crate::protocols::commitment::SignedAttributeCommitment;
use crate::protocols::log::entry::{EvaluationPath, LogEntry};
use crate::protocols::seal::SealedOpening;
use crate::server::api::*;
use crate::server::error::{ApiError, ApiResult};
use crate::server::records::*;
use crate::server::state::ServiceState;
use crate::store::{Batch, Table};
use axum::http::StatusCode;
use sha3::{Digest, Sha3_256};

/// A reused submission id, said plainly.
pub(crate) fn conflict(e: ApiError) -> ApiError {
    if e.status == StatusCode::CONFLICT {
        ApiError::new(
            StatusCode::CONFLICT,
            "a submission id in this batch was already used (nothing was stored)",
        )
    } else {
        e
    }
}

/// A checked commitment with its sealed opening.
pub(crate) type Checked = (SignedAttributeCommitment, Vec<u8>);

/// Checks every item of a committed batch from `holder` before anything is stored: the caller
/// is the named holder (403), signature, catalogue ownership, certificate range, range proof,
/// sealed-opening shape (400 naming the item).
pub(crate) fn check_items(
    s: &ServiceState,
    holder: &crate::protocols::names::PartyId,
    items: &[CommittedItem],
) -> ApiResult<Vec<Checked>> {
    if items.is_empty() || items.len() > MAX_COMMITTED_BATCH {
        return Err(ApiError::bad(format!(
            "items: 1 to {MAX_COMMITTED_BATCH} commitments per batch"
        )));
    }
    let key = s
        .auth
        .key_of(holder)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("caller vanished"))?;
    let mut checked = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let bad = |m: String| ApiError::bad(format!("items[{i}]: {m}"));
        let bytes = hex::decode(&item.commitment).map_err(|_| bad("commitment: not hex".into()))?;
        let signed = SignedAttributeCommitment::from_bytes(&bytes)
            .map_err(|e| bad(format!("commitment: {e}")))?;
        let ctx = &signed.commitment.context;
        if ctx.holder != *holder {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("items[{i}]: the commitment names another holder than the caller"),
            ));
        }
        signed
            .verify(&key)
            .map_err(|_| bad("the holder signature does not verify".into()))?;
        let entry = s
            .catalog
            .get(ctx.attribute.as_str())
            .map_err(|e| bad(e.to_string()))?;
        if !entry.owned_by(holder.as_str()) {
            return Err(bad(format!(
                "attribute `{}` belongs to the `{}` authority, not to `{}`",
                ctx.attribute, entry.holder, holder
            )));
        }
        if signed.commitment.max != entry.max {
            return Err(bad(format!(
                "the range certificate is for [0, {}] but `{}` ranges over [0, {}]",
                signed.commitment.max, ctx.attribute, entry.max
            )));
        }
        signed
            .commitment
            .verify_standalone()
            .map_err(|_| bad("the range certificate does not verify".into()))?;
        let opening = hex::decode(&item.opening).map_err(|_| bad("opening: not hex".into()))?;
        SealedOpening::from_bytes(&opening).map_err(|e| bad(format!("opening: {e}")))?;
        checked.push((signed, opening));
    }
    Ok(checked)
}

/// Stages checked commitments into `batch` (the first gets log index `base`) and returns their
/// log entries.
pub(crate) fn stage_items(batch: &mut Batch, base: u64, checked: &[Checked]) -> Vec<LogEntry> {
    let mut entries = Vec::with_capacity(checked.len());
    for (n, (signed, opening)) in checked.iter().enumerate() {
        let ctx = &signed.commitment.context;
        let sub_key = submission_key(&ctx.holder, ctx.submission);
        let content_hash: [u8; 32] = Sha3_256::digest(signed.to_bytes()).into();
        batch.insert(
            Table::Submissions,
            sub_key.clone(),
            encode_committed(signed, base + n as u64),
        );
        batch.put(
            Table::SubjectAttributes,
            committed_index_key(&ctx.subject, ctx.attribute.as_str()),
            sub_key.clone(),
        );
        let mut ok = pseudonym_bytes(&ctx.subject);
        ok.extend_from_slice(&sub_key);
        batch.put(Table::SealedOpenings, ok, opening.clone());
        batch.put(Table::Meta, content_hash_key(&content_hash), sub_key);
        entries.push(LogEntry::AttributeSubmitted {
            holder: ctx.holder.clone(),
            attribute: ctx.attribute.clone(),
            subject: ctx.subject,
            submission: ctx.submission,
            path: EvaluationPath::Proven,
            content_hash,
        });
    }
    entries
}
