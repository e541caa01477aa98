//! What the store says about a subject: identifiers and pseudonyms, party bindings, consent,
//! the latest records, open disputes and listing notices.

use crate::circuits::policy::Policy;
use crate::fhe::engine::StoredRecord;
use crate::fhe::SealedRecord;
use crate::protocols::consent::SignedConsent;
use crate::protocols::identifiers::{SubjectId, SubjectKind};
use crate::protocols::log::entry::LogEntry;
use crate::protocols::log::hash::Hash;
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::seal::SealingPublicKey;
use crate::protocols::signing::{PublicKey, Role};
use crate::server::api::*;
use crate::server::error::{ApiError, ApiResult};
use crate::server::records::*;
use crate::server::state::ServiceState;
use crate::store::{prefix_range, Batch, Table};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::collections::BTreeMap;

pub(crate) fn subject_of(s: &ServiceState, r: &SubjectRef) -> ApiResult<(SubjectId, Pseudonym)> {
    let kind = match r.kind.as_str() {
        "enterprise" => SubjectKind::Enterprise,
        "person" => SubjectKind::Person,
        other => {
            return Err(ApiError::bad(format!(
                "subject kind `{other}`: expected enterprise or person"
            )))
        }
    };
    let id = SubjectId::parse(kind, &r.id).map_err(|e| ApiError::bad(format!("subject: {e}")))?;
    let p = s.pseudonyms.pseudonym(&id);
    Ok((id, p))
}

/// The log index of the latest sealed record carrying `attribute` of `subject`, if any.
pub(crate) fn latest_sealed_index(
    s: &ServiceState,
    subject: &Pseudonym,
    attribute: &str,
) -> ApiResult<Option<u64>> {
    let Some(sub_key) = s
        .store
        .get(
            Table::SubjectAttributes,
            &sealed_index_key(subject, attribute),
        )
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    let v = s
        .store
        .get(Table::Submissions, &sub_key)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("dangling submission index"))?;
    let (_, _, index) =
        decode_sealed(&v).ok_or_else(|| ApiError::internal("corrupt submission"))?;
    Ok(Some(index))
}

impl ServiceState {
    /// The latest sealed record per attribute of `policy` for `subject`, each record once, in
    /// log order (so the engine, reading an attribute from the latest record that carries it,
    /// reads exactly these).
    pub(crate) fn latest_sealed(
        &self,
        subject: &Pseudonym,
        policy: &Policy,
    ) -> ApiResult<Vec<(SealedRecord, StoredRecord)>> {
        let mut by_index: BTreeMap<u64, (SealedRecord, StoredRecord)> = BTreeMap::new();
        for (a, ..) in &policy.reads {
            let Some(sub_key) = self
                .store
                .get(
                    Table::SubjectAttributes,
                    &sealed_index_key(subject, a.as_str()),
                )
                .map_err(ApiError::internal)?
            else {
                continue;
            };
            let v = self
                .store
                .get(Table::Submissions, &sub_key)
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal("dangling submission index"))?;
            let (record, stored, index) =
                decode_sealed(&v).ok_or_else(|| ApiError::internal("corrupt submission"))?;
            by_index.insert(index, (record, stored));
        }
        Ok(by_index.into_values().collect())
    }
}

/// A bank's question, resolved: pseudonym, published policy, day, checked consent.
pub(crate) struct Asked {
    pub(crate) subject: Pseudonym,
    pub(crate) policy: Policy,
    pub(crate) day: u32,
    pub(crate) consent: Option<crate::protocols::consent::SignedConsent>,
    /// The bank's signature over exactly this question, checked (logged in the `Query` entry).
    pub(crate) request: crate::protocols::query::RequestSignature,
}

impl ServiceState {
    /// Resolves and checks the question part of a bank request (both paths): the subject's
    /// identifier (400), the published policy (404), the purpose and consent (400/403).
    pub(crate) fn asked(&self, bank: &PartyId, q: &BankQuery) -> ApiResult<Asked> {
        let (id, subject) = subject_of(self, &q.subject)?;
        let policy = self.published_policy(&q.policy)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no published policy `{}`", q.policy),
            )
        })?;
        let day = q.day.unwrap_or((now() / 86_400) as u32);
        crate::protocols::question::check_day("day", day).map_err(ApiError::bad)?;
        let consent = check_consent(
            self,
            bank,
            &id,
            &subject,
            &policy.hash(),
            &q.purpose,
            day,
            q.consent.as_deref(),
        )?;
        let request = self.signed_request(
            bank,
            &subject,
            &policy.hash(),
            day,
            &q.purpose,
            consent.as_ref().map(|c| c.hash()),
            None,
            q.request.as_ref(),
        )?;
        self.count_query(bank, &subject)?;
        Ok(Asked {
            subject,
            policy,
            day,
            consent,
            request,
        })
    }

    /// Checks a bank's signed request over the question this service is about to log (or
    /// forward to `region`): the statement is rebuilt here from this service's origin and the
    /// resolved question, and verified under the bank's registered key (400 naming `request`
    /// otherwise). Whether the nonce was used before is checked under the append lock
    /// ([`request_nonce_key`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn signed_request(
        &self,
        bank: &PartyId,
        subject: &Pseudonym,
        policy_hash: &Hash,
        day: u32,
        purpose: &str,
        consent_hash: Option<Hash>,
        region: Option<&str>,
        sent: Option<&SignedRequestBody>,
    ) -> ApiResult<crate::protocols::query::RequestSignature> {
        use crate::protocols::query::{QueryRequest, RequestSignature};
        let sent = sent.ok_or_else(|| {
            ApiError::bad(
                "request: missing — sign the question (query-request/v1: origin, bank, subject pseudonym, policy hash, day, purpose, consent hash, region, nonce) with your key and send {nonce, signature}",
            )
        })?;
        let nonce: [u8; 16] = crate::protocols::request::parse_hex(&sent.nonce)
            .ok_or_else(|| ApiError::bad("request.nonce: expected 32 hex digits"))?;
        let signature = crate::protocols::request::parse_signature(&sent.signature)
            .ok_or_else(|| ApiError::bad("request.signature: expected 128 hex digits"))?;
        let statement = QueryRequest {
            origin: self.log.origin().to_string(),
            bank: bank.clone(),
            subject: *subject,
            policy_hash: *policy_hash,
            as_of_day: day,
            purpose: purpose.to_string(),
            consent_hash,
            region: region.map(str::to_string),
            nonce,
        };
        let key = self
            .auth
            .key_of(bank)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal("authenticated bank without a key"))?;
        statement.verify(&key, &signature).map_err(|_| {
            ApiError::bad(
                "request.signature: does not verify under your key over this question (this service's origin, you, the subject's pseudonym here, the published policy's hash, the day, the purpose, the consent's hash, the region to forward to if any, the nonce)",
            )
        })?;
        Ok(RequestSignature { nonce, signature })
    }

    /// Refuses (409) a signed request whose nonce this bank already had logged; call under
    /// the append lock and record the nonce in the same batch ([`request_nonce_key`]).
    pub(crate) fn fresh_request(
        &self,
        bank: &PartyId,
        request: &crate::protocols::query::RequestSignature,
        batch: &mut Batch,
    ) -> ApiResult<()> {
        let key = request_nonce_key(bank, &request.nonce);
        if self
            .store
            .get(Table::Meta, &key)
            .map_err(ApiError::internal)?
            .is_some()
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "request: this signed request was already logged (its nonce is used): sign each question afresh",
            ));
        }
        batch.insert(Table::Meta, key, Vec::new());
        Ok(())
    }

    /// Records a signed request's nonce as used now, in its own commit (409 if it was): for a
    /// question forwarded to a partner, before the partner is asked, so that one signed
    /// request is asked there once however many times it is sent here at the same moment.
    pub(crate) fn reserve_request(
        &self,
        bank: &PartyId,
        request: &crate::protocols::query::RequestSignature,
    ) -> ApiResult<()> {
        let mut batch = Batch::new();
        self.fresh_request(bank, request, &mut batch)?;
        match self.store.commit(&batch) {
            Ok(()) => Ok(()),
            Err(crate::store::StoreError::Exists { .. }) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "request: this signed request was already used (its nonce is taken): sign each question afresh",
            )),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    /// Releases a nonce [`ServiceState::reserve_request`] took, for a forward that failed
    /// (nothing was logged; the bank may send the same signed request again).
    pub(crate) fn release_request(
        &self,
        bank: &PartyId,
        request: &crate::protocols::query::RequestSignature,
    ) {
        let mut batch = Batch::new();
        batch.delete(Table::Meta, request_nonce_key(bank, &request.nonce));
        if let Err(e) = self.store.commit(&batch) {
            tracing::warn!(error = %e, "a forwarded request's nonce could not be released");
        }
    }
}

/// The Meta key recording that `bank` had a question with `nonce` logged.
pub(crate) fn request_nonce_key(bank: &PartyId, nonce: &[u8; 16]) -> Vec<u8> {
    let mut k = b"asked/".to_vec();
    k.extend_from_slice(bank.as_str().as_bytes());
    k.push(0);
    k.extend_from_slice(nonce);
    k
}

/// Binds a subject party to its pseudonym and sealing key (one party per subject).
pub(crate) fn bind(batch: &mut Batch, party: &PartyId, subject: &Pseudonym, sealing: [u8; 32]) {
    let mut v = pseudonym_bytes(subject);
    v.extend_from_slice(&sealing);
    batch.insert(Table::Subjects, subject_party_key(party), v);
    batch.insert(
        Table::Subjects,
        subject_binding_key(subject),
        party.as_str().as_bytes().to_vec(),
    );
}

/// Reads a subject party's row as [`bind`] writes it: the pseudonym, then the sealing key.
fn subject_row(v: &[u8]) -> Option<(Pseudonym, [u8; 32])> {
    Some((pseudonym_from_bytes(v)?, v.get(33..65)?.try_into().ok()?))
}

/// The pseudonym and sealing key bound to a subject party.
pub(crate) fn of_party(
    s: &ServiceState,
    party: &PartyId,
) -> ApiResult<Option<(Pseudonym, SealingPublicKey)>> {
    let Some(v) = s
        .store
        .get(Table::Subjects, &subject_party_key(party))
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    let (p, k) = subject_row(&v).ok_or_else(|| ApiError::internal("corrupt subject"))?;
    Ok(Some((p, SealingPublicKey::from_bytes(k))))
}

/// The party registered for a subject, with its signing and sealing keys.
pub(crate) fn party_of(
    s: &ServiceState,
    subject: &Pseudonym,
) -> ApiResult<Option<(PartyId, PublicKey, SealingPublicKey)>> {
    let Some(v) = s
        .store
        .get(Table::Subjects, &subject_binding_key(subject))
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
pub(crate) fn check_purpose(purpose: &str) -> ApiResult<()> {
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
pub(crate) fn check_consent(
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
pub(crate) fn caller_subject(
    s: &ServiceState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<(crate::server::auth::Caller, Pseudonym)> {
    let caller = s.authenticate(headers, method, uri, body, &[Role::Subject])?;
    let subject = of_party(s, &caller.party)?
        .map(|(p, _)| p)
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "caller is not bound to a subject"))?;
    Ok((caller, subject))
}

/// Open disputes about `subject` on attributes `policy` reads: `(dispute index, attribute)`.
/// Bank answers list them, so a verdict resting on disputed data is marked as such.
pub(crate) fn open_on(
    s: &ServiceState,
    subject: &crate::protocols::pseudonym::Pseudonym,
    policy: &crate::circuits::policy::Policy,
) -> ApiResult<Vec<DisputedInput>> {
    let (from, to) = prefix_range(dispute_subject_prefix(subject).as_bytes());
    let mut out = Vec::new();
    for (k, _) in s
        .store
        .scan(Table::Meta, &from, to.as_deref(), 10_000)
        .map_err(ApiError::internal)?
    {
        let k = String::from_utf8_lossy(&k).into_owned();
        let index: u64 = k
            .rsplit('/')
            .next()
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| ApiError::internal("corrupt dispute index"))?;
        let d = load_dispute(s, index)?;
        let read = policy
            .reads
            .iter()
            .any(|r| Some(r.0.as_str()) == d["attribute"].as_str());
        if d["status"] == "open" && read {
            out.push(DisputedInput {
                dispute_index: index,
                attribute: d["attribute"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    Ok(out)
}

pub(crate) fn load_dispute(s: &ServiceState, index: u64) -> ApiResult<serde_json::Value> {
    let v = s
        .store
        .get(Table::Meta, &dispute_key(index))
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no dispute at log index {index}"),
            )
        })?;
    serde_json::from_slice(&v).map_err(ApiError::internal)
}

/// The listing notices about `subject` (for its records view).
pub(crate) fn notices(s: &ServiceState, subject: &Pseudonym) -> ApiResult<Vec<serde_json::Value>> {
    let (from, to) = prefix_range(notice_prefix(subject).as_bytes());
    s.store
        .scan(Table::Meta, &from, to.as_deref(), 1000)
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|(_, v)| serde_json::from_slice(&v).map_err(ApiError::internal))
        .collect()
}

impl ServiceState {
    /// Logs the `SubjectBound` entry of every subject party registered before bindings were
    /// logged (a data directory from an earlier version), so that the key authority and the
    /// audit find every subject's binding in the log; `serve` runs it at start. Returns how
    /// many it logged.
    pub fn log_missing_bindings(&self) -> Result<usize, String> {
        log_missing_bindings(self)
    }
}

fn log_missing_bindings(s: &ServiceState) -> Result<usize, String> {
    let (from, to) = prefix_range(b"party/");
    let rows = s
        .store
        .scan(Table::Subjects, &from, to.as_deref(), 10_000_000)
        .map_err(|e| e.to_string())?;
    let mut logged = 0;
    for (k, v) in rows {
        let party = std::str::from_utf8(&k[b"party/".len()..])
            .ok()
            .and_then(|p| PartyId::new(p).ok())
            .ok_or("corrupt subject party")?;
        if s.store
            .get(Table::Meta, &bound_key(&party))
            .map_err(|e| e.to_string())?
            .is_some()
        {
            continue;
        }
        let (subject, sealing_key) = subject_row(&v).ok_or("corrupt subject")?;
        let Some(key) = s.auth.key_of(&party).map_err(|e| e.to_string())? else {
            continue;
        };
        let mut batch = Batch::new();
        batch.put(Table::Meta, bound_key(&party), Vec::new());
        s.log
            .append(
                &[LogEntry::SubjectBound {
                    party: party.clone(),
                    subject,
                    key,
                    sealing_key,
                    salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
                }],
                now(),
                batch,
            )
            .map_err(|e| e.to_string())?;
        tracing::info!(%party, "logged the binding of a subject registered before bindings were logged");
        logged += 1;
    }
    Ok(logged)
}
