//! Operator routes: register parties, publish policies.

use crate::circuits::policy::Policy;
use crate::protocols::log::entry::LogEntry;
use crate::protocols::names::PartyId;
use crate::protocols::signing::{PublicKey, Role};
use crate::server::api::*;
use crate::server::auth::Authenticator;
use crate::server::error::ErrorBody;
use crate::server::error::{json_body, ApiError, ApiResult};
use crate::server::records::*;
use crate::server::state::ServiceState;
use crate::server::subjects::*;
use crate::store::{Batch, Table};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use std::sync::Arc;

pub(crate) fn parse_role(s: &str) -> ApiResult<Role> {
    Ok(match s {
        "holder" => Role::Holder,
        "bank" => Role::Bank,
        "subject" => Role::Subject,
        "witness" => Role::Witness,
        "key-authority" => Role::KeyAuthority,
        "operator" => Role::Operator,
        "auditor" => Role::Auditor,
        other => {
            return Err(ApiError::bad(format!(
                "unknown role `{other}` (holder, bank, subject, witness, auditor, key-authority, operator)"
            )))
        }
    })
}

#[utoipa::path(
    operation_id = "operator_register_party",
    post,
    path = "/v1/operator/parties",
    tag = "operator",
    request_body = RegisterParty,
    responses(
        (status = 200, description = "registered", body = Registered),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 409, description = "already exists or superseded", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("operator")))
)]
pub(crate) async fn register_party(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Registered>> {
    s.authenticate(&headers, &method, &uri, &body, &[Role::Operator])?;
    let req: RegisterParty = json_body(&body)?;
    let party = PartyId::new(&req.party).map_err(|e| ApiError::bad(format!("party: {e}")))?;
    let role = parse_role(&req.role)?;
    let bytes: [u8; 32] = crate::protocols::request::parse_hex(&req.key)
        .ok_or_else(|| ApiError::bad("key: expected 64 hex digits"))?;
    let key = PublicKey::from_bytes(role, &bytes)
        .map_err(|_| ApiError::bad("key: not a valid Ed25519 public key"))?;
    let mut batch = Batch::new();
    Authenticator::register(&mut batch, &party, &key);
    let mut certified = false;
    let mut entries = vec![LogEntry::PartyRegistered {
        party: party.clone(),
        key,
    }];
    if role == Role::Subject {
        let (Some(subject), Some(sealing)) = (&req.subject, &req.sealing_key) else {
            return Err(ApiError::bad(
                "a subject party needs `subject` (kind, id) and `sealing_key` (64 hex digits)",
            ));
        };
        let (_, p) = subject_of(&s, subject)?;
        let sealing: [u8; 32] = crate::protocols::request::parse_hex(sealing)
            .ok_or_else(|| ApiError::bad("sealing_key: expected 64 hex digits"))?;
        crate::protocols::seal::SealingPublicKey::from_bytes_checked(sealing)
            .map_err(|e| ApiError::bad(format!("sealing_key: {e}")))?;
        bind(&mut batch, &party, &p, sealing);
        // The binding is logged, so that verifiers check consents against the key bound to
        // the pseudonym and the subject can check its own binding.
        entries.push(LogEntry::SubjectBound {
            party: party.clone(),
            subject: p,
            key,
            sealing_key: sealing,
            salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
        });
        batch.put(Table::Meta, bound_key(&party), Vec::new());
    } else if role == Role::Holder && !s.authorities.is_empty() {
        let (Some(authority), Some(certificate)) = (&req.authority, &req.certificate) else {
            return Err(ApiError::bad(
                "a holder needs `authority` and `certificate`: its authority root's signature over holder-certificate/v1 (credence authority certify)",
            ));
        };
        entries.push(certified_entry(&s, &party, key, authority, certificate)?);
        certified = true;
    }
    if !certified && (req.authority.is_some() || req.certificate.is_some()) {
        return Err(ApiError::bad(
            "`authority` and `certificate` are only for holders, where the anchors pin authority roots",
        ));
    }
    if role != Role::Subject && (req.subject.is_some() || req.sealing_key.is_some()) {
        return Err(ApiError::bad(
            "`subject` and `sealing_key` are only for parties of role subject",
        ));
    }
    let (idx, ()) = s.append_with(|base| {
        batch.put(
            Table::Meta,
            registration_key(&party),
            base.to_be_bytes().to_vec(),
        );
        if certified {
            batch.put(
                Table::Meta,
                certificate_key(&party),
                (base + 1).to_be_bytes().to_vec(),
            );
        }
        Ok((entries, batch, ()))
    })?;
    Ok(Json(Registered {
        party: party.to_string(),
        log_index: idx[0],
    }))
}

/// The `HolderCertified` entry for `party`'s `key`, once `certificate` (hex of the root's
/// signature over `holder-certificate/v1`) verifies under the root this service pins for
/// `authority`.
fn certified_entry(
    s: &ServiceState,
    party: &PartyId,
    key: PublicKey,
    authority: &str,
    certificate: &str,
) -> ApiResult<LogEntry> {
    let signature: [u8; 64] = hex::decode(certificate)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::bad("certificate: expected 128 hex digits"))?;
    let signature = crate::protocols::signing::Signature(signature);
    let anchors = s.trust_anchors().map_err(ApiError::internal)?;
    crate::protocols::keys::HolderCertificate {
        authority: authority.to_string(),
        holder: party.clone(),
        key,
    }
    .verify(&signature, &anchors)
    .map_err(|e| ApiError::bad(format!("certificate: {e}")))?;
    Ok(LogEntry::HolderCertified {
        holder: party.clone(),
        key,
        authority: authority.to_string(),
        signature,
    })
}

#[utoipa::path(
    operation_id = "operator_certify_holder",
    post,
    path = "/v1/operator/certificates",
    tag = "operator",
    request_body = CertifyHolder,
    responses(
        (status = 200, description = "certificate logged", body = Registered),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 404, description = "no such holder", body = ErrorBody),
        (status = 409, description = "already exists or superseded", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("operator")))
)]
/// Logs the certificate of a holder registered before this service pinned authority roots
/// (such a holder may not act until it is certified).
pub(crate) async fn certify_holder(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Registered>> {
    s.authenticate(&headers, &method, &uri, &body, &[Role::Operator])?;
    let req: CertifyHolder = json_body(&body)?;
    let party = PartyId::new(&req.party).map_err(|e| ApiError::bad(format!("party: {e}")))?;
    if s.authorities.is_empty() {
        return Err(ApiError::bad(
            "this service pins no authority roots: there is nothing to certify against",
        ));
    }
    let key = match s.auth.key_of(&party).map_err(ApiError::internal)? {
        Some(k) if k.role() == Role::Holder => k,
        _ => {
            return Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                format!("`{party}` is not a registered holder"),
            ))
        }
    };
    let entry = certified_entry(&s, &party, key, &req.authority, &req.certificate)?;
    // A holder whose logged certificate still verifies under the pinned roots is certified
    // once; one whose certificate no longer does (its root was replaced) is certified anew.
    if s.certified_holder(&party)?.is_some() {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("`{party}` is already certified"),
        ));
    }
    let marker = s
        .store
        .get(Table::Meta, &certificate_key(&party))
        .map_err(ApiError::internal)?;
    let (idx, ()) = s.append_with(|base| {
        // Checked under the log head: two concurrent certifications log one entry.
        if s.store
            .get(Table::Meta, &certificate_key(&party))
            .map_err(ApiError::internal)?
            != marker
        {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                format!("`{party}` was certified meanwhile"),
            ));
        }
        let mut batch = Batch::new();
        batch.put(
            Table::Meta,
            certificate_key(&party),
            base.to_be_bytes().to_vec(),
        );
        Ok((vec![entry], batch, ()))
    })?;
    Ok(Json(Registered {
        party: party.to_string(),
        log_index: idx[0],
    }))
}

#[utoipa::path(
    operation_id = "operator_publish_policy",
    post,
    path = "/v1/operator/policies",
    tag = "operator",
    request_body(content = String, content_type = "text/plain", description = "the policy text"),
    responses(
        (status = 200, description = "published", body = Published),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 409, description = "already exists or superseded", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("operator")))
)]
pub(crate) async fn publish_policy(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Published>> {
    s.authenticate(&headers, &method, &uri, &body, &[Role::Operator])?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad("policy text is not UTF-8"))?;
    let policy = Policy::parse(text, &s.catalog).map_err(|e| ApiError::bad(e.to_string()))?;
    // Everyone else (auditors, a restarted service) parses the published canonical text; the
    // service must evaluate exactly that policy, or a replayed FHE evaluation would differ.
    let policy = Policy::parse(policy.canonical(), &s.catalog).map_err(ApiError::internal)?;
    let mut batch = Batch::new();
    batch.put(
        Table::Meta,
        policy_key(&policy.name),
        policy.canonical().as_bytes().to_vec(),
    );
    let idx = s.append(
        &[LogEntry::PolicyPublished {
            policy: policy.name.clone(),
            version: policy.version,
            policy_hash: policy.hash(),
        }],
        batch,
    )?;
    let hash = policy.hash();
    s.policies
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(policy.name.clone(), policy);
    Ok(Json(Published {
        policy_hash: hex::encode(hash),
        log_index: idx[0],
    }))
}
