//! What a request to the key authority is, what it reads of the service, and why it refuses.

use crate::protocols::log::checkpoint::SignedCheckpoint;
use crate::protocols::log::entry::LogLeaf;
use crate::protocols::log::hash::Hash;
use std::sync::Arc;

/// What the key authority reads from the service: the log and the objects it refers to by
/// hash. Nothing read here is trusted: checkpoints are verified against the pinned anchors,
/// entries against the checkpoint's root, objects against the logged hashes.
pub trait LogView: Send + Sync {
    /// The service's latest checkpoint (signed by the log, cosigned by witnesses).
    fn checkpoint(&self) -> Result<SignedCheckpoint, String>;
    /// Leaves `from..to` (at most 1000), with their indices.
    fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, LogLeaf)>, String>;
    /// A holder's sealed upload by its submission hash, as uploaded.
    fn upload(&self, hash: &Hash) -> Result<Vec<u8>, String>;
    /// A consent token by hash.
    fn consent(&self, hash: &Hash) -> Result<Vec<u8>, String>;
    /// The canonical text of a published policy by hash.
    fn policy_text(&self, hash: &Hash) -> Result<String, String>;
    /// Logs a refusal (`LogEntry::DecryptionRefused`); returns its log index.
    fn record_refusal(&self, query_index: u64, reason: &str) -> Result<u64, String>;
}

/// A request to decrypt: it names a logged query and hands over the output ciphertext of the
/// evaluation logged for it. Everything else — the subject, the policy, the day, the inputs,
/// the logged output hash — the key authority reads from the log itself.
pub struct DecideRequest {
    /// Log index of the query.
    pub query_index: u64,
    /// The evaluation's output ciphertext (safe-serialized `FheUint8`).
    pub output: Vec<u8>,
}

/// A clock: seconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub(crate) fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why the key authority refused. It decrypted nothing in every case but
/// [`Refusal::InvalidOutcome`], which only sampled mode can reach. Every refusal about a
/// request is logged through the service ([`Refusal::code`] is the logged reason).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The log could not be followed: what the service sent does not verify (checkpoint
    /// unverifiable, fork, rollback, entries that do not hash to the root). Evidence against
    /// the service.
    #[error("the log cannot be relied on: {0}")]
    Checkpoint(String),
    /// The service's checkpoint could not be read (the service unreachable, an answer that is
    /// no checkpoint): no decision without it, but nothing the service signed is wrong. (Entries
    /// a signed checkpoint covers that the service then does not hand over are
    /// [`Refusal::Checkpoint`].)
    #[error("the service's log could not be read: {0}")]
    LogUnreadable(String),
    /// The named index is no logged query (beyond the checkpoint, or another entry).
    #[error("no logged query at index {0}")]
    UnloggedQuery(u64),
    /// The query carries no valid signed request of its bank (a question no bank asked, one
    /// changed after the bank signed it, or one logged again).
    #[error("the query is not one its bank asked: {0}")]
    Unasked(String),
    /// The query's day is outside the accepted window around the key authority's clock.
    #[error("the query is about day {day}, more than {window} days from today ({today})")]
    DayOutOfWindow {
        /// The day asked about.
        day: u32,
        /// The key authority's day.
        today: u32,
        /// The window, days either side.
        window: u32,
    },
    /// The query about a person has no valid consent.
    #[error("consent: {0}")]
    Consent(String),
    /// The policy hash names no policy the log published.
    #[error("unknown policy")]
    UnknownPolicy,
    /// No evaluation of the query is logged (or more than one).
    #[error("{0}")]
    NoEvaluation(String),
    /// The logged evaluation's inputs are not the latest sealed record per attribute before
    /// the query (one left out, a stale one, an extra one, or another order).
    #[error(
        "the logged evaluation's inputs are not the subject's latest records before the query: {0}"
    )]
    WrongInputs(String),
    /// An input's holder is not registered in the log.
    #[error("input from unregistered holder `{0}`")]
    UnknownHolder(String),
    /// An input's upload, signature, list hash, subject, or proof does not check.
    #[error("input rejected: {0}")]
    BadInput(String),
    /// The ciphertext is not an evaluation output (e.g. a raw attribute ciphertext).
    #[error("not an evaluation output: {0}")]
    NotAnOutput(String),
    /// The output is not the one the log records.
    #[error("the output is not the logged evaluation output")]
    NotLogged,
    /// The key authority's replay gives other output bytes than the logged output.
    #[error("the logged output is not the evaluation of the logged inputs (replay differs)")]
    OutputMismatch,
    /// Its daily budget of decisions about this subject (per bank, or all banks together) is
    /// spent.
    #[error("the key authority has decided {limit} queries about this subject today: its daily budget is spent")]
    OverBudget {
        /// The budget that is spent.
        limit: u32,
    },
    /// The service hands holders public FHE material that is not the key authority's.
    #[error("the service's public FHE material is not this key authority's: {0}")]
    ForeignMaterial(String),
    /// The decrypted value is not a boolean (eligibility) or a grade index.
    #[error("the output decrypts to no valid outcome for this policy")]
    InvalidOutcome,
    /// Internal failure.
    #[error("internal: {0}")]
    Internal(String),
    /// Asked to evaluate where it replays only a sample of requests: the service evaluates
    /// (never logged: nothing was asked of it that it refuses).
    #[error("this key authority replays a sample of requests and does not evaluate them: the service evaluates")]
    NotEvaluating,
}

impl Refusal {
    /// Every [`Refusal::code`]: the reasons the service accepts in a logged refusal.
    pub const CODES: [&'static str; 18] = [
        "checkpoint",
        "log-unreadable",
        "unlogged-query",
        "unasked",
        "day-window",
        "consent",
        "unknown-policy",
        "no-evaluation",
        "inputs",
        "unknown-holder",
        "bad-input",
        "not-an-output",
        "not-logged",
        "output-mismatch",
        "invalid-outcome",
        "budget",
        "fhe-material",
        "internal",
    ];

    /// The stable reason logged in `DecryptionRefused`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Checkpoint(_) => "checkpoint",
            Refusal::LogUnreadable(_) => "log-unreadable",
            Refusal::UnloggedQuery(_) => "unlogged-query",
            Refusal::Unasked(_) => "unasked",
            Refusal::DayOutOfWindow { .. } => "day-window",
            Refusal::Consent(_) => "consent",
            Refusal::UnknownPolicy => "unknown-policy",
            Refusal::NoEvaluation(_) => "no-evaluation",
            Refusal::WrongInputs(_) => "inputs",
            Refusal::UnknownHolder(_) => "unknown-holder",
            Refusal::BadInput(_) => "bad-input",
            Refusal::NotAnOutput(_) => "not-an-output",
            Refusal::NotLogged => "not-logged",
            Refusal::OutputMismatch => "output-mismatch",
            Refusal::InvalidOutcome => "invalid-outcome",
            Refusal::OverBudget { .. } => "budget",
            Refusal::ForeignMaterial(_) => "fhe-material",
            Refusal::Internal(_) => "internal",
            Refusal::NotEvaluating => "not-evaluating",
        }
    }
}

/// Days either side of the key authority's clock a query may ask about (by default).
pub const DEFAULT_DAY_WINDOW: u32 = 30;

/// The key authority process's route the service calls.
pub const DECIDE_PATH: &str = "/v1/decide";
/// The key authority process's route that evaluates a logged query for the service to log.
pub const EVALUATE_PATH: &str = "/v1/evaluate";
/// The service's route for the key authority's refusals.
pub const REFUSALS_PATH: &str = "/v1/key-authority/refusals";
/// The party name the service signs its requests to the key authority as.
pub const SERVICE_PARTY: &str = "service";
/// The party name the key authority reads the log as.
pub const PARTY: &str = "key-authority";

/// The HTTP status of a refusal code, on the key authority's API and the service's.
pub fn refusal_status(code: &str) -> u16 {
    match code {
        "day-window" => 400,
        "consent" | "unasked" => 403,
        "checkpoint" | "log-unreadable" | "unavailable" | "fhe-material" => 503,
        "budget" => 429,
        "not-evaluating" => 409,
        "internal" => 500,
        _ => 422,
    }
}

/// What [`super::KeyAuthority::evaluate`] returns: the output to log, and the inputs it selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluated {
    /// The output ciphertext (safe-serialized `FheUint8`).
    pub output: Vec<u8>,
    /// The inputs it selected from the log and evaluated, in order.
    pub input_hashes: Vec<Hash>,
}

/// Its own evaluations it keeps until their decision (at most this many, oldest dropped
/// first: a dropped one is replayed, as without them).
pub(super) const KEPT_EVALUATIONS: usize = 1024;

pub(super) struct KeptEvaluation {
    pub(super) policy_hash: Hash,
    pub(super) day: u32,
    pub(super) input_hashes: Vec<Hash>,
    pub(super) output_hash: Hash,
    pub(super) coverage: Vec<crate::protocols::names::AttributeId>,
}
