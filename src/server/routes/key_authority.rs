//! The key authority's route: it logs its refusals through the service.

use crate::key_authority::Refusal;
use crate::protocols::log::entry::LogEntry;
use crate::protocols::signing::Role;
use crate::server::api::*;
use crate::server::error::ErrorBody;
use crate::server::error::{json_body, ApiError, ApiResult};
use crate::server::state::ServiceState;
use crate::store::Batch;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use std::sync::Arc;

/// `POST /v1/key-authority/refusals`: logs a `DecryptionRefused` entry for a query the key
/// authority refused to decide. Only the key authority may call it; the reason must be one of
/// its refusal codes and the index one the log holds.
#[utoipa::path(
    operation_id = "key_authority_refusal",
    post,
    path = "/v1/key-authority/refusals",
    tag = "key-authority",
    request_body = RefusalReport,
    responses(
        (status = 200, description = "logged", body = RefusalLogged),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("key-authority")))
)]
pub(crate) async fn refusal(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<RefusalLogged>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::KeyAuthority])?;
    // The key authority this service calls, registered under its own name; not any party the
    // operator gave a key-authority key.
    if caller.party.as_str() != crate::key_authority::PARTY {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            format!(
                "only the party `{}` logs refusals",
                crate::key_authority::PARTY
            ),
        ));
    }
    let req: RefusalReport = json_body(&body)?;
    let Some(reason) = Refusal::CODES.iter().find(|c| **c == req.reason) else {
        return Err(ApiError::bad(format!(
            "reason: expected one of {}",
            Refusal::CODES.join(", ")
        )));
    };
    let size = s.log.size();
    if req.query_index >= size {
        return Err(ApiError::bad(format!(
            "query_index: {} is beyond the log ({size} entries)",
            req.query_index
        )));
    }
    let index = s.append(
        &[LogEntry::DecryptionRefused {
            query_index: req.query_index,
            reason: reason.to_string(),
            salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
        }],
        Batch::new(),
    )?[0];
    Ok(Json(RefusalLogged { index }))
}
