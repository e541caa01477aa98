//! Operations endpoints: liveness, readiness, metrics.

use crate::server::api::{FhePart, FhePartQuery, FheParts};
use crate::server::error::{ApiError, ErrorBody};
use crate::server::state::ServiceState;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `GET /healthz`: the process answers.
#[utoipa::path(operation_id = "ops_healthz", get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "alive", body = String, content_type = "text/plain")))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /metrics`: the Prometheus text format; gauges read at scrape time. Only for a scraper
/// presenting the metrics token (`Authorization: Bearer`, the token in `DIR/metrics.token`):
/// when evaluations run, for which policy and at what cost is not for every caller to watch.
#[utoipa::path(operation_id = "ops_metrics_text", get, path = "/metrics", tag = "operations",
    security(("metrics_token" = [])),
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"),
              (status = 401, description = "no or wrong metrics token (`Authorization: Bearer`)", body = ErrorBody),
              (status = 404, description = "metrics are off (no token configured)", body = ErrorBody)))]
pub(crate) async fn metrics_text(
    State(s): State<Arc<ServiceState>>,
    headers: axum::http::HeaderMap,
) -> Result<String, ApiError> {
    let Some(token) = &s.metrics_token else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "metrics are off: no metrics token is configured",
        ));
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !token.admits(presented) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "GET /metrics needs `Authorization: Bearer <token>` with the token in the service's DIR/metrics.token",
        ));
    }
    let m = &s.metrics;
    m.log_size.set(s.log.size() as i64);
    let (size, time) = s.log.checkpoint_position();
    m.log_unchecked
        .set(s.log.size().saturating_sub(size) as i64);
    let now = crate::server::records::now();
    m.checkpoint_age.set(if time == 0 {
        0.0
    } else {
        now.saturating_sub(time) as f64
    });
    let (queued, running) = s.engine.load();
    m.fhe_queue_depth.set(queued as i64);
    m.fhe_in_flight.set(running as i64);
    // One scrape at a time turns the engine's totals into counter increments.
    static SYNC: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = SYNC.lock().unwrap_or_else(|e| e.into_inner());
    // The engine that evaluates: the key authority's (where it evaluates once), and the
    // service's own (where it evaluates).
    let (own, authority) = (
        s.engine.block_cache_stats(),
        s.authority.block_cache_stats(),
    );
    let cache = crate::fhe::engine::BlockCacheStats {
        hits: own.hits + authority.hits,
        misses: own.misses + authority.misses,
        bytes: own.bytes + authority.bytes,
        ..Default::default()
    };
    m.block_cache_hits
        .inc_by(cache.hits.saturating_sub(m.block_cache_hits.get()));
    m.block_cache_misses
        .inc_by(cache.misses.saturating_sub(m.block_cache_misses.get()));
    m.block_cache_bytes.set(cache.bytes as i64);
    Ok(m.render())
}

/// `GET /readyz`: 200 once the store answers and the FHE keys are loaded (the engine's public
/// material and the key authority's key), 503 `unavailable` naming what is not ready.
#[utoipa::path(operation_id = "ops_readyz", get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready", body = String, content_type = "text/plain"),
              (status = 503, description = "not ready: the message says what", body = ErrorBody)))]
pub(crate) async fn readyz(State(s): State<Arc<ServiceState>>) -> Result<&'static str, ApiError> {
    let s2 = s.clone();
    let store_ok = tokio::task::spawn_blocking(move || {
        s2.store.get(crate::store::Table::Meta, b"readyz").is_ok()
    })
    .await
    .unwrap_or(false);
    if !store_ok {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store does not answer",
        ));
    }
    if !s.engine.ready() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the FHE keys are not loaded",
        ));
    }
    Ok("ready")
}

/// `GET /v1/fhe/public`: the public FHE material a holder encrypts with (the compact public key
/// and the proof CRS), with SHA3-256 hashes to compare with the ones the operator publishes.
/// Public: no secret is involved, and the server key (which holders do not need) is not served.
#[utoipa::path(operation_id = "ops_fhe_public", get, path = "/v1/fhe/public", tag = "holder", params(FhePartQuery),
    responses(
        (status = 200, description = "without `part`: the parts with sizes and hashes (JSON); with `part`: its bytes, and the header x-credence-sha3-256",
            content((FheParts = "application/json"), (Vec<u8> = "application/octet-stream"))),
        (status = 400, description = "unknown part", body = ErrorBody),
        (status = 500, description = "internal error", body = ErrorBody)))]
pub(crate) async fn fhe_public(
    State(s): State<Arc<ServiceState>>,
    Query(q): Query<FhePartQuery>,
) -> Result<Response, ApiError> {
    let parts = match s.fhe_parts.get() {
        Some(p) => p,
        None => {
            let s2 = s.clone();
            let made = tokio::task::spawn_blocking(move || {
                crate::fhe::keys::encryption_parts(s2.engine.public())
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
            s.fhe_parts.get_or_init(|| made)
        }
    };
    let hash = |b: &[u8]| {
        use sha3::Digest;
        hex::encode(sha3::Sha3_256::digest(b))
    };
    match q.part.as_deref() {
        None => Ok(axum::Json(FheParts {
            parts: parts
                .iter()
                .map(|(name, b)| FhePart {
                    part: name.to_string(),
                    bytes: b.len(),
                    sha3_256: hash(b),
                })
                .collect(),
            parameters: crate::fhe::keys::PARAMETERS.to_string(),
        })
        .into_response()),
        Some(name) => {
            let (_, b) = parts.iter().find(|(n, _)| *n == name).ok_or_else(|| {
                ApiError::bad(format!("part `{name}`: expected public_key or crs"))
            })?;
            Ok((
                [
                    (
                        axum::http::header::CONTENT_TYPE,
                        "application/octet-stream".to_string(),
                    ),
                    (
                        axum::http::HeaderName::from_static("x-credence-sha3-256"),
                        hash(b),
                    ),
                ],
                b.clone(),
            )
                .into_response())
        }
    }
}
