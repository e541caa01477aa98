//! The service process: the HTTP API (axum) with signed requests and role-checked routes, the
//! log, the compute engine's front, and the storage schema. Every write is committed durably,
//! together with its log entries, before the response.
//!
//! The route list lives in one place, [`route_table`]: the router is built from it and a test
//! checks the OpenAPI document ([`openapi`]) against it, so a route cannot be served without
//! being documented (or documented without being served).
//!
//! Layers: [`error`], [`records`] (store schema) and [`api`] (wire types) at the bottom;
//! [`state`] on them; `subjects` and `commitments` (shared checks) on that; `routes/*` (thin
//! handlers by caller) on top; this module assembles the router.

pub mod apart;
pub mod api;
pub mod auth;
pub mod authority;
mod commitments;
pub mod config;
pub mod connections;
pub mod decider;
pub mod error;
pub mod log;
pub mod metrics;
pub mod openapi;
pub mod process;
pub mod records;
pub mod roots;
mod routes;
pub mod state;
mod subjects;

pub use state::{Forward, ServiceParts, ServiceState, Witness};

use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use error::{ApiError, ErrorCode};
use routes::{
    audit, bank, dispute, federation, holder, key_authority, operator, ops, proof, repair, subject,
};
use std::sync::Arc;

/// Largest JSON body.
pub const MAX_JSON_BODY: usize = 64 << 10;
/// Largest sealed-record body (a 16-value proven list is ≈ 20 KB).
pub const MAX_SEALED_BODY: usize = 256 << 10;
/// Largest committed-attributes batch (256 signed commitments with sealed openings, hex).
pub const MAX_BATCH_BODY: usize = 1 << 20;
/// Largest proven-path query (a proof package, hex).
pub const MAX_PROOF_BODY: usize = 1 << 20;
/// Largest policy text.
pub const MAX_POLICY_BODY: usize = 64 << 10;

type Handler = MethodRouter<Arc<ServiceState>>;

/// One route: its path, the methods it answers, the handler (with its body limit).
struct Route {
    path: &'static str,
    methods: &'static [&'static str],
    handler: Handler,
}

fn limited(h: Handler, max: usize) -> Handler {
    h.layer(DefaultBodyLimit::max(max))
}

/// Every route of the service.
fn routes() -> Vec<Route> {
    let r = |path, methods, handler| Route {
        path,
        methods,
        handler,
    };
    vec![
        r(
            "/v1/operator/parties",
            &["post"],
            limited(post(operator::register_party), MAX_JSON_BODY),
        ),
        r(
            "/v1/operator/certificates",
            &["post"],
            limited(post(operator::certify_holder), MAX_JSON_BODY),
        ),
        r(
            "/v1/operator/policies",
            &["post"],
            limited(post(operator::publish_policy), MAX_POLICY_BODY),
        ),
        r(
            "/v1/holder/pseudonym",
            &["post"],
            limited(post(holder::pseudonym), MAX_JSON_BODY),
        ),
        r(
            "/v1/holder/sealed",
            &["post"],
            limited(post(holder::submit_sealed), MAX_SEALED_BODY),
        ),
        r(
            "/v1/holder/committed",
            &["post"],
            limited(post(holder::submit_committed), MAX_BATCH_BODY),
        ),
        r(
            "/v1/holder/listings",
            &["post"],
            limited(post(repair::notice), MAX_JSON_BODY),
        ),
        r("/v1/holder/repairs", &["get"], get(repair::inbox)),
        r(
            "/v1/holder/repairs/decide",
            &["post"],
            limited(post(repair::decide), MAX_BATCH_BODY),
        ),
        r("/v1/holder/disputes", &["get"], get(dispute::inbox)),
        r(
            "/v1/holder/disputes/answer",
            &["post"],
            limited(post(dispute::answer), MAX_BATCH_BODY),
        ),
        r("/v1/holder/pledges", &["get"], get(dispute::pledges)),
        r(
            "/v1/bank/query",
            &["post"],
            limited(post(bank::bank_query), MAX_JSON_BODY),
        ),
        r(
            "/v1/bank/proof",
            &["post"],
            limited(post(proof::query), MAX_PROOF_BODY),
        ),
        r("/v1/bank/receipt", &["get"], get(bank::bank_receipt)),
        r("/v1/subject/records", &["get"], get(subject::records)),
        r("/v1/subject/queries", &["get"], get(subject::queries)),
        r(
            "/v1/subject/repairs",
            &["get", "post"],
            limited(get(repair::mine).post(repair::apply), MAX_JSON_BODY),
        ),
        r(
            "/v1/subject/disputes",
            &["post"],
            limited(post(dispute::file), MAX_JSON_BODY),
        ),
        r(
            "/v1/subject/pledges",
            &["post"],
            limited(post(dispute::pledge), MAX_JSON_BODY),
        ),
        r(
            "/v1/audit/checkpoint",
            &["get"],
            get(audit::audit_checkpoint),
        ),
        r("/v1/audit/entries", &["get"], get(audit::audit_entries)),
        r(
            "/v1/audit/proof/inclusion",
            &["get"],
            get(audit::audit_inclusion),
        ),
        r(
            "/v1/audit/proof/consistency",
            &["get"],
            get(audit::audit_consistency),
        ),
        r("/v1/audit/policies", &["get"], get(audit::audit_policies)),
        r("/v1/audit/object", &["get"], get(audit::audit_object)),
        r("/v1/audit/keys", &["get"], get(audit::audit_keys)),
        r("/v1/audit/alarms", &["get"], get(federation::alarms)),
        r(
            "/v1/witness/cosign",
            &["post"],
            limited(post(federation::cosign), MAX_JSON_BODY),
        ),
        r(
            "/v1/key-authority/refusals",
            &["post"],
            limited(post(key_authority::refusal), MAX_JSON_BODY),
        ),
        r("/v1/anchors", &["get"], get(audit::anchors)),
        r("/v1/fhe/public", &["get"], get(ops::fhe_public)),
        r("/openapi.json", &["get"], get(openapi::document)),
        r("/metrics", &["get"], get(ops::metrics_text)),
        r("/healthz", &["get"], get(ops::healthz)),
        r("/readyz", &["get"], get(ops::readyz)),
    ]
}

/// `(path, method)` of every route, as the router serves them.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    routes()
        .iter()
        .flat_map(|r| r.methods.iter().map(move |m| (r.path, *m)))
        .collect()
}

/// The service's router.
pub fn router(state: Arc<ServiceState>) -> Router {
    let mut router = Router::new();
    for r in routes() {
        router = router.route(r.path, r.handler);
    }
    router
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .fallback(unmatched)
        .layer(axum::middleware::map_response(error::typed_errors))
        .with_state(state)
}

/// Counts and times every response by matched route template, method and status, and logs
/// one line per request (route template, never the path: paths and bodies may carry
/// identifiers, which are never logged).
async fn observe(
    State(s): State<Arc<ServiceState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    // Methods a caller makes up (`FOO /v1/anchors`) share one label: no series at will.
    let method = match req.method().as_str() {
        "GET" => "get",
        "POST" => "post",
        "HEAD" => "head",
        "PUT" => "put",
        "DELETE" => "delete",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let took = started.elapsed();
    let status = res.status().as_u16();
    s.metrics
        .requests
        .with_label_values(&[route.as_str(), method, &status.to_string()])
        .inc();
    s.metrics
        .latency
        .with_label_values(&[route.as_str(), method])
        .observe(took.as_secs_f64());
    if res.status().is_server_error() {
        tracing::warn!(%route, %method, status, ms = took.as_millis() as u64, "request");
    } else {
        tracing::info!(%route, %method, status, ms = took.as_millis() as u64, "request");
    }
    res
}

/// Any path no route matches (counted under one label, so callers cannot create series).
async fn unmatched(State(s): State<Arc<ServiceState>>) -> ApiError {
    s.metrics
        .requests
        .with_label_values(&["unmatched", "any", "404"])
        .inc();
    ApiError::new(StatusCode::NOT_FOUND, "no such route (see /openapi.json)")
        .with_code(ErrorCode::NoSuchRoute)
}
