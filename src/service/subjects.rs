//! Subjects: their registration (pseudonym and sealing key bound to a party), consent checks,
//! and the subject's own routes — its records and every query made about it.

use super::{
    outcome_json, pseudonym_bytes, pseudonym_from_bytes, ApiError, ApiResult, ServiceState,
};
use crate::protocols::consent::SignedConsent;
use crate::protocols::identifiers::{SubjectId, SubjectKind};
use crate::protocols::log::entry::LogEntry;
use crate::protocols::log::hash::Hash;
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::seal::SealingPublicKey;
use crate::protocols::signing::{PublicKey, Role};
use crate::store::{prefix_range, Batch, Table};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

fn party_key(party: &PartyId) -> Vec<u8> {
    let mut k = b"party/".to_vec();
    k.extend_from_slice(party.as_str().as_bytes());
    k
}

fn subject_key(subject: &Pseudonym) -> Vec<u8> {
    let mut k = b"subject/".to_vec();
    k.extend_from_slice(&pseudonym_bytes(subject));
    k
}

/// Binds a subject party to its pseudonym and sealing key (one party per subject).
pub(super) fn bind(batch: &mut Batch, party: &PartyId, subject: &Pseudonym, sealing: [u8; 32]) {
    let mut v = pseudonym_bytes(subject);
    v.extend_from_slice(&sealing);
    batch.insert(Table::Subjects, party_key(party), v);
    batch.insert(
        Table::Subjects,
        subject_key(subject),
        party.as_str().as_bytes().to_vec(),
    );
}

/// The pseudonym and sealing key bound to a subject party.
pub(super) fn of_party(
    s: &ServiceState,
    party: &PartyId,
) -> ApiResult<Option<(Pseudonym, SealingPublicKey)>> {
    let Some(v) = s
        .store
        .get(Table::Subjects, &party_key(party))
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    let p = pseudonym_from_bytes(&v).ok_or_else(|| ApiError::internal("corrupt subject"))?;
    let k: [u8; 32] = v
        .get(33..65)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::internal("corrupt subject"))?;
    Ok(Some((p, SealingPublicKey::from_bytes(k))))
}

/// The party registered for a subject, with its signing and sealing keys.
pub(super) fn party_of(
    s: &ServiceState,
    subject: &Pseudonym,
) -> ApiResult<Option<(PartyId, PublicKey, SealingPublicKey)>> {
    let Some(v) = s
        .store
        .get(Table::Subjects, &subject_key(subject))
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    let party = std::str::from_utf8(&v)
        .ok()
        .and_then(|p| PartyId::new(p).ok())
        .ok_or_else(|| ApiError::internal("corrupt subject party"))?;
    let key = s
        .auth
        .key_of(&party)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("subject party without key"))?;
    let (_, sealing) = of_party(s, &party)?.ok_or_else(|| ApiError::internal("corrupt subject"))?;
    Ok(Some((party, key, sealing)))
}

/// A query's purpose: 1 to 200 bytes, no control characters (it is logged verbatim in the
/// `Query` entry, under the log's text rule).
pub(super) fn check_purpose(purpose: &str) -> ApiResult<()> {
    if purpose.trim().is_empty() || purpose.len() > crate::protocols::consent::MAX_PURPOSE {
        return Err(ApiError::bad(format!(
            "purpose: 1 to {} bytes of text, got {}",
            crate::protocols::consent::MAX_PURPOSE,
            purpose.len()
        )));
    }
    crate::protocols::log::entry::check_text("purpose", purpose)
        .map_err(|e| ApiError::bad(e.to_string()))
}

/// Checks the purpose and the consent token for a query by `bank` about `subject`. A person can
/// only be asked about with a consent that covers the query; for an enterprise a consent is
/// optional and, when given, checked and recorded the same way.
#[allow(clippy::too_many_arguments)]
pub(super) fn check_consent(
    s: &ServiceState,
    bank: &PartyId,
    id: &SubjectId,
    subject: &Pseudonym,
    policy_hash: &Hash,
    purpose: &str,
    day: u32,
    token: Option<&str>,
) -> ApiResult<Option<SignedConsent>> {
    check_purpose(purpose)?;
    let forbidden = |m: &str| ApiError::new(StatusCode::FORBIDDEN, m.to_string());
    let Some(token) = token else {
        if id.kind() == SubjectKind::Person {
            return Err(forbidden(
                "a query about a person needs the person's consent token; none was given",
            ));
        }
        return Ok(None);
    };
    let bytes = hex::decode(token).map_err(|_| ApiError::bad("consent: not hex"))?;
    let consent =
        SignedConsent::from_bytes(&bytes).map_err(|e| ApiError::bad(format!("consent: {e}")))?;
    let Some((_, key, _)) = party_of(s, subject)? else {
        return Err(forbidden(
            "the subject has no registered key, so no consent of it can be checked",
        ));
    };
    if consent.verify(&key).is_err() {
        return Err(forbidden(
            "the consent is not signed by the subject's registered key",
        ));
    }
    if consent.consent.subject != *subject
        || !consent.consent.covers(bank, policy_hash, purpose, day)
    {
        return Err(forbidden(
            "the consent does not cover this query (subject, bank, policy, purpose or day)",
        ));
    }
    Ok(Some(consent))
}

/// Authenticates a subject party and returns it with the pseudonym it is bound to (403 if it
/// is bound to none). Every subject route derives the subject from here, never from the body.
pub(super) fn caller_subject(
    s: &ServiceState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<(crate::auth::Caller, Pseudonym)> {
    let caller = s.authenticate(headers, method, uri, body, &[Role::Subject])?;
    let subject = of_party(s, &caller.party)?
        .map(|(p, _)| p)
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "caller is not bound to a subject"))?;
    Ok((caller, subject))
}

/// `GET /v1/subject/records`: the subject's commitments with their sealed openings, and the
/// sealed records held about it.
pub(super) async fn records(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let (_, subject) = caller_subject(&s, &method, &uri, &headers, b"")?;
    let (from, to) = prefix_range(&pseudonym_bytes(&subject));
    let mut committed = Vec::new();
    let mut sealed = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (_, sub_key) in s
        .store
        .scan(Table::SubjectAttributes, &from, to.as_deref(), 10_000)
        .map_err(ApiError::internal)?
    {
        // A sealed record is indexed once per attribute it carries: list it once.
        if !seen.insert(sub_key.clone()) {
            continue;
        }
        let v = s
            .store
            .get(Table::Submissions, &sub_key)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal("dangling submission index"))?;
        if let Some((signed, log_index)) = super::proven::decode_committed(&v) {
            let mut ok = pseudonym_bytes(&subject);
            ok.extend_from_slice(&sub_key);
            let opening = s
                .store
                .get(Table::SealedOpenings, &ok)
                .map_err(ApiError::internal)?
                .unwrap_or_default();
            let c = &signed.commitment.context;
            committed.push(json!({
                "attribute": c.attribute.to_string(),
                "holder": c.holder.to_string(),
                "submission": c.submission,
                "log_index": log_index,
                "commitment": hex::encode(signed.to_bytes()),
                "opening": hex::encode(opening),
            }));
        } else if let Some((record, _, _)) = super::decode_sealed(&v) {
            let sub = &record.submission.submission;
            sealed.push(json!({
                "holder": sub.holder.to_string(),
                "submission": sub.submission_id,
                "attributes": sub.attributes.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "content_hash": hex::encode(record.submission.hash()),
            }));
        } else {
            return Err(ApiError::internal("corrupt submission"));
        }
    }
    Ok(Json(json!({
        "pseudonym": subject.to_text(),
        "committed": committed,
        "sealed": sealed,
        "listings": super::repair::notices(&s, &subject)?,
    })))
}

/// `GET /v1/subject/queries`: every query and verdict about the subject, from the log.
pub(super) async fn queries(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let (_, subject) = caller_subject(&s, &method, &uri, &headers, b"")?;
    let mut prefix = b"q/".to_vec();
    prefix.extend_from_slice(&pseudonym_bytes(&subject));
    let (from, to) = prefix_range(&prefix);
    let mut out = Vec::new();
    for (k, _) in s
        .store
        .scan(Table::Subjects, &from, to.as_deref(), 100_000)
        .map_err(ApiError::internal)?
    {
        let idx = u64::from_be_bytes(
            k[k.len() - 8..]
                .try_into()
                .map_err(|_| ApiError::internal("corrupt index"))?,
        );
        let Some((_, leaf)) = s
            .log
            .entries(idx, idx + 1, 1)
            .map_err(ApiError::internal)?
            .pop()
        else {
            return Err(ApiError::internal("indexed entry missing"));
        };
        let item = match &leaf.entry {
            LogEntry::Query {
                bank,
                subject: sub,
                policy_hash,
                as_of_day,
                purpose,
                consent_hash,
                ..
            } if *sub == subject => json!({
                "index": idx, "time": leaf.time, "kind": "query", "bank": bank.to_string(),
                "policy_hash": hex::encode(policy_hash), "day": as_of_day, "purpose": purpose,
                "consent_hash": consent_hash.map(hex::encode),
            }),
            LogEntry::Verdict {
                verdict_hash,
                subject: sub,
                bank,
            } if *sub == subject => {
                let outcome = s
                    .store
                    .get(Table::Verdicts, verdict_hash)
                    .map_err(ApiError::internal)?
                    .and_then(|v| crate::protocols::verdict::SignedVerdict::from_bytes(&v).ok())
                    .map(|v| outcome_json(v.verdict.outcome));
                json!({
                    "index": idx, "time": leaf.time, "kind": "verdict", "bank": bank.to_string(),
                    "verdict_hash": hex::encode(verdict_hash), "outcome": outcome,
                })
            }
            _ => return Err(ApiError::internal("subject index points at another entry")),
        };
        out.push(item);
    }
    Ok(Json(
        json!({ "pseudonym": subject.to_text(), "events": out }),
    ))
}
