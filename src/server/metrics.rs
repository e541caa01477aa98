//! Prometheus metrics (the `prometheus` crate, one registry per service instance so that
//! several services in one process — tests, the demo's regions — never mix their series).
//!
//! Label values are matched route templates (`/v1/bank/query`, never a path with an
//! identifier in it), methods, status codes and published policy names: no caller can create
//! series at will, and no identifier appears in a label.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    /// Responses by matched route, method and status.
    pub requests: IntCounterVec,
    /// Request latency by matched route and method, seconds.
    pub latency: HistogramVec,
    /// Time spent in each stage of sealed queries.
    pub sealed_stage: HistogramVec,
    /// Sealed-path requests refused because every FHE slot was taken.
    pub fhe_rejected: IntCounter,
    /// FHE evaluations and ingests admitted (holding a slot).
    pub fhe_admitted: IntGauge,
    /// Slots (admitted at once; more get 503).
    pub fhe_slots: IntGauge,
    /// Jobs waiting for a worker of the engine's pool.
    pub fhe_queue_depth: IntGauge,
    /// Jobs running on the engine's pool.
    pub fhe_in_flight: IntGauge,
    /// Input blocks evaluations found decompressed in the engine's cache.
    pub block_cache_hits: IntCounter,
    /// Input blocks evaluations decompressed.
    pub block_cache_misses: IntCounter,
    /// Bytes of decompressed blocks the engine's cache holds.
    pub block_cache_bytes: IntGauge,
    /// Planned bootstraps of sealed evaluations, by policy.
    pub bootstraps: IntCounterVec,
    /// Sealed evaluations, by policy.
    pub evaluations: IntCounterVec,
    /// Entries in the log.
    pub log_size: IntGauge,
    /// Entries appended since the latest signed checkpoint.
    pub log_unchecked: IntGauge,
    /// Seconds since the latest signed checkpoint (0 before the first).
    pub checkpoint_age: Gauge,
}

fn registered<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
    // Names are fixed and distinct: registration cannot fail except by a programming error,
    // which the metrics test catches.
    if let Err(e) = r.register(Box::new(m.clone())) {
        tracing::error!(error = %e, "metric registration");
    }
    m
}

impl Metrics {
    /// A fresh registry with every series described.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            registered(
                &r,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let gauge = |name: &str, help: &str| {
            registered(&r, IntGauge::new(name, help).expect("valid metric"))
        };
        let buckets = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            60.0, 120.0,
        ];
        Metrics {
            requests: counter_vec(
                "credence_requests_total",
                "Responses by matched route, method and status.",
                &["route", "method", "status"],
            ),
            latency: registered(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "credence_request_duration_seconds",
                        "Request latency by matched route and method.",
                    )
                    .buckets(buckets.clone()),
                    &["route", "method"],
                )
                .expect("valid metric"),
            ),
            sealed_stage: registered(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "credence_sealed_stage_seconds",
                        "Time of sealed queries by stage: evaluate (the engine), key_authority \
                         (follow the log, replay, decrypt, sign: the key authority's own time \
                         when it runs apart), transport (the rest of the round trip to a key \
                         authority apart), log (appends, cosigned checkpoints, receipt).",
                    )
                    .buckets(buckets),
                    &["stage"],
                )
                .expect("valid metric"),
            ),
            fhe_rejected: registered(
                &r,
                IntCounter::new(
                    "credence_fhe_rejected_total",
                    "Sealed-path requests refused (503) because every FHE slot was taken.",
                )
                .expect("valid metric"),
            ),
            fhe_admitted: gauge(
                "credence_fhe_admitted",
                "FHE ingests and evaluations admitted (holding a slot).",
            ),
            fhe_slots: gauge("credence_fhe_slots", "FHE slots: admitted at once."),
            fhe_queue_depth: gauge(
                "credence_fhe_queue_depth",
                "FHE jobs waiting for a worker of the engine's pool.",
            ),
            fhe_in_flight: gauge(
                "credence_fhe_in_flight",
                "FHE jobs running on the engine's pool.",
            ),
            block_cache_hits: registered(
                &r,
                IntCounter::new(
                    "credence_fhe_block_cache_hits_total",
                    "Input blocks sealed evaluations found decompressed in the engine's cache.",
                )
                .expect("valid metric"),
            ),
            block_cache_misses: registered(
                &r,
                IntCounter::new(
                    "credence_fhe_block_cache_misses_total",
                    "Input blocks sealed evaluations decompressed (one bootstrap each).",
                )
                .expect("valid metric"),
            ),
            block_cache_bytes: gauge(
                "credence_fhe_block_cache_bytes",
                "Bytes of decompressed input blocks the engine's cache holds.",
            ),
            bootstraps: counter_vec(
                "credence_fhe_bootstraps_total",
                "Planned bootstraps of sealed evaluations, by policy.",
                &["policy"],
            ),
            evaluations: counter_vec(
                "credence_fhe_evaluations_total",
                "Sealed evaluations, by policy.",
                &["policy"],
            ),
            log_size: gauge("credence_log_size", "Entries in the transparency log."),
            log_unchecked: gauge(
                "credence_log_entries_since_checkpoint",
                "Entries appended since the latest signed checkpoint.",
            ),
            checkpoint_age: registered(
                &r,
                Gauge::new(
                    "credence_checkpoint_age_seconds",
                    "Seconds since the latest signed checkpoint (0 before the first).",
                )
                .expect("valid metric"),
            ),
            registry: r,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "metrics encoding");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The bearer token a scraper presents to read `/metrics` (`Authorization: Bearer <token>`;
/// Prometheus' `authorization.credentials_file`). The metrics say when sealed evaluations run,
/// for which policy and at what cost — and a bootstrap count follows the attributes a subject
/// has on record — so they are for the operator's monitoring, not for any caller. Compared in
/// constant time; zeroized on drop; never printed.
pub struct MetricsToken(zeroize::Zeroizing<String>);

impl MetricsToken {
    /// A token from its text (at least 16 characters, no whitespace).
    pub fn new(text: &str) -> Result<MetricsToken, String> {
        let t = text.trim();
        if t.len() < 16 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("a metrics token has at least 16 characters and no whitespace".into());
        }
        Ok(MetricsToken(zeroize::Zeroizing::new(t.to_string())))
    }

    /// 32 random bytes, hex.
    pub fn generate() -> MetricsToken {
        let mut b = zeroize::Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut *b);
        MetricsToken(zeroize::Zeroizing::new(hex::encode(*b)))
    }

    /// Reads `path`, or creates it (owner-only) with a fresh token on first start.
    pub fn load_or_create(path: &std::path::Path) -> Result<MetricsToken, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => MetricsToken::new(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let t = MetricsToken::generate();
                crate::fhe::keys::write_file(path, format!("{}\n", t.0.as_str()).as_bytes(), true)
                    .map_err(|e| e.to_string())?;
                Ok(t)
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// The token's text (for a scraper configured in the same process: tests, the demo).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether an `Authorization` header value presents this token; constant time in the
    /// token (both sides are hashed first, so lengths do not leak either).
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        use sha3::Digest;
        use subtle::ConstantTimeEq;
        let presented = authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .trim();
        let a = sha3::Sha3_256::digest(presented.as_bytes());
        let b = sha3::Sha3_256::digest(self.0.as_bytes());
        bool::from(a.ct_eq(&b)) && !presented.is_empty()
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

/// From a `/metrics` exposition: the mean time of a sealed query (`POST /v1/bank/query`) and
/// the share of each stage (evaluate, key authority, log; the rest is HTTP, authentication and
/// handling), as one line — or `None` before the first sealed query.
pub fn sealed_shares(exposition: &str) -> Option<String> {
    let value = |prefix: &str| -> f64 {
        exposition
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let route = |part: &str| {
        exposition
            .lines()
            .filter(|l| {
                l.starts_with(&format!("credence_request_duration_seconds_{part}{{"))
                    && l.contains("route=\"/v1/bank/query\"")
                    && l.contains("method=\"post\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let (total, n) = (route("sum"), route("count"));
    if n < 1.0 || total <= 0.0 {
        return None;
    }
    let stage = |s: &str| {
        value(&format!(
            "credence_sealed_stage_seconds_sum{{stage=\"{s}\"}}"
        ))
    };
    let (eval, ka, log) = (stage("evaluate"), stage("key_authority"), stage("log"));
    let transport = stage("transport");
    // `+ 0.0`: an empty sum is -0.0, which would print as "-0%".
    let pct = |x: f64| 100.0 * x / total + 0.0;
    Some(format!(
        "{n:.0} sealed queries, mean {:.0} ms in the service: evaluate (the key authority's where it evaluates once) {:.0}%, key authority's decision (follow the log, replay unless it evaluated, decrypt, sign) {:.0}%, to and from the key authority {:.0}%, log and receipts {:.0}%, HTTP and handling {:.0}%",
        1e3 * total / n,
        pct(eval),
        pct(ka),
        pct(transport),
        pct(log),
        pct((total - eval - ka - transport - log).max(0.0))
    ))
}

#[cfg(test)]
mod tests {
    use crate::server::metrics::MetricsToken;

    #[test]
    fn sealed_shares_add_up_from_the_exposition() {
        let m = crate::server::metrics::Metrics::new();
        assert_eq!(crate::server::metrics::sealed_shares(&m.render()), None);
        m.latency
            .with_label_values(&["/v1/bank/query", "post"])
            .observe(2.0);
        for (stage, t) in [("evaluate", 0.5), ("key_authority", 1.0), ("log", 0.25)] {
            m.sealed_stage.with_label_values(&[stage]).observe(t);
        }
        let line = crate::server::metrics::sealed_shares(&m.render()).unwrap();
        assert!(line.starts_with("1 sealed queries, mean 2000 ms"), "{line}");
        assert!(
            line.contains("evaluates once) 25%") && line.contains("sign) 50%"),
            "{line}"
        );
        assert!(
            line.contains("log and receipts 12%") || line.contains("log and receipts 13%"),
            "{line}"
        );
        assert!(
            line.contains("HTTP and handling 12%") || line.contains("HTTP and handling 13%"),
            "{line}"
        );
    }

    #[test]
    fn only_the_token_admits() {
        let t = MetricsToken::generate();
        assert!(t.admits(Some(&format!("Bearer {}", t.expose()))));
        for bad in [
            None,
            Some(""),
            Some("Bearer "),
            Some(t.expose()),
            Some("Bearer 0000000000000000"),
            Some(&format!("Basic {}", t.expose())),
            Some(&format!("Bearer {}x", t.expose())),
        ] {
            assert!(!t.admits(bad), "{bad:?}");
        }
        assert!(MetricsToken::new("short").is_err());
        assert!(MetricsToken::new("has a space in it, long enough").is_err());
        assert_eq!(format!("{t:?}"), "MetricsToken(..)");
    }
}
