//! API errors. Every error response of every route is `{"error": {"code", "message"}}`: a
//! stable, machine-readable [`ErrorCode`] and a message for a person that says what was wrong.
//! Internal errors are logged with their cause and answered `internal` / "internal error": no
//! text from a dependency reaches a client.

use crate::server::auth::AuthError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The stable error codes (the OpenAPI document lists them; clients branch on these, never on
/// the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: malformed or invalid input; the message says which field and why.
    InvalidRequest,
    /// 401: unsigned, badly signed, unknown party, stale time or replayed nonce.
    Unauthenticated,
    /// 403: wrong role, another party's data, or no valid consent.
    Forbidden,
    /// 404: unknown policy, object, dispute or application.
    NotFound,
    /// 404: no route has this path.
    NoSuchRoute,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 409: already exists or superseded.
    Conflict,
    /// 409 (witnessing): the checkpoint contradicts one already cosigned for that log; an
    /// alarm keeps both.
    Equivocation,
    /// 413: the body is larger than the route accepts.
    PayloadTooLarge,
    /// 415: wrong content type.
    UnsupportedMediaType,
    /// 429: too many requests.
    RateLimited,
    /// 500: the service failed; the cause is in its log, not in the answer.
    Internal,
    /// 502: a partner region or witness answered wrongly or not at all.
    BadGateway,
    /// 503: the FHE queue is full or the witness quorum is not reached yet; retry later.
    Unavailable,
}

impl ErrorCode {
    /// The code a status gets unless a handler says otherwise.
    pub fn for_status(status: StatusCode) -> ErrorCode {
        match status.as_u16() {
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            409 => ErrorCode::Conflict,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            429 => ErrorCode::RateLimited,
            502 | 504 => ErrorCode::BadGateway,
            503 => ErrorCode::Unavailable,
            s if s >= 500 => ErrorCode::Internal,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code.
    pub code: ErrorCode,
    /// What was wrong, for a person.
    pub message: String,
}

/// An API error: status, code and a message that says what was wrong.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: ErrorCode,
    /// What was wrong.
    pub message: String,
}

impl ApiError {
    /// An error with the status's default code.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: ErrorCode::for_status(status),
            message: message.into(),
        }
    }
    /// 400 `invalid_request`.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// 500 `internal`: the cause is logged, the client reads "internal error".
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
    /// The same error with another code.
    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return ApiError::internal(e);
        }
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

/// Parses a JSON body (400 naming what is wrong).
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("malformed JSON body: {e}")))
}

/// Rewrites an error response that is not already in the typed shape (axum's own rejections:
/// a query string that does not parse, a body over the limit, a wrong method) into
/// `{"error": {"code", "message"}}`. 4xx keep axum's text, which describes the client's input;
/// 5xx never carry text from a dependency.
pub(crate) async fn typed_errors(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let message = if status.is_server_error() {
        tracing::error!(status = status.as_u16(), body = %String::from_utf8_lossy(&text), "untyped server error");
        "internal error".to_string()
    } else if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        String::from_utf8_lossy(&text).into_owned()
    };
    let mut out = ApiError::new(status, message).into_response();
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}
