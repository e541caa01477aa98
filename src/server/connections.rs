//! Serving connections with bounds a hostile client cannot stretch: at most `max_connections`
//! at once (the next waits in the kernel's backlog until one ends), request headers — the first
//! request's and every later one on a kept-alive connection — within `header_timeout`, and
//! request bodies never idle longer than `body_timeout`. hyper's HTTP/1 server does the work
//! (`header_read_timeout` with tokio's timer, which `axum::serve` does not set);
//! `tower-http`'s `TimeoutBody` bounds the body.

use axum::body::Body;
use axum::extract::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// How long a connection may take to send a request's headers (and how long a kept-alive one
/// may sit idle between requests).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a request body may go without a byte.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long shutdown waits for requests in flight (a sealed question may take minutes).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// The bounds of one listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Headers within this (also the idle limit between kept-alive requests).
    pub header_timeout: Duration,
    /// No request-body silence longer than this.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
        }
    }
}

/// Serves `app` on the connections `listener` accepts until `shutdown` completes, then stops
/// accepting, lets requests in flight finish (up to [`DRAIN_TIMEOUT`]) and returns.
pub async fn serve<L>(
    mut listener: L,
    app: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) where
    L: axum::serve::Listener,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (io, _peer) = tokio::select! {
            c = listener.accept() => c,
            _ = &mut shutdown => break,
        };
        // Reap finished connections so the set does not grow with the process's lifetime.
        while tasks.try_join_next().is_some() {}
        let service = TowerToHyperService::new(app.clone().map_request(
            move |r: Request<hyper::body::Incoming>| {
                r.map(|b| {
                    Body::new(tower_http::timeout::TimeoutBody::new(
                        limits.body_timeout,
                        b,
                    ))
                })
            },
        ));
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended");
                    }
                }
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("shutdown: requests still in flight after the drain timeout were cut");
    }
}
