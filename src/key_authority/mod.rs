//! The key authority: the only holder of the TFHE client key, deciding from the log.
//!
//! A request names a logged query and carries the output ciphertext. The key authority
//! follows the log itself ([`follow`]: checkpoints signed by the pinned log key and cosigned by
//! the witness quorum, each extending the last one it saw, kept in its own store), and reads
//! from it — never from the request — the query (bank, subject, policy, day, consent), the one
//! evaluation logged for it, and the inputs: it selects the latest logged sealed submission per
//! attribute before the query itself, and refuses an evaluation that logged any other set (an
//! input left out, a stale one, an extra one). The output must be the logged one.
//!
//! By default, on **every** request ([`ReplayPolicy::Always`]), it then replays the evaluation
//! from the holders' uploads, fetched by their logged hashes — each holder's signature under
//! its logged key, each proof of plaintext knowledge, expansion, compression, the policy
//! compiled for the logged day, evaluated on its own pool. Evaluation is bit-exact
//! ([`crate::fhe::determinism`]), so the replay must give **the same bytes** as the logged
//! output; a mismatch is refused and never decrypted. It decrypts its own replay. Its verdict
//! names the query, the evaluation, the inputs it selected and the checkpoint it followed.
//!
//! Every refusal is logged through the service (`DecryptionRefused`), and a query is decided
//! once: asking again returns the same verdict. Days more than [`DEFAULT_DAY_WINDOW`] days from
//! its clock are refused (binary search over the day would recover a listing's hidden end).
//!
//! [`ReplayPolicy::Sampled`] replays a keyed-random share of the requests and decrypts the
//! engine's logged output for the rest; `SECURITY.md` says what that costs.

mod evaluate;
pub mod follow;
mod ingested;
pub mod process;
mod request;

pub use request::{
    refusal_status, Clock, DecideRequest, Evaluated, LogView, Refusal, DECIDE_PATH,
    DEFAULT_DAY_WINDOW, EVALUATE_PATH, PARTY, REFUSALS_PATH, SERVICE_PARTY,
};
use request::{system_clock, KeptEvaluation, KEPT_EVALUATIONS};

use crate::circuits::catalog::Catalog;
use crate::circuits::fhe::plan::OutputKind;
use crate::circuits::policy::{Output, Policy};
use crate::fhe::engine::{read_output, sha3, Engine, StoredRecord};
use crate::fhe::keys::SecretMaterial;
use crate::fhe::SealedRecord;
use crate::protocols::log::entry::{LogEntry, LogLeaf, Outcome};
use crate::protocols::log::hash::Hash;
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::signing::{PublicKey, Role, SigningKey};
use crate::protocols::verdict::{Evidence, SignedVerdict, TrustAnchors, Verdict};
use crate::store::{Batch, Store, Table};
use follow::Follower;
use sha3::{Digest, Sha3_256};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tfhe::prelude::*;

/// When the key authority replays an evaluation before decrypting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayPolicy {
    /// Every request (the default).
    Always,
    /// One request in `one_in`, chosen by a keyed hash of the output the service cannot predict.
    Sampled {
        /// Sampling ratio.
        one_in: u32,
    },
}

/// The key authority.
pub struct KeyAuthority {
    secret: Arc<SecretMaterial>,
    signing_key: SigningKey,
    engine: Arc<Engine>,
    catalog: Catalog,
    anchors: TrustAnchors,
    follower: Mutex<Follower>,
    store: Arc<dyn Store>,
    replay: ReplayPolicy,
    day_window: u32,
    clock: Clock,
    sample_key: [u8; 32],
    budget: Budget,
    /// One decision at a time: two requests for one query must get one verdict.
    deciding: Mutex<()>,
    /// Keep what it verified of each upload (`ingested`), and use it for later decisions.
    ingest_once: bool,
    /// Evaluate queries for the service to log ([`KeyAuthority::evaluate`]) where it replays
    /// every request.
    evaluate_once: bool,
    /// Its own evaluations, by query index, until decided.
    evaluated: Mutex<BTreeMap<u64, KeptEvaluation>>,
    evaluations_run: std::sync::atomic::AtomicU64,
}

/// How many queries the key authority decides per day of its clock (0: no limit): per (bank,
/// subject), and per subject across banks. The service limits what banks ask; this limits what
/// a dishonest service can have decided about one subject with queries it logged itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// Decisions per (bank, subject) per day.
    pub per_bank: u32,
    /// Decisions per subject per day, all banks together.
    pub per_subject: u32,
}

const BUDGET_PREFIX: &[u8] = b"ka/budget/";

fn budget_key(today: u32, subject: &Pseudonym, bank: Option<&PartyId>) -> Vec<u8> {
    let mut k = BUDGET_PREFIX.to_vec();
    k.extend_from_slice(&today.to_be_bytes());
    k.extend_from_slice(subject.to_text().as_bytes());
    if let Some(b) = bank {
        k.push(b'/');
        k.extend_from_slice(b.as_str().as_bytes());
    }
    k
}

const DECIDED_PREFIX: &[u8] = b"ka/decided/";
fn decided_key(query_index: u64) -> Vec<u8> {
    let mut k = DECIDED_PREFIX.to_vec();
    k.extend_from_slice(&query_index.to_be_bytes());
    k
}

impl KeyAuthority {
    /// A key authority with its own store (`store`: its copy of the log and its decisions) and
    /// an engine on the public material (its own pool in a deployment). It follows the log
    /// pinned by `anchors` (whose `key_authority` must be its own key).
    pub fn new(
        secret: Arc<SecretMaterial>,
        engine: Arc<Engine>,
        signing_key: SigningKey,
        catalog: Catalog,
        anchors: TrustAnchors,
        store: Arc<dyn Store>,
    ) -> Result<Self, String> {
        if signing_key.role() != Role::KeyAuthority {
            return Err("the key authority signs with a key-authority key".into());
        }
        if anchors.key_authority != signing_key.public() {
            return Err("the anchors name another key authority".into());
        }
        let mut sample_key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut sample_key);
        Ok(KeyAuthority {
            secret,
            signing_key,
            engine,
            catalog,
            follower: Mutex::new(Follower::open(store.clone(), &anchors)?),
            anchors,
            store,
            replay: ReplayPolicy::Always,
            day_window: DEFAULT_DAY_WINDOW,
            clock: Arc::new(system_clock),
            sample_key,
            budget: Budget::default(),
            deciding: Mutex::new(()),
            ingest_once: true,
            evaluate_once: true,
            evaluated: Mutex::new(BTreeMap::new()),
            evaluations_run: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Sets the replay policy.
    pub fn set_replay(&mut self, replay: ReplayPolicy) {
        self.replay = replay;
    }

    /// Sets how many days either side of its clock a query may ask about.
    pub fn set_day_window(&mut self, days: u32) {
        self.day_window = days;
    }

    /// Whether it keeps what it verified of each upload for later decisions (the default), or
    /// verifies every input again for every decision.
    pub fn set_ingest_once(&mut self, on: bool) {
        self.ingest_once = on;
    }

    /// Whether it evaluates queries for the service to log where it replays every request (the
    /// default), or leaves evaluating to the service and replays (what it did before; for
    /// measurement).
    pub fn set_evaluate_once(&mut self, on: bool) {
        self.evaluate_once = on;
    }

    /// Sets its daily budget of decisions (by default none: the process sets one).
    pub fn set_budget(&mut self, budget: Budget) {
        self.budget = budget;
    }

    /// Replaces its clock (tests set the day; a deployment keeps the system clock).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Its verdict-signing public key.
    pub fn public_key(&self) -> PublicKey {
        self.signing_key.public()
    }

    /// Log entries it has verified.
    pub fn log_size(&self) -> u64 {
        self.follower
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .size()
    }

    fn sampled(&self, output_hash: &Hash) -> bool {
        match self.replay {
            ReplayPolicy::Always => true,
            ReplayPolicy::Sampled { one_in } => {
                let mut h = Sha3_256::new();
                h.update(b"credence/v1/replay-sample\0");
                h.update(self.sample_key);
                h.update(output_hash);
                let d: [u8; 32] = h.finalize().into();
                u32::from_le_bytes([d[0], d[1], d[2], d[3]]).is_multiple_of(one_in.max(1))
            }
        }
    }

    /// Decides a request from the log: follows it, checks the query, selects the inputs,
    /// replays, compares, decrypts its own replay and signs — or refuses, and logs the refusal
    /// through `view`. A query already decided gets the same verdict again.
    pub fn decide(
        &self,
        view: &dyn LogView,
        req: &DecideRequest,
    ) -> Result<SignedVerdict, Refusal> {
        let _one = self.deciding.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = self
            .store
            .get(Table::Meta, &decided_key(req.query_index))
            .map_err(|e| Refusal::Internal(e.to_string()))?
        {
            let v = SignedVerdict::from_bytes(&v).map_err(|e| Refusal::Internal(e.to_string()))?;
            if let Evidence::Decryption { output_hash, .. } = &v.verdict.evidence {
                if bool::from(output_hash.ct_eq(&sha3(&req.output))) {
                    return Ok(v);
                }
            }
            return self.refused(view, req.query_index, Refusal::NotLogged);
        }
        match self.decide_new(view, req) {
            Ok(v) => Ok(v),
            Err(r) => self.refused(view, req.query_index, r),
        }
    }

    fn refused<T>(
        &self,
        view: &dyn LogView,
        query_index: u64,
        refusal: Refusal,
    ) -> Result<T, Refusal> {
        tracing::warn!(query_index, reason = %refusal, "decryption refused");
        if let Err(e) = view.record_refusal(query_index, refusal.code()) {
            tracing::error!(query_index, error = %e, "the refusal could not be logged");
        }
        Err(refusal)
    }

    fn decide_new(
        &self,
        view: &dyn LogView,
        req: &DecideRequest,
    ) -> Result<SignedVerdict, Refusal> {
        let q = req.query_index;
        let context = self.query_context(view, q)?;
        let cp = context.cp;
        let Checked {
            subject,
            policy_hash,
            as_of_day,
            policy,
            issued_at,
            spent,
        } = context.checked;
        // The one evaluation logged for this query, up to the checkpoint.
        let [(evaluation_index, input_hashes, logged_output)] = context.evaluations.as_slice()
        else {
            return Err(Refusal::NoEvaluation(format!(
                "{} evaluations of query {q} are logged; exactly one is needed",
                context.evaluations.len()
            )));
        };
        // The key authority selects the inputs itself: the latest logged sealed record per
        // attribute before the query.
        if *input_hashes != context.expected {
            return Err(Refusal::WrongInputs(format!(
                "{} logged, {} expected",
                input_hashes.len(),
                context.expected.len()
            )));
        }
        let output_hash = sha3(&req.output);
        if !bool::from(output_hash.ct_eq(logged_output)) {
            return Err(Refusal::NotLogged);
        }
        let output =
            read_output(&req.output, self.engine.public()).map_err(Refusal::NotAnOutput)?;
        // Where the anchors pin authority roots, only certified holder keys count; what the log
        // says of each input is checked against the upload fetched for it.
        let holder_keys = context.holder_keys;
        let input_entries = context.input_entries;
        let logged = Logged {
            leaves: &input_entries,
            query: input_entries.len() as u64,
        };
        // Its own evaluation of exactly this query and these inputs, if it made one
        // ([`KeyAuthority::evaluate`]): the logged output is then its own bytes, and replaying
        // would give them again.
        let own = self.kept_evaluation(q, &policy_hash, as_of_day, input_hashes, &output_hash);
        let (to_decrypt, coverage) = if let Some(coverage) = own {
            (output, coverage)
        } else if self.sampled(&output_hash) {
            let (replayed, stored) = self.replay(
                view,
                &logged,
                &holder_keys,
                &policy,
                &subject,
                as_of_day,
                input_hashes,
            )?;
            // Bit-exact replay: the logged output must be exactly the evaluation of the logged
            // inputs. A mismatch is never decrypted.
            if !bool::from(sha3(&replayed).ct_eq(&output_hash)) {
                return Err(Refusal::OutputMismatch);
            }
            (
                read_output(&replayed, self.engine.public()).map_err(Refusal::Internal)?,
                Engine::coverage(&policy, &stored),
            )
        } else {
            let attributes = self.input_attributes(view, &logged, input_hashes)?;
            (output, Engine::coverage(&policy, &attributes))
        };
        let value: u8 = to_decrypt.decrypt(&self.secret.client_key);
        let outcome = match (&policy.output, value) {
            (Output::Eligible(_), 0 | 1) => Outcome::Eligible(value == 1),
            (Output::Grade { bands, .. }, g) if usize::from(g) <= bands.len() => Outcome::Grade(g),
            _ => return Err(Refusal::InvalidOutcome),
        };
        let verdict = Verdict {
            policy_hash,
            subject,
            as_of_day,
            outcome,
            coverage,
            evidence: Evidence::Decryption {
                query_index: q,
                evaluation_index: *evaluation_index,
                input_hashes: input_hashes.clone(),
                output_hash,
                checkpoint_size: cp.size,
                checkpoint_root: cp.root,
            },
            log_indices: vec![q, *evaluation_index],
            issued_at,
        };
        let signed = verdict
            .sign(&self.signing_key)
            .map_err(|e| Refusal::Internal(e.to_string()))?;
        let mut b = Batch::new();
        b.put(Table::Meta, decided_key(q), signed.to_bytes());
        for (key, n) in spent {
            b.put(Table::Meta, key, (n + 1).to_be_bytes().to_vec());
        }
        self.store
            .commit(&b)
            .map_err(|e| Refusal::Internal(e.to_string()))?;
        Ok(signed)
    }

    /// Follows the log to the view's checkpoint and verifies every upload logged since it
    /// last did, whoever it is about and whatever becomes of this request, so that a
    /// decision's time does not depend on whether its inputs were read before.
    fn follow(
        &self,
        view: &dyn LogView,
        follower: &mut Follower,
    ) -> Result<crate::protocols::log::checkpoint::Checkpoint, Refusal> {
        let followed = follower.size();
        let (_, cp) = follower.sync(view, &self.anchors)?;
        self.verify_new_uploads(view, follower.leaves(), followed);
        Ok(cp)
    }

    /// Follows the log now, outside any request, and verifies the uploads logged since it last
    /// did (a deployment does this in the background, so that the first decision after a batch
    /// of uploads does not pay for verifying them); returns the entries it has verified.
    pub fn follow_log(&self, view: &dyn LogView) -> Result<u64, Refusal> {
        let mut follower = self.follower.lock().unwrap_or_else(|e| e.into_inner());
        self.follow(view, &mut follower)?;
        Ok(follower.size())
    }

    /// The query logged at `q`, checked: asked by its bank (signed, once, not a forward), on a
    /// day within the window, with consent where it needs one, under a published policy, and
    /// within today's budget.
    fn check_query(
        &self,
        view: &dyn LogView,
        leaves: &[Option<LogLeaf>],
        q: u64,
    ) -> Result<Checked, Refusal> {
        let Some(LogEntry::Query {
            bank,
            subject,
            policy_hash,
            as_of_day,
            purpose,
            consent_hash,
            region,
            ..
        }) = usize::try_from(q)
            .ok()
            .and_then(|i| leaves.get(i))
            .and_then(|l| l.as_ref())
            .map(|l| l.entry.clone())
        else {
            return Err(Refusal::UnloggedQuery(q));
        };
        // A question the bank asked to have forwarded is answered by the partner, never here.
        if let Some(region) = region {
            return Err(Refusal::Unasked(format!(
                "its bank asked for it to be forwarded to {region}, not answered here"
            )));
        }
        // A question its bank signed, over exactly these fields, for this log, once: else the
        // service made it up, changed it, or logged it again.
        crate::protocols::query::check_logged_request(&self.anchors.log.name, leaves, q)
            .map_err(|e| Refusal::Unasked(e.to_string()))?;
        let issued_at = (self.clock)();
        let today = u32::try_from(issued_at / 86_400).unwrap_or(u32::MAX);
        if as_of_day.abs_diff(today) > self.day_window {
            return Err(Refusal::DayOutOfWindow {
                day: as_of_day,
                today,
                window: self.day_window,
            });
        }
        self.check_consent(
            view,
            leaves,
            &bank,
            &subject,
            &policy_hash,
            &purpose,
            as_of_day,
            consent_hash,
        )?;
        let policy = self.policy(view, leaves, &policy_hash)?;
        let spent = self.spent(today, &bank, &subject)?;
        Ok(Checked {
            subject,
            policy_hash,
            as_of_day,
            policy,
            issued_at,
            spent,
        })
    }

    /// The decisions counted today for (`bank`, `subject`) and for `subject`, with their keys;
    /// refused when either is spent.
    fn spent(
        &self,
        today: u32,
        bank: &PartyId,
        subject: &Pseudonym,
    ) -> Result<Vec<(Vec<u8>, u32)>, Refusal> {
        let mut out = Vec::new();
        for (limit, key) in [
            (self.budget.per_bank, budget_key(today, subject, Some(bank))),
            (self.budget.per_subject, budget_key(today, subject, None)),
        ] {
            if limit == 0 {
                continue;
            }
            let n = self
                .store
                .get(Table::Meta, &key)
                .map_err(|e| Refusal::Internal(e.to_string()))?
                .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
                .map(u32::from_be_bytes)
                .unwrap_or(0);
            if n >= limit {
                return Err(Refusal::OverBudget { limit });
            }
            out.push((key, n));
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn check_consent(
        &self,
        view: &dyn LogView,
        leaves: &[Option<LogLeaf>],
        bank: &PartyId,
        subject: &Pseudonym,
        policy_hash: &Hash,
        purpose: &str,
        day: u32,
        consent_hash: Option<Hash>,
    ) -> Result<(), Refusal> {
        let q = crate::party::replay::ConsentQuestion {
            bank,
            subject,
            policy_hash,
            purpose,
            day,
            consent_hash,
        };
        crate::party::replay::check_consent(
            &q,
            |h| view.consent(h).ok(),
            &crate::party::replay::SubjectBindings::of(leaves),
        )
        .map(|_| ())
        .map_err(|why| Refusal::Consent(why.into()))
    }

    fn policy(
        &self,
        view: &dyn LogView,
        leaves: &[Option<LogLeaf>],
        hash: &Hash,
    ) -> Result<Policy, Refusal> {
        let logged = leaves.iter().flatten().any(|l| {
            matches!(&l.entry, LogEntry::PolicyPublished { policy_hash, .. } if policy_hash == hash)
        });
        if !logged {
            return Err(Refusal::UnknownPolicy);
        }
        let text = view.policy_text(hash).map_err(|_| Refusal::UnknownPolicy)?;
        match Policy::parse(&text, &self.catalog) {
            Ok(p) if p.hash() == *hash => Ok(p),
            _ => Err(Refusal::UnknownPolicy),
        }
    }

    fn fetch(
        &self,
        view: &dyn LogView,
        logged: &Logged<'_>,
        hash: &Hash,
    ) -> Result<SealedRecord, Refusal> {
        let bytes = view
            .upload(hash)
            .map_err(|e| Refusal::BadInput(format!("upload {}: {e}", hex::encode(hash))))?;
        let record = SealedRecord::from_bytes(&bytes)
            .map_err(|e| Refusal::BadInput(format!("upload {}: {e}", hex::encode(hash))))?;
        if record.submission.hash() != *hash {
            return Err(Refusal::BadInput(
                "the service returned another upload than the logged one".into(),
            ));
        }
        crate::party::replay::check_logged_upload(logged.leaves, logged.query, hash, &record)
            .map_err(Refusal::WrongInputs)?;
        Ok(record)
    }
}

/// A query as [`KeyAuthority::check_query`] found it.
struct Checked {
    subject: Pseudonym,
    policy_hash: Hash,
    as_of_day: u32,
    policy: Policy,
    issued_at: u64,
    spent: Vec<(Vec<u8>, u32)>,
}

/// Only what the checkpoint relied on covers (an older checkpoint than the copy's).
fn covered(follower: &Follower, size: u64) -> &[Option<LogLeaf>] {
    let leaves = follower.leaves();
    &leaves[..usize::try_from(size)
        .unwrap_or(usize::MAX)
        .min(leaves.len())]
}

/// The log's entries about the inputs `inputs` of the query at `q`.
fn input_entries(leaves: &[Option<LogLeaf>], q: u64, inputs: &[Hash]) -> Vec<Option<LogLeaf>> {
    leaves
        .iter()
        .take(q as usize)
        .filter(|l| {
            matches!(l.as_ref().map(|l| &l.entry),
                Some(LogEntry::AttributeSubmitted { content_hash, .. }) if inputs.contains(content_hash))
        })
        .cloned()
        .collect()
}

/// The log's entries about a decision's inputs.
struct Logged<'a> {
    leaves: &'a [Option<LogLeaf>],
    query: u64,
}
