//! What the handlers share, and the service's core operations: authenticate, append to the
//! log, cosigned checkpoints, receipts.

use crate::circuits::catalog::Catalog;
use crate::circuits::policy::Policy;
use crate::fhe::engine::Engine;
use crate::protocols::log::checkpoint::NoteVerifier;
use crate::protocols::log::entry::LogEntry;
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::{Pseudonym, PseudonymKey};
use crate::protocols::signing::Role;
use crate::protocols::signing::SigningKey;
use crate::protocols::verdict::TrustAnchors;
use crate::protocols::verdict::{SignedVerdict, VerdictReceipt};
use crate::server::auth::Authenticator;
use crate::server::decider::Decider;
use crate::server::error::{ApiError, ApiResult};
use crate::server::log::LogService;
use crate::server::metrics::Metrics;
use crate::server::records::*;
use crate::store::{prefix_range, Batch, Store, Table};
use crate::witness::WitnessClient;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Everything the handlers share.
pub struct ServiceState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) log: LogService,
    pub(crate) auth: Authenticator,
    pub(crate) catalog: Catalog,
    pub(crate) policies: RwLock<BTreeMap<String, Policy>>,
    pub(crate) pseudonyms: PseudonymKey,
    pub(crate) engine: Arc<Engine>,
    pub(crate) authority: Decider,
    pub(crate) fhe_slots: Arc<tokio::sync::Semaphore>,
    pub(crate) append: Mutex<()>,
    pub(crate) metrics: Metrics,
    pub(crate) metrics_token: Option<crate::server::metrics::MetricsToken>,
    /// The serialized encryption material (computed on first request).
    pub(crate) fhe_parts: std::sync::OnceLock<Vec<(&'static str, Vec<u8>)>>,
    pub(crate) witness: Option<Witness>,
    pub(crate) partner_core: Option<Arc<crate::witness::Witness>>,
    pub(crate) witnesses: Vec<WitnessClient>,
    pub(crate) witness_quorum: usize,
    pub(crate) authorities: BTreeMap<String, crate::protocols::signing::PublicKey>,
    pub(crate) last_prune: AtomicU64,
    /// Questions one bank may ask about one subject per day (0: no limit).
    pub(crate) query_limit: u32,
    pub(crate) lookup_limit: u32,
    /// (bank, subject) → (day, questions that day).
    pub(crate) query_counts: Mutex<BTreeMap<(PartyId, Pseudonym), (u64, u32)>>,
}

/// How to build a [`ServiceState`].
pub struct ServiceParts {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// The log.
    pub log: LogService,
    /// The catalogue.
    pub catalog: Catalog,
    /// The pseudonym key.
    pub pseudonyms: PseudonymKey,
    /// The compute engine.
    pub engine: Arc<Engine>,
    /// The key authority (in-process component with its own key store).
    pub authority: Decider,
    /// Concurrent FHE evaluations admitted; more get 503.
    pub fhe_slots: usize,
    /// Request time window, seconds.
    pub window_secs: u64,
    /// Partner logs this service witnesses (cross-region), if any.
    pub witness: Option<Witness>,
    /// The witnesses that cosign this service's own checkpoints.
    pub witnesses: Vec<WitnessClient>,
    /// How many of them must cosign a checkpoint handed out with a receipt.
    pub witness_quorum: usize,
    /// Authority root keys (pinned in the anchors; holders must be certified by them).
    pub authorities: BTreeMap<String, crate::protocols::signing::PublicKey>,
    /// The bearer token `/metrics` requires (`None`: `/metrics` is off).
    pub metrics_token: Option<crate::server::metrics::MetricsToken>,
    /// Questions one bank may ask about one subject per day, both paths (0: no limit).
    pub query_limit: u32,
    /// Pseudonym lookups one holder or bank may make per day (0: no limit).
    pub lookup_limit: u32,
}

impl ServiceState {
    /// Builds the state, loading published policies from the store.
    pub fn new(parts: ServiceParts) -> Result<Arc<Self>, String> {
        let mut policies = BTreeMap::new();
        let (from, to) = prefix_range(b"policy/");
        for (_, text) in parts
            .store
            .scan(Table::Meta, &from, to.as_deref(), 10_000)
            .map_err(|e| e.to_string())?
        {
            let text = String::from_utf8(text).map_err(|e| e.to_string())?;
            let p = Policy::parse(&text, &parts.catalog).map_err(|e| e.to_string())?;
            policies.insert(p.name.clone(), p);
        }
        let partner_core = match &parts.witness {
            Some(w) => Some(Arc::new(crate::witness::Witness::new(
                &w.name,
                w.key.clone(),
                w.partners.clone(),
                parts.store.clone(),
            )?)),
            None => None,
        };
        Ok(Arc::new(ServiceState {
            partner_core,
            auth: Authenticator::new(parts.store.clone(), parts.window_secs),
            store: parts.store,
            log: parts.log,
            catalog: parts.catalog,
            policies: RwLock::new(policies),
            pseudonyms: parts.pseudonyms,
            engine: parts.engine,
            authority: parts.authority,
            fhe_slots: Arc::new(tokio::sync::Semaphore::new(parts.fhe_slots.max(1))),
            append: Mutex::new(()),
            fhe_parts: std::sync::OnceLock::new(),
            metrics: {
                let m = Metrics::default();
                m.fhe_slots.set(parts.fhe_slots as i64);
                m
            },
            witness: parts.witness,
            witnesses: parts.witnesses,
            witness_quorum: parts.witness_quorum,
            authorities: parts.authorities,
            metrics_token: parts.metrics_token,
            last_prune: AtomicU64::new(0),
            query_limit: parts.query_limit,
            lookup_limit: parts.lookup_limit,
            query_counts: Mutex::new(BTreeMap::new()),
        }))
    }

    /// The log.
    pub fn log(&self) -> &LogService {
        &self.log
    }

    pub(crate) fn authenticate(
        &self,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
        body: &[u8],
        roles: &[Role],
    ) -> ApiResult<crate::server::auth::Caller> {
        let pq = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or(uri.path());
        let t = now();
        // Nonces older than the window can never be accepted again: forget them (at most
        // once a window, and at least once a minute).
        let last = self.last_prune.load(Ordering::Relaxed);
        if t >= last + self.auth.window().clamp(1, 60)
            && self
                .last_prune
                .compare_exchange(last, t, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            if let Err(e) = self.auth.prune(t) {
                tracing::warn!(error = %e, "nonce pruning failed");
            }
        }
        let caller = self.auth.authenticate(
            |h| headers.get(h).and_then(|v| v.to_str().ok()),
            self.log.origin(),
            method.as_str(),
            pq,
            body,
            t,
            roles,
        )?;
        // Where authority roots are pinned, a holder acts only once its certificate is logged
        // (a holder registered before the roots were pinned is refused until certified).
        if caller.role == Role::Holder && self.certified_holder(&caller.party)?.is_none() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "`{}` has no valid certificate in the log from its authority's root (as this service pins it): it may not act as a holder here",
                    caller.party
                ),
            ));
        }
        Ok(caller)
    }

    /// The published policy of `name` as the store holds it now — another service instance
    /// sharing the store may have published it or a newer version — cached while unchanged.
    pub(crate) fn published_policy(&self, name: &str) -> ApiResult<Option<Policy>> {
        let Some(text) = self
            .store
            .get(Table::Meta, &crate::server::records::policy_key(name))
            .map_err(ApiError::internal)?
        else {
            return Ok(None);
        };
        if let Some(p) = self
            .policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            if p.canonical().as_bytes() == text.as_slice() {
                return Ok(Some(p.clone()));
            }
        }
        let text = std::str::from_utf8(&text).map_err(ApiError::internal)?;
        let p = Policy::parse(text, &self.catalog).map_err(ApiError::internal)?;
        self.policies
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p.name.clone(), p.clone());
        Ok(Some(p))
    }

    /// Every published policy as the store holds it now.
    pub(crate) fn published_policies(&self) -> ApiResult<Vec<Policy>> {
        let (from, to) = crate::store::prefix_range(b"policy/");
        let names: Vec<String> = self
            .store
            .scan(Table::Meta, &from, to.as_deref(), 10_000)
            .map_err(ApiError::internal)?
            .into_iter()
            .filter_map(|(k, _)| String::from_utf8(k[b"policy/".len()..].to_vec()).ok())
            .collect();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(p) = self.published_policy(&name)? {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Counts a question of `bank` about `subject` today; 429 (nothing logged or stored) past
    /// the daily limit. Probing a listing's hidden end day, or repeating one question, needs
    /// many questions about one subject.
    pub(crate) fn count_query(&self, bank: &PartyId, subject: &Pseudonym) -> ApiResult<()> {
        if self.query_limit == 0 {
            return Ok(());
        }
        let today = now() / 86_400;
        let mut counts = self.query_counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() > 100_000 {
            counts.retain(|_, (day, _)| *day == today);
        }
        let entry = counts.entry((bank.clone(), *subject)).or_insert((today, 0));
        if entry.0 != today {
            *entry = (today, 0);
        }
        if entry.1 >= self.query_limit {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{bank} has asked {} questions about this subject today; the limit is {} a day",
                    entry.1, self.query_limit
                ),
            ));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Logs that `party` turned an identifier into `subject`'s pseudonym on `day` — once per
    /// (party, subject, day), indexed in the subject's history — within the daily limit per
    /// party: past it, 429 and nothing is answered or logged.
    pub(crate) fn log_lookup(
        &self,
        party: &PartyId,
        subject: &Pseudonym,
        day: u32,
    ) -> ApiResult<()> {
        let key = |what: &[u8], subject: Option<&Pseudonym>| {
            let mut k = what.to_vec();
            k.extend_from_slice(party.as_str().as_bytes());
            k.push(0);
            k.extend_from_slice(&day.to_be_bytes());
            if let Some(p) = subject {
                k.extend_from_slice(&pseudonym_bytes(p));
            }
            k
        };
        let (seen, count) = (key(b"lookup/", Some(subject)), key(b"lookups/", None));
        let read = |k: &[u8]| -> ApiResult<Option<Vec<u8>>> {
            self.store.get(Table::Meta, k).map_err(ApiError::internal)
        };
        if read(&seen)?.is_some() {
            return Ok(());
        }
        self.append_with(|index| {
            // Under the log head: a concurrent identical lookup may have logged it meanwhile.
            if read(&seen)?.is_some() {
                return Ok((Vec::new(), Batch::new(), ()));
            }
            let n = read(&count)?
                .and_then(|v| v.try_into().ok().map(u64::from_be_bytes))
                .unwrap_or(0);
            if self.lookup_limit != 0 && n >= u64::from(self.lookup_limit) {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{party} has looked up {n} pseudonyms today; the limit is {} a day",
                        self.lookup_limit
                    ),
                ));
            }
            let mut batch = Batch::new();
            batch.put(Table::Meta, seen.clone(), Vec::new());
            batch.put(Table::Meta, count.clone(), (n + 1).to_be_bytes().to_vec());
            crate::server::records::index_for_subject(&mut batch, subject, index);
            let mut salt = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
            Ok((
                vec![LogEntry::PseudonymLookup {
                    party: party.clone(),
                    subject: *subject,
                    day,
                    salt,
                }],
                batch,
                (),
            ))
        })?;
        Ok(())
    }

    /// Logs the FHE engine's configuration (tfhe version, parameters, FFT plan, plan compiler,
    /// self-test digest) unless the log already ends its record of it with the same: what an auditor's
    /// replay must run to reproduce logged outputs.
    pub fn log_engine_parameters(&self) -> Result<(), String> {
        let entry = LogEntry::EngineParameters {
            tfhe: crate::fhe::determinism::TFHE_VERSION.into(),
            parameters: crate::fhe::keys::engine_parameters(),
            selftest_digest: self.engine.public().selftest.digest,
        };
        let key = b"engine-parameters".to_vec();
        let encoded = crate::protocols::log::entry::LogLeaf {
            time: 0,
            entry: entry.clone(),
        }
        .to_bytes();
        if self
            .store
            .get(Table::Meta, &key)
            .map_err(|e| e.to_string())?
            == Some(encoded.clone())
        {
            return Ok(());
        }
        let mut b = Batch::new();
        b.put(Table::Meta, key, encoded);
        self.append(&[entry], b).map_err(|e| e.message)?;
        Ok(())
    }

    pub(crate) fn append(&self, entries: &[LogEntry], extra: Batch) -> ApiResult<Vec<u64>> {
        let entries = entries.to_vec();
        self.append_with(move |_| Ok((entries, extra, ())))
            .map(|(idx, ())| idx)
    }

    /// Appends what `build` returns, given the index the first entry will get, in one durable
    /// commit (entries and data together), then signs a checkpoint if one is due.
    pub(crate) fn append_with<T>(
        &self,
        build: impl FnOnce(u64) -> ApiResult<(Vec<LogEntry>, Batch, T)>,
    ) -> ApiResult<(Vec<u64>, T)> {
        let result = {
            let _g = self.append.lock().unwrap_or_else(|e| e.into_inner());
            // The head: the store's size (other instances may share the store), held until
            // the append below, so entries naming their own index get the index they name.
            let head = self.log.head().map_err(ApiError::internal)?;
            let (entries, batch, extra) = build(head.size())?;
            let idx = head.append(&entries, now(), batch).map_err(|e| match e {
                crate::server::log::LogServiceError::Store(crate::store::StoreError::Exists {
                    ..
                }) => ApiError::new(StatusCode::CONFLICT, "already exists"),
                crate::server::log::LogServiceError::Refused(m) => ApiError::bad(m),
                crate::server::log::LogServiceError::HeadMoved => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the log moved on under this request; nothing was written: retry",
                ),
                e => ApiError::internal(e),
            })?;
            (idx, extra)
        };
        if let Err(e) = self.log.maybe_checkpoint(now()) {
            tracing::warn!(error = %e, "checkpoint failed; retried after the next append");
        }
        Ok(result)
    }

    /// A checkpoint of the current size, signed by the log and cosigned by every configured
    /// witness that answers; `quorum_met` says whether at least the quorum did.
    pub(crate) async fn cosigned_checkpoint(
        self: &Arc<Self>,
    ) -> ApiResult<(crate::protocols::log::checkpoint::SignedCheckpoint, bool)> {
        let mut cp = self.log.checkpoint(now()).map_err(ApiError::internal)?;
        if self.witnesses.is_empty() {
            return Ok((cp, true));
        }
        let s = self.clone();
        let base = cp.clone();
        let cosigned = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            for w in &s.witnesses {
                if base.cosignature_time(&w.verifier).is_some() {
                    continue;
                }
                let key = format!("cosigned-by/{}", w.verifier.to_vkey()).into_bytes();
                let known = s
                    .store
                    .get(Table::Meta, &key)
                    .ok()
                    .flatten()
                    .and_then(|v| v.try_into().ok())
                    .map(u64::from_be_bytes);
                let proof = |old: u64| {
                    s.log
                        .consistency_proof(old, base.checkpoint.size)
                        .ok()
                        .map(|p| p.to_bytes())
                };
                match w.cosign(&base, known, &proof) {
                    Ok(c) => {
                        let mut b = Batch::new();
                        b.put(
                            Table::Meta,
                            key,
                            base.checkpoint.size.to_be_bytes().to_vec(),
                        );
                        if let Err(e) = s.store.commit(&b) {
                            tracing::warn!(error = %e, "witness state");
                        }
                        got.push(c);
                    }
                    Err(e) => tracing::warn!(witness = %w.verifier.name, error = %e, "cosignature refused"),
                }
            }
            got
        })
        .await
        .map_err(ApiError::internal)?;
        for c in cosigned {
            for sig in c.signatures {
                if !cp.signatures.contains(&sig) {
                    cp.signatures.push(sig);
                }
            }
        }
        let cosigners = self
            .witnesses
            .iter()
            .filter(|w| cp.cosignature_time(&w.verifier).is_some())
            .count();
        if cosigners > 0 {
            self.log.store_cosigned(&cp).map_err(ApiError::internal)?;
        }
        Ok((cp, cosigners >= self.witness_quorum))
    }

    /// The `PartyRegistered` entries of `parties` with inclusion proofs in the tree of `size`.
    pub(crate) fn key_evidence(
        &self,
        parties: &[PartyId],
        size: u64,
    ) -> ApiResult<crate::protocols::keys::KeyEvidence> {
        use crate::protocols::keys::{KeyEvidence, Registration};
        let mut registrations = Vec::new();
        for p in parties {
            let Some(v) = self
                .store
                .get(
                    Table::Meta,
                    &if self.authorities.is_empty() {
                        registration_key(p)
                    } else {
                        certificate_key(p)
                    },
                )
                .map_err(ApiError::internal)?
            else {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("party `{p}` is not registered in the log"),
                ));
            };
            let index = u64::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| ApiError::internal("corrupt registration index"))?,
            );
            if index >= size {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("party `{p}` was registered after the latest checkpoint; retry"),
                ));
            }
            let leaf = self
                .log
                .entries(index, index + 1, 1)
                .map_err(ApiError::internal)?
                .pop()
                .map(|(_, l)| l)
                .ok_or_else(|| ApiError::internal("registration leaf missing"))?;
            let inclusion = self
                .log
                .inclusion_proof(index, size)
                .map_err(ApiError::internal)?;
            registrations.push(Registration {
                index,
                leaf,
                inclusion,
            });
        }
        Ok(KeyEvidence { registrations })
    }

    /// A receipt for the verdict logged at `leaf_index`: the leaf, an inclusion proof, a
    /// checkpoint of the current size cosigned by the witnesses, and the registrations of the
    /// holders the evidence relies on. Also says whether the witness quorum was met.
    pub(crate) async fn receipt(
        self: &Arc<Self>,
        verdict: SignedVerdict,
        leaf_index: u64,
    ) -> ApiResult<(VerdictReceipt, bool)> {
        let (checkpoint, quorum) = self.cosigned_checkpoint().await?;
        let size = checkpoint.checkpoint.size;
        let leaf = self
            .log
            .entries(leaf_index, leaf_index + 1, 1)
            .map_err(ApiError::internal)?
            .pop()
            .map(|(_, leaf)| leaf)
            .ok_or_else(|| ApiError::internal("verdict leaf missing"))?;
        let inclusion = self
            .log
            .inclusion_proof(leaf_index, size)
            .map_err(ApiError::internal)?;
        let mut holders: Vec<PartyId> = match &verdict.verdict.evidence {
            crate::protocols::verdict::Evidence::Proof { inputs, .. } => inputs
                .iter()
                .map(|i| i.commitment.context.holder.clone())
                .collect(),
            _ => Vec::new(),
        };
        holders.sort();
        holders.dedup();
        let keys = self.key_evidence(&holders, size)?;
        Ok((
            VerdictReceipt {
                verdict,
                leaf,
                leaf_index,
                inclusion,
                checkpoint,
                keys,
            },
            quorum,
        ))
    }

    /// Takes an FHE slot (503 `unavailable` when every slot is taken), held until the
    /// returned permit is dropped.
    pub(crate) fn fhe_permit(&self) -> ApiResult<FhePermit> {
        let permit = self.fhe_slots.clone().try_acquire_owned().map_err(|_| {
            self.metrics.fhe_rejected.inc();
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "FHE queue full, retry later",
            )
        })?;
        self.metrics.fhe_admitted.inc();
        Ok(FhePermit {
            _permit: permit,
            gauge: self.metrics.fhe_admitted.clone(),
        })
    }
}

/// Every role a registered party can have (an authority's root key is pinned, never
/// registered).
pub(crate) fn any_party() -> [Role; 8] {
    [
        Role::Holder,
        Role::Bank,
        Role::Subject,
        Role::Log,
        Role::KeyAuthority,
        Role::Witness,
        Role::Operator,
        Role::Auditor,
    ]
}

/// An admitted FHE job's slot.
pub(crate) struct FhePermit {
    _permit: tokio::sync::OwnedSemaphorePermit,
    gauge: prometheus::IntGauge,
}

impl Drop for FhePermit {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// This service as a witness of partner logs, and its routes to partner regions.
pub struct Witness {
    /// The name its cosignatures carry (conventionally its own log origin).
    pub name: String,
    /// Its witness key (role `Witness`).
    pub key: SigningKey,
    /// The partner logs it witnesses.
    pub partners: Vec<NoteVerifier>,
    /// Partner regions it forwards bank queries to.
    pub forward: Vec<Forward>,
}

/// How this region asks a partner region: the partner's address, its pinned anchors and the
/// bank identity the partner registered for this region.
#[derive(Debug)] // SigningKey prints only its role and public key
pub struct Forward {
    /// The partner's log origin (must also be in `partners`).
    pub origin: String,
    /// The partner's API address (`host:port`).
    pub addr: String,
    /// The partner's trust anchors, pinned in the federation file.
    pub anchors: TrustAnchors,
    /// This region's party at the partner (role `bank`).
    pub party: PartyId,
    /// Its key.
    pub key: SigningKey,
}
