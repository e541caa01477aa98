//! Who decides the service's sealed queries ([`Decider`]): the key authority process it calls
//! (`serve --key-authority KEY@ADDR`), or — for development, `serve` without it — one in this
//! process. And the service's directory when the key authority runs apart: only the public FHE
//! material, copied from the key authority's (`serve init --fhe-public`).

use crate::fhe::engine::sha3;
use crate::fhe::keys::{write_file, KeyPaths, PublicMaterial};
use crate::key_authority::{
    DecideRequest, Evaluated, KeyAuthority, LogView, Refusal, DECIDE_PATH, EVALUATE_PATH,
    SERVICE_PARTY,
};
use crate::protocols::names::PartyId;
use crate::protocols::signing::Role;
use crate::protocols::signing::{PublicKey, SigningKey};
use crate::protocols::verdict::{Evidence, SignedVerdict};
use crate::server::auth::Authenticator;
use crate::store::{Batch, Store};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The key authority process this service calls.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyAuthorityConfig {
    /// Its verdict-signing public key (hex; `KADIR/key-authority.key`).
    pub key: String,
    /// Its address (`host:port`).
    pub address: String,
}

impl KeyAuthorityConfig {
    /// Parses `KEY@ADDR` (the `--key-authority` flag).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (key, address) = s
            .split_once('@')
            .ok_or("--key-authority takes KEY@HOST:PORT (its public key in hex and its address)")?;
        let c = KeyAuthorityConfig {
            key: key.trim().to_string(),
            address: address.trim().to_string(),
        };
        c.public_key()?;
        Ok(c)
    }

    /// Its key, checked.
    pub fn public_key(&self) -> Result<crate::protocols::signing::PublicKey, Error> {
        let b: [u8; 32] = crate::protocols::request::parse_hex(&self.key)
            .ok_or("key_authority.key: expected 64 hex digits")?;
        crate::protocols::signing::PublicKey::from_bytes(Role::KeyAuthority, &b)
            .map_err(|_| "key_authority.key: not a valid Ed25519 public key".into())
    }
}

/// Who decides the service's sealed queries.
pub enum Decider {
    /// A key authority in this process (development only: this process then holds the client
    /// key; `SECURITY.md` says what that gives up).
    InProcess(Arc<KeyAuthority>),
    /// The key authority process (`credence key-authority serve`).
    Remote(Box<RemoteAuthority>),
}

impl From<Arc<KeyAuthority>> for Decider {
    fn from(k: Arc<KeyAuthority>) -> Self {
        Decider::InProcess(k)
    }
}

/// The key authority process as the service calls it: `POST /v1/decide`, signed with the
/// service's key (the log key the anchors pin as `service`).
pub struct RemoteAuthority {
    /// Its address.
    pub addr: String,
    /// Its verdict-signing key (pinned in the anchors).
    pub key: PublicKey,
    /// The log origin requests are signed for.
    pub origin: String,
    /// The service's signing key.
    pub service_key: SigningKey,
    /// Its engine's block cache, as it last reported it (a measurement, never trusted).
    pub cache: std::sync::Mutex<crate::fhe::engine::BlockCacheStats>,
    /// When it last declined to evaluate (it replays a sample, or predates `/v1/evaluate`):
    /// for [`DECLINE_HOLDS`] the service evaluates without asking.
    pub declined: std::sync::Mutex<Option<std::time::Instant>>,
    /// Called when it declines: the service's own engine takes the block cache.
    pub on_decline: Option<Box<dyn Fn() + Send + Sync>>,
}

/// How long a key authority's "I do not evaluate" holds before it is asked again (it may be
/// restarted with other settings).
pub const DECLINE_HOLDS: Duration = Duration::from_secs(60);

/// A verdict, and how long the key authority itself took (a remote one reports it; the rest
/// of the round trip is transport).
pub struct Decided {
    /// The signed verdict.
    pub verdict: SignedVerdict,
    /// The key authority's own time, when it runs apart.
    pub authority_time: Option<Duration>,
}

/// Why no verdict came back: a refusal code ([`Refusal::CODES`]) or `unavailable`.
#[derive(Debug)]
pub struct DecideFailure {
    /// The code.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl From<Refusal> for DecideFailure {
    fn from(r: Refusal) -> Self {
        DecideFailure {
            code: r.code().to_string(),
            message: r.to_string(),
        }
    }
}

impl Decider {
    /// The key authority's verdict-signing key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Decider::InProcess(k) => k.public_key(),
            Decider::Remote(r) => r.key,
        }
    }

    /// The block cache of the key authority's engine (which evaluates): an in-process one's, or
    /// what one apart last reported.
    pub(crate) fn block_cache_stats(&self) -> crate::fhe::engine::BlockCacheStats {
        match self {
            Decider::InProcess(k) => k.block_cache_stats(),
            Decider::Remote(r) => *r.cache.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Whether to ask the key authority to evaluate: an in-process one that replays every
    /// request; one apart unless it declined in the last [`DECLINE_HOLDS`].
    pub(crate) fn may_evaluate(&self) -> bool {
        match self {
            Decider::InProcess(k) => k.evaluates(),
            Decider::Remote(r) => r
                .declined
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_none_or(|t| t.elapsed() >= DECLINE_HOLDS),
        }
    }

    /// Asks the key authority to evaluate the query logged at `query_index` (blocking), so that
    /// the query is evaluated once; `None` where it replays only a sample of requests and the
    /// service evaluates.
    pub(crate) fn evaluate(
        &self,
        view: &dyn LogView,
        query_index: u64,
    ) -> Result<Option<EvaluatedBy>, DecideFailure> {
        match self {
            Decider::InProcess(k) if !k.evaluates() => Ok(None),
            Decider::InProcess(k) => Ok(Some(EvaluatedBy {
                evaluated: k.evaluate(view, query_index)?,
                authority_time: None,
            })),
            Decider::Remote(r) => r.evaluate(query_index),
        }
    }

    /// Asks for a decision on `req` (blocking: FHE work, or a call that waits for it). An
    /// in-process key authority reads the service through `view`; one apart reads it itself.
    pub(crate) fn decide(
        &self,
        view: &dyn LogView,
        req: &DecideRequest,
    ) -> Result<Decided, DecideFailure> {
        match self {
            Decider::InProcess(k) => Ok(Decided {
                verdict: k.decide(view, req)?,
                authority_time: None,
            }),
            Decider::Remote(r) => r.decide(req),
        }
    }
}

/// A query the key authority evaluated for the service to log, and how long it took itself.
pub struct EvaluatedBy {
    /// The output and the inputs it selected.
    pub evaluated: Evaluated,
    /// The key authority's own time, when it runs apart.
    pub authority_time: Option<Duration>,
}

/// A route the key authority does not have (HTTP 404), where the caller can do without it.
const NO_ROUTE: &str = "no-route";

fn unavailable(message: String) -> DecideFailure {
    DecideFailure {
        code: "unavailable".into(),
        message,
    }
}

impl RemoteAuthority {
    /// Calls `path` with `body`, signed; the answer, or the refusal (a known code) or
    /// `unavailable`.
    fn call(
        &self,
        path: &str,
        body: &serde_json::Value,
        also: &[&str],
    ) -> Result<serde_json::Value, DecideFailure> {
        let body = body.to_string();
        let (status, out) = crate::party::http::call(
            &self.addr,
            &self.origin,
            "POST",
            path,
            body.as_bytes(),
            &self.service_key,
            &PartyId::new(SERVICE_PARTY).map_err(|e| unavailable(e.to_string()))?,
        )
        .map_err(|e| unavailable(format!("cannot reach the key authority: {e}")))?;
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        if status == 404 && also.contains(&NO_ROUTE) {
            return Err(DecideFailure {
                code: NO_ROUTE.into(),
                message: format!("the key authority has no {path}"),
            });
        }
        if status != 200 {
            let message = crate::party::http::error_message(&out);
            return Err(match v["error"]["code"].as_str() {
                Some(code) if Refusal::CODES.contains(&code) || also.contains(&code) => {
                    DecideFailure {
                        code: code.to_string(),
                        message,
                    }
                }
                _ => unavailable(format!(
                    "the key authority answered HTTP {status}: {message}"
                )),
            });
        }
        Ok(v)
    }

    /// `None` where it does not evaluate: it replays only a sample, or has no
    /// `/v1/evaluate` (a key authority from before evaluate-once). Remembered for
    /// [`DECLINE_HOLDS`], and the service's own engine then keeps the block cache.
    pub fn evaluate(&self, query_index: u64) -> Result<Option<EvaluatedBy>, DecideFailure> {
        let not_evaluating = Refusal::NotEvaluating.code();
        let v = match self.call(
            EVALUATE_PATH,
            &serde_json::json!({ "query_index": query_index }),
            &[not_evaluating, NO_ROUTE],
        ) {
            Err(f) if f.code == not_evaluating || f.code == NO_ROUTE => {
                *self.declined.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(std::time::Instant::now());
                if let Some(f) = &self.on_decline {
                    f();
                }
                return Ok(None);
            }
            other => other?,
        };
        let output = v["output"]
            .as_str()
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| unavailable("the key authority's answer holds no output".into()))?;
        let input_hashes = v["input_hashes"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|h| h.as_str().and_then(crate::protocols::request::parse_hex))
                    .collect::<Option<Vec<crate::protocols::log::hash::Hash>>>()
            })
            .ok_or_else(|| unavailable("the key authority's answer names no inputs".into()))?;
        let count = |k: &str| v[k].as_u64().unwrap_or(0);
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) =
            crate::fhe::engine::BlockCacheStats {
                hits: count("block_cache_hits"),
                misses: count("block_cache_misses"),
                bytes: count("block_cache_bytes") as usize,
                ..Default::default()
            };
        Ok(Some(EvaluatedBy {
            evaluated: Evaluated {
                output,
                input_hashes,
            },
            authority_time: v["evaluate_ms"]
                .as_f64()
                .and_then(|ms| Duration::try_from_secs_f64(ms / 1e3).ok()),
        }))
    }

    fn decide(&self, req: &DecideRequest) -> Result<Decided, DecideFailure> {
        let v = self.call(
            DECIDE_PATH,
            &serde_json::json!({
                "query_index": req.query_index,
                "output": hex::encode(&req.output),
            }),
            &[],
        )?;
        let verdict = v["verdict"]
            .as_str()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| SignedVerdict::from_bytes(&b).ok())
            .ok_or_else(|| unavailable("the key authority's answer holds no verdict".into()))?;
        // Logged only if it is the pinned key authority's verdict on this very request.
        self.key
            .verify(
                verdict.verdict.signer_role(),
                &verdict.verdict,
                &verdict.signature,
            )
            .map_err(|_| {
                unavailable("the verdict is not signed by the pinned key authority".into())
            })?;
        match &verdict.verdict.evidence {
            Evidence::Decryption {
                query_index,
                output_hash,
                ..
            } if *query_index == req.query_index && *output_hash == sha3(&req.output) => {}
            _ => {
                return Err(unavailable(
                    "the key authority's verdict is about another query or output".into(),
                ))
            }
        }
        Ok(Decided {
            verdict,
            // Unsigned: only ever a measurement, and never trusted to be a sane number.
            authority_time: v["decide_ms"]
                .as_f64()
                .and_then(|ms| Duration::try_from_secs_f64(ms / 1e3).ok()),
        })
    }
}

/// A key authority in this process (development mode), its keys and its copy of the log under
/// `keys/authority/`.
pub(crate) fn in_process(
    keys: &Path,
    embedded: bool,
    day_window: u32,
    engine: Arc<crate::fhe::engine::Engine>,
    catalog: crate::circuits::catalog::Catalog,
    anchors: crate::protocols::verdict::TrustAnchors,
) -> Result<Decider, Error> {
    let secret = crate::fhe::keys::SecretMaterial::load(keys)?;
    let ka_key = SigningKey::from_seed(
        crate::protocols::signing::Role::KeyAuthority,
        &crate::fhe::keys::seed_file(&keys.join("authority/signing.seed"))?,
    );
    // The key authority pins the same anchors a verifier does, follows the log into its own
    // store, and decides from it. Its copy of the log: durable beside its keys when this
    // process owns the directory (the embedded store); in memory, rebuilt from the cosigned
    // log at start, when several instances share one database.
    let ka_store: Arc<dyn Store> = if embedded {
        Arc::new(crate::store::embedded::EmbeddedStore::open(
            &keys.join("authority/authority.redb"),
        )?)
    } else {
        Arc::new(crate::store::memory::MemoryStore::new())
    };
    let mut authority =
        KeyAuthority::new(Arc::new(secret), engine, ka_key, catalog, anchors, ka_store)?;
    authority.set_day_window(day_window);
    Ok(Decider::InProcess(Arc::new(authority)))
}

/// The key authority process `c`, called with `service_key` for the log `origin`. Registers
/// it as the party `key-authority` (so that it can read the log), with a `PartyRegistered`
/// entry in the log, unless it is; a different key registered under that name is refused.
pub(crate) fn remote(
    c: &KeyAuthorityConfig,
    store: &Arc<dyn Store>,
    log: &crate::server::log::LogService,
    window_secs: u64,
    service_key: SigningKey,
    on_decline: Option<Box<dyn Fn() + Send + Sync>>,
) -> Result<Decider, Error> {
    let key = c.public_key()?;
    let party = PartyId::new(crate::key_authority::PARTY)?;
    match Authenticator::new(store.clone(), window_secs).key_of(&party)? {
        None => {
            let mut b = Batch::new();
            Authenticator::register(&mut b, &party, &key);
            log.append(
                &[crate::protocols::log::entry::LogEntry::PartyRegistered {
                    party: party.clone(),
                    key,
                }],
                crate::server::records::now(),
                b,
            )?;
        }
        Some(k) if k == key => {}
        Some(_) => {
            return Err(format!(
                "party `{party}` is registered with another key than key_authority.key"
            )
            .into())
        }
    }
    Ok(Decider::Remote(Box::new(RemoteAuthority {
        addr: c.address.clone(),
        key,
        origin: log.origin().to_string(),
        service_key,
        cache: Default::default(),
        declined: Default::default(),
        on_decline,
    })))
}

/// The key authority this service calls: the configured one (remembered in
/// `DIR/key-authority.json`), else the one remembered, else none (it runs in this process).
pub(crate) fn remembered_key_authority(
    dir: &Path,
    configured: Option<&KeyAuthorityConfig>,
) -> Result<Option<KeyAuthorityConfig>, Error> {
    let file = dir.join("key-authority.json");
    let remembered: Option<KeyAuthorityConfig> = match std::fs::read(&file) {
        Ok(b) => Some(serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", file.display()))?),
        Err(_) => None,
    };
    match (configured, remembered) {
        (Some(c), r) => {
            c.public_key()?;
            if r.as_ref() != Some(c) {
                write_file(&file, serde_json::to_string_pretty(c)?.as_bytes(), false)?;
            }
            Ok(Some(c.clone()))
        }
        (None, r) => Ok(r),
    }
}

/// Copies the key authority's public FHE material — the files of its `KADIR/keys/public/`
/// folder, given as `from` — into `keys/public/`, and checks that it loads. A folder that holds
/// a client key anywhere beneath it is refused: only the public folder travels.
pub(crate) fn copy_public(from: &Path, keys: &Path) -> Result<(), Error> {
    let bad = |m: String| -> Error { format!("--fhe-public {}: {m}", from.display()).into() };
    fn holds_client_key(dir: &Path) -> bool {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let p = e.path();
                p.file_name().is_some_and(|n| n == "client.key")
                    || (p.is_dir() && holds_client_key(&p))
            })
    }
    if !from.is_dir() {
        return Err(bad(
            "not a folder (give the key authority's KADIR/keys/public)".into(),
        ));
    }
    if holds_client_key(from) {
        return Err(bad(
            "holds a client key: give only the key authority's public folder (KADIR/keys/public)"
                .into(),
        ));
    }
    let dst = KeyPaths::new(keys);
    let files = [
        &dst.server_key,
        &dst.public_key,
        &dst.crs,
        &dst.selftest,
        &dst.selftest_digest,
    ];
    for f in files {
        let name = f.file_name().ok_or_else(|| bad("bad key path".into()))?;
        let bytes = std::fs::read(from.join(name))
            .map_err(|e| bad(format!("{}: {e}", name.to_string_lossy())))?;
        write_file(f, &bytes, false)?;
    }
    if let Err(e) = PublicMaterial::load(keys) {
        for f in files {
            let _ = std::fs::remove_file(f);
        }
        return Err(bad(e.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::protocols::signing::{Role, SigningKey};
    use crate::server::decider::{DecideFailure, Decider, EvaluatedBy, RemoteAuthority};
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A key authority stand-in answering every request with `status` and `body`.
    fn stub(status: &'static str, body: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for mut c in listener.incoming().flatten() {
                // The whole request (headers, then the body its length names) before answering.
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = c.read(&mut buf) {
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if req.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = write!(
                    c,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        addr
    }

    fn remote(addr: String, declines: Arc<AtomicUsize>) -> Decider {
        Decider::Remote(Box::new(RemoteAuthority {
            addr,
            key: SigningKey::from_seed(Role::KeyAuthority, &[1; 32]).public(),
            origin: "test".into(),
            service_key: SigningKey::from_seed(Role::Log, &[2; 32]),
            cache: Default::default(),
            declined: Default::default(),
            on_decline: Some(Box::new(move || {
                declines.fetch_add(1, Ordering::SeqCst);
            })),
        }))
    }

    fn ask(d: &Decider) -> Result<Option<EvaluatedBy>, DecideFailure> {
        match d {
            Decider::Remote(r) => r.evaluate(7),
            Decider::InProcess(_) => unreachable!(),
        }
    }

    /// A key authority that replays a sample, or one from before `/v1/evaluate`, declines: the
    /// service evaluates (and takes the block cache) without asking again for a while. Any other
    /// failure is no decline: the query fails, and the next one asks again.
    #[test]
    fn a_key_authority_that_does_not_evaluate_is_not_asked_again_for_a_while() {
        for (status, body) in [
            (
                "409 Conflict",
                r#"{"error":{"code":"not-evaluating","message":"replays a sample"}}"#,
            ),
            ("404 Not Found", ""),
        ] {
            let declines = Arc::new(AtomicUsize::new(0));
            let d = remote(stub(status, body), declines.clone());
            assert!(d.may_evaluate());
            assert!(ask(&d).unwrap().is_none(), "{status}");
            assert_eq!(declines.load(Ordering::SeqCst), 1);
            assert!(!d.may_evaluate(), "{status}");
        }
        let declines = Arc::new(AtomicUsize::new(0));
        let d = remote(
            stub(
                "500 Internal Server Error",
                r#"{"error":{"code":"internal","message":"x"}}"#,
            ),
            declines.clone(),
        );
        let failure = ask(&d).err().expect("a failure, not a decline");
        assert_eq!(failure.code, "internal");
        assert_eq!(declines.load(Ordering::SeqCst), 0);
        assert!(d.may_evaluate());
    }
}
