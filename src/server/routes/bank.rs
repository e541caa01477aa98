//! Bank routes on the sealed path: the query and fresh receipts.

use crate::fhe::engine::StoredRecord;
use crate::key_authority::{refusal_status, DecideRequest};
use crate::protocols::log::entry::LogEntry;
use crate::protocols::log::hash::Hash;
use crate::protocols::signing::Role;
use crate::protocols::verdict::SignedVerdict;
use crate::server::api::*;
use crate::server::authority::ServiceLogView;
use crate::server::error::ErrorBody;
use crate::server::error::{json_body, ApiError, ApiResult};
use crate::server::records::*;
use crate::server::state::ServiceState;
use crate::server::subjects::*;
use crate::store::{Batch, Table};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Json;
use std::sync::Arc;

#[utoipa::path(
    operation_id = "bank_query",
    post,
    path = "/v1/bank/query",
    tag = "bank",
    request_body = BankQuery,
    responses(
        (status = 200, description = "the verdict and its receipt (verify it offline against your own question)", body = VerdictAnswer),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 404, description = "unknown policy, object or application", body = ErrorBody),
        (status = 409, description = "already exists or superseded", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 429, description = "this bank asked about this subject too often today", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody),
        (status = 502, description = "a partner region answered wrongly", body = ErrorBody),
        (status = 503, description = "FHE queue full or witness quorum not reached: retry later", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("bank")))
)]
pub(crate) async fn bank_query(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<VerdictAnswer>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Bank])?;
    let q: BankQuery = json_body(&body)?;
    if let Some(region) = q.region.as_deref().filter(|r| *r != s.log.origin()) {
        return super::federation::forward(&s, &caller.party, &q, region).await;
    }
    let Asked {
        subject,
        policy,
        day,
        consent,
        request,
    } = s.asked(&caller.party, &q)?;
    let permit = s.fhe_permit()?;
    // The inputs are chosen under the append lock, with the query's log position: exactly the
    // latest record per attribute logged before the query (what the auditor recomputes).
    let stage_time = |name: &str, d: std::time::Duration| {
        s.metrics
            .sealed_stage
            .with_label_values(&[name])
            .observe(d.as_secs_f64())
    };
    let stage = |name: &str, t: std::time::Instant| stage_time(name, t.elapsed());
    let t = std::time::Instant::now();
    let (query_idx, records) = s.append_with(|base| {
        let records = s.latest_sealed(&subject, &policy)?;
        // Verifiers take holder keys only from certificates under their pinned roots: a latest
        // record whose holder is not (or no longer) certified would be refused by the key
        // authority after the query was logged, so it is refused here, with nothing logged.
        for (r, _) in &records {
            let holder = &r.submission.submission.holder;
            if s.certified_holder(holder)?.is_none() {
                tracing::warn!(%holder, "a sealed query needs a record of an uncertified holder");
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "a latest sealed record this question needs comes from a holder without a valid certificate from its authority's root; the operator must have it certified first",
                ));
            }
        }
        let mut batch = Batch::new();
        s.fresh_request(&caller.party, &request, &mut batch)?;
        index_for_subject(&mut batch, &subject, base);
        let consent_hash = consent.as_ref().map(|c| c.hash());
        if let Some(c) = &consent {
            batch.put(Table::Consents, c.hash().to_vec(), c.to_bytes());
        }
        Ok((
            vec![LogEntry::Query {
                bank: caller.party.clone(),
                subject,
                policy_hash: policy.hash(),
                as_of_day: day,
                purpose: q.purpose.clone(),
                consent_hash,
                salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
                region: None,
                request: Some(request),
            }],
            batch,
            records,
        ))
    })?;
    let query_idx = query_idx[0];
    stage("log", t);
    let permit = Arc::new(permit);
    let input_hashes: Vec<Hash> = records.iter().map(|(r, _)| r.submission.hash()).collect();
    let stored: Vec<StoredRecord> = records.iter().map(|(_, st)| st.clone()).collect();
    // Evaluated once: by the key authority, from the log up to a checkpoint cosigned now (it
    // covers the query), where it replays every request — it then decides without replaying.
    // Where it replays a sample, here, and it checks a share.
    let by_authority = if s.authority.may_evaluate() {
        let t = std::time::Instant::now();
        let (checkpoint, _) = s.cosigned_checkpoint().await?;
        stage("log", t);
        let t = std::time::Instant::now();
        let (state, held) = (s.clone(), permit.clone());
        let evaluated = tokio::task::spawn_blocking(move || {
            let _permit = held;
            let view = ServiceLogView {
                state: &state,
                checkpoint,
            };
            state.authority.evaluate(&view, query_idx)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(refused)?;
        if let Some(e) = &evaluated {
            timed(&stage_time, "evaluate", e.authority_time, t.elapsed());
        }
        evaluated
    } else {
        None
    };
    let (output, plan) = match by_authority {
        Some(e) => {
            // What the service logs as its evaluation: the inputs it selected itself, and an
            // output that is one.
            if e.evaluated.input_hashes != input_hashes {
                return Err(ApiError::internal(
                    "the key authority evaluated other inputs than the service selected",
                ));
            }
            crate::fhe::engine::read_output(&e.evaluated.output, s.engine.public())
                .map_err(ApiError::internal)?;
            let plan = crate::fhe::engine::Engine::plan_for(&policy, day, &stored)
                .map_err(ApiError::internal)?;
            (e.evaluated.output, plan)
        }
        None => {
            let engine = s.engine.clone();
            let p2 = policy.clone();
            let t = std::time::Instant::now();
            let evaluation =
                tokio::task::spawn_blocking(move || engine.evaluate(&p2, day, &stored))
                    .await
                    .map_err(ApiError::internal)?
                    .map_err(ApiError::internal)?;
            stage("evaluate", t);
            (evaluation.output, evaluation.plan)
        }
    };
    let output_hash = crate::fhe::engine::sha3(&output);
    let t = std::time::Instant::now();
    s.metrics
        .bootstraps
        .with_label_values(&[policy.name.as_str()])
        .inc_by(plan.cost().bootstraps as u64);
    s.metrics
        .evaluations
        .with_label_values(&[policy.name.as_str()])
        .inc();
    let eval_idx = s.append(
        &[LogEntry::Evaluation {
            query_index: query_idx,
            policy_hash: policy.hash(),
            input_hashes,
            output_hash,
            salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
        }],
        Batch::new(),
    )?[0];
    // The key authority decides from the log up to a checkpoint cosigned now (it covers the
    // evaluation): it is handed the query's index and the output, nothing else.
    let (checkpoint, _) = s.cosigned_checkpoint().await?;
    stage("log", t);
    let t = std::time::Instant::now();
    let request = DecideRequest {
        query_index: query_idx,
        output,
    };
    let state = s.clone();
    let decided = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let view = ServiceLogView {
            state: &state,
            checkpoint,
        };
        state.authority.decide(&view, &request)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(refused)?;
    timed(
        &stage_time,
        "key_authority",
        decided.authority_time,
        t.elapsed(),
    );
    let verdict = decided.verdict;
    let t = std::time::Instant::now();
    let idx = s
        .append_with(|dec_idx| {
            let mut batch = Batch::new();
            store_verdict(&mut batch, &verdict, &caller.party, dec_idx + 1);
            index_for_subject(&mut batch, &subject, dec_idx + 1);
            Ok((
                vec![
                    LogEntry::Decryption {
                        evaluation_index: eval_idx,
                        output_hash,
                        salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
                    },
                    LogEntry::Verdict {
                        verdict_hash: verdict.hash(),
                        subject,
                        bank: caller.party.clone(),
                    },
                ],
                batch,
                (),
            ))
        })?
        .0;
    let outcome = verdict.verdict.outcome.into();
    let coverage = coverage_of(&policy, &verdict.verdict.coverage);
    let (receipt, quorum) = s.receipt(verdict, idx[1]).await?;
    stage("log", t);
    let disputed = open_on(&s, &subject, &policy)?;
    Ok(Json(VerdictAnswer {
        outcome,
        coverage,
        rests_on_disputed_data: Some(disputed),
        path: "sealed".into(),
        witness_quorum_met: Some(quorum),
        receipt: hex::encode(receipt.to_bytes()),
        log_indices: QueryIndices {
            query: query_idx,
            evaluation: Some(eval_idx),
            decryption: Some(idx[0]),
            verdict: Some(idx[1]),
            partner_verdict: None,
        },
        bootstraps: Some(plan.cost().bootstraps as u64),
        region: None,
        partner_subject: None,
    }))
}

/// A key authority's refusal as the bank sees it.
fn refused(f: crate::server::decider::DecideFailure) -> ApiError {
    let status =
        StatusCode::from_u16(refusal_status(&f.code)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match status {
        StatusCode::BAD_REQUEST
        | StatusCode::FORBIDDEN
        | StatusCode::TOO_MANY_REQUESTS
        | StatusCode::SERVICE_UNAVAILABLE => ApiError::new(status, f.message),
        _ => ApiError::internal(format!("the key authority refused: {}", f.message)),
    }
}

/// Records a call to the key authority as `stage`: a key authority apart reports its own
/// time, and the rest of the round trip is transport.
fn timed(
    stage_time: &dyn Fn(&str, std::time::Duration),
    stage: &str,
    own: Option<std::time::Duration>,
    elapsed: std::time::Duration,
) {
    match own {
        Some(own) => {
            stage_time(stage, own.min(elapsed));
            stage_time("transport", elapsed.saturating_sub(own));
        }
        None => stage_time(stage, elapsed),
    }
}

/// `GET /v1/bank/receipt?verdict=HASH`: a fresh receipt (current checkpoint, cosigned) for a
/// verdict issued to the calling bank.
#[utoipa::path(
    operation_id = "bank_receipt",
    get,
    path = "/v1/bank/receipt",
    tag = "bank",
    params(ReceiptQuery),
    responses(
        (status = 200, description = "a fresh receipt", body = FreshReceipt),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 404, description = "unknown policy, object or application", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody),
        (status = 503, description = "FHE queue full or witness quorum not reached: retry later", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("bank")))
)]
pub(crate) async fn bank_receipt(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<ReceiptQuery>,
) -> ApiResult<Json<FreshReceipt>> {
    let caller = s.authenticate(&headers, &method, &uri, b"", &[Role::Bank])?;
    let hash: Hash = crate::protocols::request::parse_hex(&q.verdict)
        .ok_or_else(|| ApiError::bad("verdict: expected 64 hex digits"))?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no verdict of that hash was issued to you",
        )
    };
    let bank = s
        .store
        .get(Table::Meta, &verdict_bank_key(&hash))
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
    if bank != caller.party.as_str().as_bytes() {
        return Err(not_found());
    }
    let verdict = s
        .store
        .get(Table::Verdicts, &hash)
        .map_err(ApiError::internal)?
        .and_then(|b| SignedVerdict::from_bytes(&b).ok())
        .ok_or_else(|| ApiError::internal("verdict missing"))?;
    let index = s
        .store
        .get(Table::Meta, &verdict_index_key(&hash))
        .map_err(ApiError::internal)?
        .and_then(|v| v.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| ApiError::internal("verdict index missing"))?;
    let (receipt, quorum) = s.receipt(verdict, index).await?;
    Ok(Json(FreshReceipt {
        receipt: hex::encode(receipt.to_bytes()),
        witness_quorum_met: quorum,
    }))
}
