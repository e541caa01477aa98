//! The request bodies and query parameters of the API (their schemas are in the OpenAPI
//! document, generated from these types).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A subject: an enterprise by its USCC, or a person by resident ID.
#[derive(Deserialize, ToSchema, Debug, Clone)]
pub struct SubjectRef {
    /// `enterprise` or `person`.
    #[schema(example = "enterprise")]
    pub kind: String,
    /// USCC (18 characters) or resident ID (18 characters).
    #[schema(example = "91350100M000100Y43")]
    pub id: String,
}

/// A bank's sealed-path question.
#[derive(Deserialize, ToSchema, Debug)]
pub struct BankQuery {
    /// Whom the question is about.
    pub subject: SubjectRef,
    /// A published policy's name.
    #[schema(example = "xinyidai")]
    pub policy: String,
    /// Days since 1970-01-01 (default today).
    pub day: Option<u32>,
    /// Why the bank asks (logged; ≤ 200 bytes).
    #[schema(example = "loan application 2026-118")]
    pub purpose: String,
    /// Hex of a signed consent token (required for persons).
    pub consent: Option<String>,
    /// The log origin of a partner region holding the subject's records (forwarded query).
    pub region: Option<String>,
    /// The bank's signature over exactly this question (`query-request/v1`: this service's
    /// origin, the bank, the subject's pseudonym, the policy hash, the day, the purpose, the
    /// consent's hash and the nonce). Required: it is logged in the `Query` entry, and the key
    /// authority decrypts nothing for a question its bank did not sign.
    pub request: Option<SignedRequestBody>,
}

/// A bank's signed question as it travels: the nonce and the signature. The statement signed is
/// rebuilt by the service from the question itself (never sent), so a signature over any other
/// question does not verify.
#[derive(Deserialize, ToSchema, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct SignedRequestBody {
    /// 32 hex digits: a random nonce of the bank's (one signed request, one logged question).
    #[schema(example = "00112233445566778899aabbccddeeff")]
    pub nonce: String,
    /// 128 hex digits: the bank's Ed25519 signature over `query-request/v1` (see
    /// `protocols/signatures.md`).
    pub signature: String,
}

/// One signed commitment with its opening sealed to the subject.
#[derive(Deserialize, ToSchema, Debug)]
pub struct CommittedItem {
    /// Hex of a holder-signed attribute commitment.
    pub commitment: String,
    /// Hex of the opening sealed to the subject.
    pub opening: String,
}

/// `POST /v1/holder/committed`: a batch of signed commitments, all checked before any is
/// stored, stored and logged in one commit.
#[derive(Deserialize, ToSchema, Debug)]
pub struct CommittedBatch {
    /// 1 to 256 items.
    pub items: Vec<CommittedItem>,
}

/// A bank's proven-path question: the sealed-path question plus the subject's package.
#[derive(Deserialize, ToSchema, Debug)]
pub struct ProofQuery {
    /// The question.
    #[serde(flatten)]
    pub question: BankQuery,
    /// Hex of the subject's proof package.
    pub package: String,
}

/// `POST /v1/operator/certificates`: log the certificate of a holder registered before
/// authority roots were pinned.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertifyHolder {
    /// The registered holder party.
    pub party: String,
    /// The authority certifying it (its root is pinned).
    pub authority: String,
    /// Hex of the authority root's signature over `holder-certificate/v1` {authority, party,
    /// key} (`credence authority certify`).
    pub certificate: String,
}

/// `POST /v1/operator/parties`: register a party and its key.
#[derive(Deserialize, ToSchema, Debug)]
pub struct RegisterParty {
    /// The party's id (lower-case letters, digits, `.`, `-`; ≤ 64).
    #[schema(example = "bank-a")]
    pub party: String,
    /// holder, bank, subject, witness, auditor, key-authority or operator.
    #[schema(example = "bank")]
    pub role: String,
    /// Hex of its Ed25519 verifying key (32 bytes).
    pub key: String,
    /// For role `subject`: the subject it speaks for (the operator has checked the identity).
    pub subject: Option<SubjectRef>,
    /// For role `subject`: hex of its X25519 sealing key (holders seal openings to it).
    pub sealing_key: Option<String>,
    /// For role `holder`, where the anchors pin authority roots: the authority certifying it
    /// (`court`, …).
    pub authority: Option<String>,
    /// For role `holder`, where the anchors pin authority roots: hex of the authority root's
    /// signature over `holder-certificate/v1` {authority, party, key}.
    pub certificate: Option<String>,
}

/// `POST /v1/holder/listings`: the notice of a listing decision.
#[derive(Deserialize, ToSchema, Debug)]
pub struct ListingNotice {
    /// The listed subject.
    pub subject: SubjectRef,
    /// The list attribute (kind `until`).
    pub attribute: String,
    /// Severity class (minor, general, serious).
    pub class: String,
    /// Decision day.
    pub decided: u32,
    /// Extension of the period, days.
    #[serde(default)]
    pub extension_days: u32,
}

/// `POST /v1/subject/repairs`: apply for the repair (信用修复) of a listing.
#[derive(Deserialize, ToSchema, Debug)]
pub struct RepairApplication {
    /// The holder that listed the subject.
    pub holder: String,
    /// The list attribute.
    pub attribute: String,
    /// Why the listing should end (shown to the holder).
    pub reason: String,
    /// The listing's class and decision day (from the holder's notice): the service computes
    /// the earliest repair day from the regimes table, shows it, and refuses an early
    /// application.
    pub listing: Option<ListingRef>,
}

/// A listing's class and decision day.
#[derive(Deserialize, ToSchema, Debug)]
pub struct ListingRef {
    /// Severity class.
    pub class: String,
    /// Decision day.
    pub decided: u32,
    /// Extension of the period, days.
    #[serde(default)]
    pub extension_days: u32,
}

/// `POST /v1/holder/repairs/decide`: approve (with the new commitment) or refuse.
#[derive(Deserialize, ToSchema, Debug)]
pub struct RepairDecision {
    /// The application's id.
    pub id: String,
    /// Approve or refuse.
    pub approve: bool,
    /// The reason, shown to the subject.
    pub reason: String,
    /// Approval: the day the listing ends (the new commitment's value).
    pub repair_day: Option<u32>,
    /// Approval: the new commitment (one item, this subject and attribute).
    pub items: Option<Vec<CommittedItem>>,
}

/// `POST /v1/subject/disputes`: dispute a log entry about me.
#[derive(Deserialize, ToSchema, Debug)]
pub struct DisputeFiling {
    /// Hex of a `dispute/v1` statement signed by the caller.
    pub statement: String,
}

/// `POST /v1/holder/disputes/answer`: uphold, or correct with a new commitment.
#[derive(Deserialize, ToSchema, Debug)]
pub struct DisputeAnswer {
    /// The dispute's log index.
    pub dispute_index: u64,
    /// Uphold the disputed record (no correction).
    pub uphold: bool,
    /// Correction: the new commitment (one item, same subject and attribute).
    pub items: Option<Vec<CommittedItem>>,
}

/// `POST /v1/subject/pledges`: a credit pledge (信用承诺).
#[derive(Deserialize, ToSchema, Debug)]
pub struct PledgeFiling {
    /// Hex of a `pledge/v1` statement signed by the caller.
    pub statement: String,
}

/// `POST /v1/witness/cosign`: a partner log's checkpoint to cosign.
#[derive(Deserialize, ToSchema, Debug)]
pub struct CosignRequest {
    /// The partner's signed checkpoint (note text).
    pub checkpoint: String,
    /// Hex of a consistency proof from the last checkpoint this witness cosigned for that log
    /// (omitted for the first).
    pub consistency: Option<String>,
}

/// `GET /v1/audit/entries`.
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    /// First index.
    pub from: u64,
    /// One past the last index (at most 1000 entries are returned).
    pub to: u64,
}

/// `GET /v1/audit/proof/inclusion`.
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The leaf's index.
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
}

/// `GET /v1/audit/proof/consistency`.
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older size.
    pub old: u64,
    /// The newer size.
    pub new: u64,
}

/// `GET /v1/audit/object`.
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ObjectQuery {
    /// verdict, consent or submission.
    pub kind: String,
    /// Hex of the object's hash (as the log names it).
    pub hash: String,
}

/// `GET /v1/audit/keys`.
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct KeysQuery {
    /// Comma-separated party ids.
    pub parties: String,
}

/// `GET /v1/bank/receipt`.
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ReceiptQuery {
    /// Hex of the verdict hash.
    pub verdict: String,
}

/// `GET /v1/fhe/public`.
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct FhePartQuery {
    /// `public_key` or `crs`: that part's bytes; omitted: the list of parts with hashes.
    pub part: Option<String>,
}

// ---- responses ----

/// One part of the public FHE material a holder needs.
#[derive(Serialize, ToSchema, Debug, Clone)]
pub struct FhePart {
    /// `public_key` or `crs`.
    pub part: String,
    /// Its size.
    pub bytes: usize,
    /// Hex of its SHA3-256 (compare with the one the operator publishes).
    pub sha3_256: String,
}

/// `GET /v1/fhe/public` without `part`.
#[derive(Serialize, ToSchema, Debug)]
pub struct FheParts {
    /// The parts.
    pub parts: Vec<FhePart>,
    /// The tfhe parameter set they belong to.
    pub parameters: String,
}

/// A registered party.
#[derive(Serialize, ToSchema, Debug)]
pub struct Registered {
    /// Its id.
    pub party: String,
    /// Index of its `PartyRegistered` log entry.
    pub log_index: u64,
}

/// A published policy.
#[derive(Serialize, ToSchema, Debug)]
pub struct Published {
    /// Hex of the policy hash (of its canonical text).
    pub policy_hash: String,
    /// Index of its `PolicyPublished` log entry.
    pub log_index: u64,
}

/// A subject's pseudonym (and, for holders, its sealing key).
#[derive(Serialize, ToSchema, Debug)]
pub struct PseudonymAnswer {
    /// The pseudonym (`e1…` enterprise, `p1…` person).
    pub pseudonym: String,
    /// Holders only: hex of the subject's X25519 sealing key, if it is registered.
    pub sealing_key: Option<String>,
}

/// An accepted upload.
#[derive(Serialize, ToSchema, Debug)]
pub struct Accepted {
    /// Log indices of the entries it added.
    pub log_indices: Vec<u64>,
    /// Sealed records: bytes the engine stores (compressed ciphertexts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_bytes: Option<usize>,
}

/// A verdict's outcome: `{"eligible": bool}` or `{"grade": n}`.
#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeBody {
    /// An eligibility policy's answer.
    Eligible(bool),
    /// A grading policy's answer.
    Grade(u8),
}

impl From<crate::protocols::log::entry::Outcome> for OutcomeBody {
    fn from(o: crate::protocols::log::entry::Outcome) -> Self {
        match o {
            crate::protocols::log::entry::Outcome::Eligible(b) => OutcomeBody::Eligible(b),
            crate::protocols::log::entry::Outcome::Grade(g) => OutcomeBody::Grade(g),
        }
    }
}

/// Which of the policy's attributes had records, which took defaults, which required ones
/// were missing.
#[derive(Serialize, ToSchema, Debug)]
pub struct Coverage {
    /// Attributes answered from records.
    pub records: Vec<String>,
    /// Attributes that took the catalogue default (no record).
    pub defaults: Vec<String>,
    /// Required attributes with no record (the verdict is then "not eligible").
    pub missing_required: Vec<String>,
}

/// An open dispute on an attribute a verdict read.
#[derive(Serialize, ToSchema, Debug)]
pub struct DisputedInput {
    /// The dispute's log index.
    pub dispute_index: u64,
    /// The disputed attribute.
    pub attribute: String,
}

/// Log indices of a query's entries.
#[derive(Serialize, ToSchema, Debug, Default)]
pub struct QueryIndices {
    /// The `Query` entry.
    pub query: u64,
    /// Sealed path: the `Evaluation` entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<u64>,
    /// Sealed path: the `Decryption` entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decryption: Option<u64>,
    /// The `Verdict` entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<u64>,
    /// Forwarded query: the verdict's index in the partner's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_verdict: Option<u64>,
}

/// A bank's answer: the outcome, what it rests on, and the receipt to verify offline.
#[derive(Serialize, ToSchema, Debug)]
pub struct VerdictAnswer {
    /// The outcome (verify the receipt before acting on it).
    pub outcome: OutcomeBody,
    /// What the verdict rests on.
    pub coverage: Coverage,
    /// Open disputes on attributes the policy reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rests_on_disputed_data: Option<Vec<DisputedInput>>,
    /// `sealed` or `proven`.
    pub path: String,
    /// Whether the receipt's checkpoint carries the witness quorum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness_quorum_met: Option<bool>,
    /// Hex of the verdict receipt (signed verdict, checkpoint, inclusion proof).
    pub receipt: String,
    /// The query's log entries.
    pub log_indices: QueryIndices,
    /// Sealed path: bootstraps of the evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstraps: Option<u64>,
    /// Forwarded query: the partner region that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Forwarded query: the subject's pseudonym in the partner region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_subject: Option<String>,
}

/// A fresh receipt for a verdict.
#[derive(Serialize, ToSchema, Debug)]
pub struct FreshReceipt {
    /// Hex of the receipt.
    pub receipt: String,
    /// Whether its checkpoint carries the witness quorum.
    pub witness_quorum_met: bool,
}

/// One of my commitments.
#[derive(Serialize, ToSchema, Debug)]
pub struct CommittedRecord {
    /// The attribute.
    pub attribute: String,
    /// Its holder.
    pub holder: String,
    /// The holder's submission id.
    pub submission: u64,
    /// Its log index.
    pub log_index: u64,
    /// Hex of the signed commitment.
    pub commitment: String,
    /// Hex of the opening sealed to me.
    pub opening: String,
}

/// One of my sealed records (its values are encrypted: no party sees them).
#[derive(Serialize, ToSchema, Debug)]
pub struct SealedRecordInfo {
    /// Its holder.
    pub holder: String,
    /// The holder's submission id.
    pub submission: u64,
    /// The attributes it carries.
    pub attributes: Vec<String>,
    /// Hex of its content hash (as the log names it).
    pub content_hash: String,
}

/// `GET /v1/subject/records`.
#[derive(Serialize, ToSchema, Debug)]
pub struct SubjectRecords {
    /// My pseudonym.
    pub pseudonym: String,
    /// My commitments.
    pub committed: Vec<CommittedRecord>,
    /// My sealed records.
    pub sealed: Vec<SealedRecordInfo>,
    /// Listing notices about me.
    #[schema(value_type = Vec<Object>)]
    pub listings: Vec<serde_json::Value>,
}

/// `GET /v1/subject/queries`.
#[derive(Serialize, ToSchema, Debug)]
pub struct SubjectQueries {
    /// My pseudonym.
    pub pseudonym: String,
    /// Every query and verdict about me, and every lookup of my pseudonym, in log order.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
}

/// A log entry as the caller may see it: the leaf, or only its hash.
#[derive(Serialize, ToSchema, Debug)]
pub struct EntryView {
    /// Its index.
    pub index: u64,
    /// Hex of the full leaf (entries the caller may read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf: Option<String>,
    /// Hex of the sealed leaf (entries about others): `u8(3) ‖ u64(time) ‖ u8(kind) ‖ content
    /// hash`, exactly the leaf data the tree hashes, so roots, inclusion and consistency are
    /// checkable without the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_leaf: Option<String>,
    /// Hex of the RFC 9162 leaf hash (entries about others; the hash of `sealed_leaf`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_hash: Option<String>,
}

/// `GET /v1/audit/entries`.
#[derive(Serialize, ToSchema, Debug)]
pub struct Entries {
    /// The entries.
    pub entries: Vec<EntryView>,
}

/// An inclusion or consistency proof.
#[derive(Serialize, ToSchema, Debug)]
pub struct ProofBody {
    /// Hex of the proof.
    pub proof: String,
}

/// This service as a witness of partner logs.
#[derive(Serialize, ToSchema, Debug)]
pub struct WitnessInfo {
    /// The name its cosignatures carry.
    pub name: String,
    /// Hex of its witness key.
    pub key: String,
    /// The partner logs it witnesses.
    pub partners: Vec<String>,
}

/// `GET /v1/anchors`: what a verifier pins (compare the fingerprint out of band).
#[derive(Serialize, ToSchema, Debug)]
pub struct Anchors {
    /// The log's origin.
    pub origin: String,
    /// Hex of the log's key.
    pub log_key: String,
    /// Hex of the key authority's key.
    pub key_authority_key: String,
    /// The witnesses' verifier keys.
    pub witnesses: Vec<String>,
    /// How many must cosign.
    pub witness_quorum: usize,
    /// Hex of the anchors' fingerprint.
    pub fingerprint: String,
    /// This service as a witness of partner logs, if it is one.
    pub witness: Option<WitnessInfo>,
    /// The authority root keys that certify holder keys, by authority (hex; empty where the
    /// service pins none, and then holder keys are the registered ones).
    pub authorities: std::collections::BTreeMap<String, String>,
}

/// A published policy.
#[derive(Serialize, ToSchema, Debug)]
pub struct PublishedPolicy {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: u32,
    /// Hex of its hash.
    pub hash: String,
    /// Its canonical text.
    pub text: String,
}

/// `GET /v1/audit/policies`.
#[derive(Serialize, ToSchema, Debug)]
pub struct Policies {
    /// Every published policy.
    pub policies: Vec<PublishedPolicy>,
}

/// `GET /v1/audit/object`.
#[derive(Serialize, ToSchema, Debug)]
pub struct ObjectBytes {
    /// Hex of the object's canonical bytes.
    pub bytes: String,
}

/// `GET /v1/audit/keys`.
#[derive(Serialize, ToSchema, Debug)]
pub struct KeyEvidenceBody {
    /// The cosigned checkpoint (note text) the proofs are under.
    pub checkpoint: String,
    /// Hex of the registrations with their inclusion proofs.
    pub evidence: String,
}

/// `GET /v1/audit/alarms`.
#[derive(Serialize, ToSchema, Debug)]
pub struct Alarms {
    /// Equivocation alarms, each with both signed checkpoints.
    #[schema(value_type = Vec<Object>)]
    pub alarms: Vec<serde_json::Value>,
}

/// `POST /v1/key-authority/refusals`: a refusal the key authority logs through the service.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct RefusalReport {
    /// Log index of the query it refused to decide.
    pub query_index: u64,
    /// Why: one of the key authority's refusal codes (`inputs`, `not-logged`, …).
    pub reason: String,
}

/// A logged refusal.
#[derive(Serialize, ToSchema, Debug)]
pub struct RefusalLogged {
    /// Index of its `DecryptionRefused` log entry.
    pub index: u64,
}
