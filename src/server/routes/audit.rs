//! The log for auditors (and every registered party, each seeing what concerns it): checkpoints,
//! entries, proofs, policies, objects, holder keys; the trust anchors.

use crate::protocols::log::entry::LogEntry;
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::signing::Role;
use crate::protocols::verdict::SignedVerdict;
use crate::server::api::*;
use crate::server::error::ErrorBody;
use crate::server::error::{ApiError, ApiResult};
use crate::server::records::*;
use crate::server::state::{any_party, ServiceState};
use crate::server::subjects::*;
use crate::store::Table;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Json;
use std::sync::Arc;

#[utoipa::path(
    operation_id = "audit_checkpoint",
    get,
    path = "/v1/audit/checkpoint",
    tag = "audit",
    responses(
        (status = 200, description = "the latest checkpoint (C2SP signed note), cosigned by the witnesses", body = String, content_type = "text/plain"),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody),
        (status = 503, description = "FHE queue full or witness quorum not reached: retry later", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("any registered party")))
)]
pub(crate) async fn audit_checkpoint(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<String> {
    s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let (cp, _) = s.cosigned_checkpoint().await?;
    Ok(cp.to_text())
}

#[utoipa::path(
    operation_id = "audit_entries",
    get,
    path = "/v1/audit/entries",
    tag = "audit",
    params(EntriesQuery),
    responses(
        (status = 200, description = "entries from..to (≤ 1000): the leaf where the caller may read it, its hash otherwise", body = Entries),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("any registered party")))
)]
pub(crate) async fn audit_entries(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(r): Query<EntriesQuery>,
) -> ApiResult<Json<Entries>> {
    let caller = s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    if r.to < r.from {
        return Err(ApiError::bad("`to` must not be below `from`"));
    }
    let reader = LogReader::of(&s, &caller)?;
    let entries = s
        .log
        .entries(r.from, r.to, 1000)
        .map_err(ApiError::internal)?;
    let at = |i: u64| -> Option<LogEntry> {
        s.log
            .entries(i, i.saturating_add(1), 1)
            .ok()?
            .pop()
            .map(|(_, l)| l.entry)
    };
    let entries = entries
        .iter()
        .map(|(i, leaf)| match leaf.sealed() {
            // Public entries, and sealed ones the caller may read, in full.
            Some(sealed) if !reader.may_read_entry(&leaf.entry, &at) => EntryView {
                index: *i,
                leaf: None,
                sealed_leaf: Some(hex::encode(sealed.to_bytes())),
                leaf_hash: Some(hex::encode(sealed.hash())),
            },
            _ => EntryView {
                index: *i,
                leaf: Some(hex::encode(leaf.to_bytes())),
                sealed_leaf: None,
                leaf_hash: None,
            },
        })
        .collect();
    Ok(Json(Entries { entries }))
}

/// Who is reading the log, and what it may see in full. Auditors and the operator read
/// everything; every other party reads the public entries (registrations, policies, roots)
/// and the entries that concern it — a bank its own queries and verdicts, a holder its own
/// submissions, a subject what is about it — and only the leaf hash of the rest, which is
/// enough to recompute roots and check consistency. So no bank reads another bank's
/// questions or answers.
pub(crate) struct LogReader {
    caller: crate::server::auth::Caller,
    subject: Option<Pseudonym>,
}

impl LogReader {
    fn of(s: &ServiceState, caller: &crate::server::auth::Caller) -> ApiResult<Self> {
        let subject = if caller.role == Role::Subject {
            of_party(s, &caller.party)?.map(|(p, _)| p)
        } else {
            None
        };
        Ok(LogReader {
            caller: caller.clone(),
            subject,
        })
    }

    fn everything(&self) -> bool {
        // The key authority follows the whole log to decide (it selects a query's inputs
        // itself, so it must see every submission).
        matches!(
            self.caller.role,
            Role::Auditor | Role::Operator | Role::KeyAuthority
        )
    }

    fn is(&self, party: &PartyId) -> bool {
        self.caller.party == *party
    }

    fn about(&self, subject: &Pseudonym) -> bool {
        self.subject.as_ref() == Some(subject)
    }

    /// Whether the caller may read an object concerning `bank`, `holder` and `subject`.
    fn may_read(
        &self,
        bank: Option<&PartyId>,
        holder: Option<&PartyId>,
        subject: &Pseudonym,
    ) -> bool {
        self.everything()
            || bank.is_some_and(|b| self.is(b))
            || holder.is_some_and(|h| self.is(h))
            || self.about(subject)
    }

    /// Whether the caller may read entry `e`; `at` looks up another entry (an evaluation is
    /// readable by whoever may read the query it answers, a decryption by whoever may read its
    /// evaluation).
    fn may_read_entry(&self, e: &LogEntry, at: &dyn Fn(u64) -> Option<LogEntry>) -> bool {
        if self.everything() {
            return true;
        }
        match e {
            LogEntry::Evaluation { query_index, .. } => {
                return at(*query_index).is_some_and(|q| {
                    matches!(q, LogEntry::Query { .. }) && self.may_read_entry(&q, at)
                })
            }
            LogEntry::DecryptionRefused { query_index, .. } => {
                return at(*query_index).is_some_and(|q| {
                    matches!(q, LogEntry::Query { .. }) && self.may_read_entry(&q, at)
                })
            }
            LogEntry::Decryption {
                evaluation_index, ..
            } => {
                return at(*evaluation_index).is_some_and(|ev| {
                    matches!(ev, LogEntry::Evaluation { .. }) && self.may_read_entry(&ev, at)
                })
            }
            _ => {}
        }
        match e {
            LogEntry::PartyRegistered { .. }
            | LogEntry::PolicyPublished { .. }
            | LogEntry::DirectoryRoot { .. }
            | LogEntry::EngineParameters { .. }
            | LogEntry::KeyRotation { .. }
            | LogEntry::HolderCertified { .. } => true,
            LogEntry::AttributeSubmitted {
                holder, subject, ..
            }
            | LogEntry::Repair {
                holder, subject, ..
            }
            | LogEntry::PledgeMade {
                holder, subject, ..
            } => self.may_read(None, Some(holder), subject),
            LogEntry::Query { bank, subject, .. } | LogEntry::Verdict { bank, subject, .. } => {
                self.may_read(Some(bank), None, subject)
            }
            LogEntry::DisputeFiled { subject, .. } => self.about(subject),
            LogEntry::SubjectBound { party, subject, .. }
            | LogEntry::PseudonymLookup { party, subject, .. } => {
                self.is(party) || self.about(subject)
            }
            LogEntry::DisputeAnswered { holder, .. } => self.is(holder),
            _ => false,
        }
    }
}

#[utoipa::path(
    operation_id = "audit_inclusion",
    get,
    path = "/v1/audit/proof/inclusion",
    tag = "audit",
    params(InclusionQuery),
    responses(
        (status = 200, description = "inclusion proof of index in size", body = ProofBody),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("any registered party")))
)]
pub(crate) async fn audit_inclusion(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<InclusionQuery>,
) -> ApiResult<Json<ProofBody>> {
    s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let p = s
        .log
        .inclusion_proof(q.index, q.size)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(Json(ProofBody {
        proof: hex::encode(p.to_bytes()),
    }))
}

#[utoipa::path(
    operation_id = "audit_consistency",
    get,
    path = "/v1/audit/proof/consistency",
    tag = "audit",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "consistency proof old → new", body = ProofBody),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("any registered party")))
)]
pub(crate) async fn audit_consistency(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<ConsistencyQuery>,
) -> ApiResult<Json<ProofBody>> {
    s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let p = s
        .log
        .consistency_proof(q.old, q.new)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(Json(ProofBody {
        proof: hex::encode(p.to_bytes()),
    }))
}

/// `GET /v1/anchors`: the public keys a verifier pins (log origin and key, key authority,
/// registered holders). Public information; a bank should compare it with what it was given
/// out of band rather than trust it blindly.
#[utoipa::path(
    operation_id = "audit_anchors",
    get,
    path = "/v1/anchors",
    tag = "none",
    responses(
        (status = 200, description = "the trust anchors (compare the fingerprint out of band)", body = Anchors),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    extensions(("x-credence-role" = json!("none")))
)]
pub(crate) async fn anchors(State(s): State<Arc<ServiceState>>) -> ApiResult<Json<Anchors>> {
    Ok(Json(s.anchors_body().map_err(ApiError::internal)?))
}

impl ServiceState {
    /// The trust anchors as `GET /v1/anchors` and `DIR/anchors.json` give them.
    pub fn anchors_body(&self) -> Result<Anchors, String> {
        let a = self.trust_anchors()?;
        Ok(Anchors {
            origin: a.log.name.clone(),
            log_key: hex::encode(a.log.key.to_bytes()),
            key_authority_key: hex::encode(a.key_authority.to_bytes()),
            witnesses: a.witnesses.iter().map(|w| w.to_vkey()).collect(),
            witness_quorum: a.witness_quorum,
            fingerprint: hex::encode(a.fingerprint()),
            witness: self.witness.as_ref().map(|w| WitnessInfo {
                name: w.name.clone(),
                key: hex::encode(w.key.public().to_bytes()),
                partners: w.partners.iter().map(|p| p.name.clone()).collect(),
            }),
            authorities: a
                .authorities
                .iter()
                .map(|(n, k)| (n.clone(), hex::encode(k.to_bytes())))
                .collect(),
        })
    }

    /// The anchors a verifier of this service pins: its log, its verdict keys, the witnesses
    /// that cosign its checkpoints and their quorum. Constant size: holder keys are learned
    /// from the log.
    pub fn trust_anchors(&self) -> Result<crate::protocols::verdict::TrustAnchors, String> {
        let log = crate::protocols::log::checkpoint::NoteVerifier::log(
            self.log.origin(),
            self.log.public_key(),
        )
        .map_err(|e| e.to_string())?;
        Ok(crate::protocols::verdict::TrustAnchors {
            log,
            service: self.log.public_key(),
            key_authority: self.authority.public_key(),
            witnesses: self.witnesses.iter().map(|w| w.verifier.clone()).collect(),
            witness_quorum: self.witness_quorum,
            authorities: self.authorities.clone(),
        })
    }
}

/// `GET /v1/audit/policies`: every published policy (canonical text and hash).
#[utoipa::path(
    operation_id = "audit_policies",
    get,
    path = "/v1/audit/policies",
    tag = "audit",
    responses(
        (status = 200, description = "published policies", body = Policies),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("any registered party")))
)]
pub(crate) async fn audit_policies(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Policies>> {
    s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let policies = s.published_policies()?;
    Ok(Json(Policies {
        policies: policies
            .iter()
            .map(|p| PublishedPolicy {
                name: p.name.clone(),
                version: p.version,
                hash: hex::encode(p.hash()),
                text: p.canonical().to_string(),
            })
            .collect(),
    }))
}

/// `GET /v1/audit/object?kind=verdict|consent|submission&hash=HEX`: the object the log refers
/// to by hash (a signed verdict with its evidence, a consent token, or a holder's upload:
/// sealed submission ‖ list, or a signed commitment).
#[utoipa::path(
    operation_id = "audit_object",
    get,
    path = "/v1/audit/object",
    tag = "audit",
    params(ObjectQuery),
    responses(
        (status = 200, description = "the object's canonical bytes", body = ObjectBytes),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 404, description = "unknown policy, object or application", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("any registered party (what concerns others: auditors only)")))
)]
pub(crate) async fn audit_object(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<ObjectQuery>,
) -> ApiResult<Json<ObjectBytes>> {
    let caller = s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let reader = LogReader::of(&s, &caller)?;
    let hash: [u8; 32] = crate::protocols::request::parse_hex(&q.hash)
        .ok_or_else(|| ApiError::bad("hash: expected 64 hex digits"))?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, format!("no {} {}", q.kind, q.hash));
    // Another party's object answers exactly as a missing one: its existence is not revealed.
    let hidden = |ok: bool, bytes: Vec<u8>| if ok { Ok(Some(bytes)) } else { Ok(None) };
    let bytes: Result<Option<Vec<u8>>, crate::store::StoreError> = match q.kind.as_str() {
        "verdict" => match s
            .store
            .get(Table::Verdicts, &hash)
            .map_err(ApiError::internal)?
        {
            Some(b) => {
                let v = SignedVerdict::from_bytes(&b).map_err(ApiError::internal)?;
                let bank = s
                    .store
                    .get(Table::Meta, &verdict_bank_key(&hash))
                    .map_err(ApiError::internal)?
                    .and_then(|p| PartyId::new(&String::from_utf8_lossy(&p)).ok());
                hidden(reader.may_read(bank.as_ref(), None, &v.verdict.subject), b)
            }
            None => Ok(None),
        },
        "consent" => match s
            .store
            .get(Table::Consents, &hash)
            .map_err(ApiError::internal)?
        {
            Some(b) => {
                let c = crate::protocols::consent::SignedConsent::from_bytes(&b)
                    .map_err(ApiError::internal)?;
                hidden(
                    reader.may_read(Some(&c.consent.bank), None, &c.consent.subject),
                    b,
                )
            }
            None => Ok(None),
        },
        "submission" => {
            let key = s
                .store
                .get(Table::Meta, &content_hash_key(&hash))
                .map_err(ApiError::internal)?
                .ok_or_else(not_found)?;
            let v = s
                .store
                .get(Table::Submissions, &key)
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal("dangling content index"))?;
            if let Some((record, _, _)) = decode_sealed(&v) {
                let sub = &record.submission.submission;
                hidden(
                    reader.may_read(None, Some(&sub.holder), &sub.subject),
                    record.to_bytes(),
                )
            } else if let Some((signed, _)) = decode_committed(&v) {
                let c = &signed.commitment.context;
                hidden(
                    reader.may_read(None, Some(&c.holder), &c.subject),
                    signed.to_bytes(),
                )
            } else {
                return Err(ApiError::internal("corrupt submission"));
            }
        }
        other => {
            return Err(ApiError::bad(format!(
                "kind `{other}`: expected verdict, consent or submission"
            )))
        }
    };
    let bytes = bytes.map_err(ApiError::internal)?.ok_or_else(not_found)?;
    Ok(Json(ObjectBytes {
        bytes: hex::encode(bytes),
    }))
}

/// `GET /v1/audit/keys?parties=a,b`: the parties' `PartyRegistered` entries with inclusion
/// proofs under a cosigned checkpoint — how a subject's proof package (and anyone) carries
/// holder keys that a verifier checks against the log alone.
#[utoipa::path(
    operation_id = "audit_keys",
    get,
    path = "/v1/audit/keys",
    tag = "audit",
    params(KeysQuery),
    responses(
        (status = 200, description = "registrations with inclusion proofs under a cosigned checkpoint", body = KeyEvidenceBody),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 404, description = "a party is not registered in the log", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody),
        (status = 503, description = "FHE queue full or witness quorum not reached: retry later", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("any registered party")))
)]
pub(crate) async fn audit_keys(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<KeysQuery>,
) -> ApiResult<Json<KeyEvidenceBody>> {
    s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let mut parties = Vec::new();
    for p in q.parties.split(',').filter(|p| !p.is_empty()) {
        parties.push(PartyId::new(p).map_err(|e| ApiError::bad(format!("parties: {e}")))?);
    }
    if parties.len() > crate::protocols::keys::MAX_REGISTRATIONS {
        return Err(ApiError::bad(format!(
            "parties: at most {} per request",
            crate::protocols::keys::MAX_REGISTRATIONS
        )));
    }
    parties.sort();
    parties.dedup();
    let (cp, _) = s.cosigned_checkpoint().await?;
    let evidence = s.key_evidence(&parties, cp.checkpoint.size)?;
    Ok(Json(KeyEvidenceBody {
        checkpoint: cp.to_text(),
        evidence: hex::encode(evidence.to_bytes()),
    }))
}
