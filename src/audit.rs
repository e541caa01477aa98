//! The privacy auditor: follows the log through the API and checks what the service did.
//!
//! 1. The checkpoint is signed by the log; the entries recompute its root; a consistency proof
//!    links the auditor's previous checkpoint (if any) to this one.
//! 2. Every verdict is fetched and re-verified: signature by the right party for its path;
//!    proven path: holder signatures, range certificates, the predicate proof, and that the
//!    statement is the published policy's lowering; sealed path: the decryption it cites is a
//!    logged decryption of a logged evaluation of a logged query, for the same output.
//! 3. Every decryption has a logged evaluation with the same output; every evaluation answers
//!    a logged query with the same policy.
//! 4. Every query about a person carries a consent hash; every consent is fetched, signed by a
//!    registered subject key, and covers the query (bank, policy, purpose, day, subject).
//! 5. A sample of FHE evaluations is re-checked (needs the public TFHE material): their inputs
//!    must be exactly each holder's latest sealed record about the subject before the query
//!    (nothing dropped, nothing stale), each the holder's signed upload with a verifying proof
//!    of plaintext knowledge. The output itself cannot be checked without the client key, and
//!    does not need to be: the key authority decrypts only its own replay of the evaluation.

use crate::circuits::catalog::Catalog;
use crate::circuits::policy::Policy;
use crate::circuits::proof::lower_to_proof;
use crate::client::{Client, ClientError};
use crate::fhe::engine::Engine;
use crate::protocols::consent::SignedConsent;
use crate::protocols::identifiers::SubjectKind;
use crate::protocols::log::checkpoint::SignedCheckpoint;
use crate::protocols::log::entry::{EvaluationPath, LogEntry, LogLeaf};
use crate::protocols::log::hash::Hash;
use crate::protocols::log::tree::MemoryTree;
use crate::protocols::log::Sha3Log;
use crate::protocols::names::{AttributeId, PartyId};
use crate::protocols::signing::{PublicKey, Role};
use crate::protocols::verdict::{Evidence, SignedVerdict, TrustAnchors};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// What the auditor brings.
pub struct AuditOptions<'a> {
    /// The checkpoint this auditor verified last time (consistency is checked from it).
    pub previous: Option<SignedCheckpoint>,
    /// How many FHE evaluations to re-check (from the most recent back).
    pub replay: usize,
    /// A compute engine on the service's public TFHE material (it verifies the holders' proofs
    /// of plaintext knowledge); without it no evaluation is re-checked.
    pub engine: Option<&'a Engine>,
    /// Today (days since 1970-01-01): disputes unanswered past their day are flagged.
    pub today: u32,
    /// Flag a bank that asks more than this many questions in one day (0: never).
    pub spike_per_day: u64,
}

/// The audit's findings.
#[derive(Debug, Default)]
pub struct AuditReport {
    /// The checkpoint audited up to (signed by the log).
    pub checkpoint: Option<SignedCheckpoint>,
    /// Entries by kind.
    pub kinds: BTreeMap<&'static str, usize>,
    /// The recomputed root matches the checkpoint.
    pub root_ok: bool,
    /// Consistency with the previous checkpoint (`None`: no previous one).
    pub consistent: Option<bool>,
    /// Verdicts re-verified.
    pub verdicts_verified: usize,
    /// Consents checked.
    pub consents_checked: usize,
    /// Evaluations whose inputs were re-checked (complete, current, signed, proven).
    pub rechecked: usize,
    /// Everything that is wrong, with the log index.
    pub problems: Vec<String>,
    /// What needs a person's attention without being a fault of the log: disputes past their
    /// answer day, query spikes, equivocation alarms about partner logs.
    pub flags: Vec<String>,
}

impl AuditReport {
    /// No problem found and the log verified.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.root_ok && self.consistent != Some(false)
    }

    /// A readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let size = self.checkpoint.as_ref().map_or(0, |c| c.checkpoint.size);
        let _ = writeln!(out, "audited {size} log entries");
        for (k, n) in &self.kinds {
            let _ = writeln!(out, "  {n:>5} × {k}");
        }
        let _ = writeln!(
            out,
            "root recomputed from the entries matches the signed checkpoint: {}",
            self.root_ok
        );
        match self.consistent {
            Some(c) => {
                let _ = writeln!(out, "consistent with the previous checkpoint: {c}");
            }
            None => {
                let _ = writeln!(out, "no previous checkpoint to check consistency against");
            }
        }
        let _ = writeln!(
            out,
            "verdicts re-verified: {}; consents checked: {}; FHE evaluations re-checked (inputs complete, current, holder-signed, proofs verified): {}",
            self.verdicts_verified, self.consents_checked, self.rechecked
        );
        for f in &self.flags {
            let _ = writeln!(out, "flagged: {f}");
        }
        if self.problems.is_empty() {
            let _ = writeln!(out, "no problems found");
        } else {
            let _ = writeln!(out, "{} problem(s):", self.problems.len());
            for p in &self.problems {
                let _ = writeln!(out, "  - {p}");
            }
        }
        out
    }
}

/// Why the audit could not run at all (problems it finds go into the report instead).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Talking to the service failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The checkpoint is not signed by the log we trust.
    #[error("the service's checkpoint does not verify against the pinned log key: {0}")]
    Checkpoint(String),
}

fn kind(e: &LogEntry) -> &'static str {
    match e {
        LogEntry::PartyRegistered { .. } => "party registered",
        LogEntry::PolicyPublished { .. } => "policy published",
        LogEntry::AttributeSubmitted { .. } => "attribute submitted",
        LogEntry::DirectoryRoot { .. } => "directory root",
        LogEntry::Query { .. } => "query",
        LogEntry::Evaluation { .. } => "evaluation",
        LogEntry::Decryption { .. } => "decryption",
        LogEntry::Verdict { .. } => "verdict",
        LogEntry::DisputeFiled { .. } => "dispute filed",
        LogEntry::DisputeAnswered { .. } => "dispute answered",
        LogEntry::Repair { .. } => "repair",
        LogEntry::KeyRotation { .. } => "key rotation",
        LogEntry::PledgeMade { .. } => "pledge made",
        _ => "other",
    }
}

/// Runs the audit against the service behind `client`, trusting `anchors`.
pub fn audit(
    client: &Client,
    anchors: &TrustAnchors,
    options: &AuditOptions<'_>,
) -> Result<AuditReport, AuditError> {
    let mut report = AuditReport::default();
    let checkpoint = client.checkpoint()?;
    let cp = checkpoint
        .verify(&anchors.log)
        .map_err(|e| AuditError::Checkpoint(e.to_string()))?
        .clone();
    let mut leaves: Vec<LogLeaf> = Vec::with_capacity(cp.size as usize);
    let mut tree = MemoryTree::<Sha3Log>::new();
    while (leaves.len() as u64) < cp.size {
        let from = leaves.len() as u64;
        let to = (from + 1000).min(cp.size);
        let got = client.entries(from, to)?;
        if got.is_empty() {
            report
                .problems
                .push(format!("the service returned no entries from {from}"));
            break;
        }
        for (i, leaf) in got {
            if i != leaves.len() as u64 {
                report
                    .problems
                    .push(format!("entry {i} returned out of order"));
            }
            tree.append(&leaf.to_bytes());
            leaves.push(leaf);
        }
    }
    report.root_ok = tree.size() == cp.size && tree.root() == cp.root;
    if let Some(prev) = &options.previous {
        let ok = match prev.verify(&anchors.log) {
            Ok(p) if p.size <= cp.size => client
                .consistency(p.size, cp.size)
                .ok()
                .is_some_and(|proof| proof.verify::<Sha3Log>(&p.root, &cp.root).is_ok()),
            _ => false,
        };
        report.consistent = Some(ok);
    }

    let catalog = Catalog::builtin();
    let mut policies: BTreeMap<Hash, Policy> = BTreeMap::new();
    for (name, hash, text) in client.policies()? {
        match Policy::parse(&text, &catalog) {
            Ok(p) if p.hash() == hash => {
                policies.insert(hash, p);
            }
            _ => report.problems.push(format!(
                "published policy `{name}` does not parse to its hash"
            )),
        }
    }
    let subject_keys: Vec<PublicKey> = leaves
        .iter()
        .filter_map(|l| match &l.entry {
            LogEntry::PartyRegistered { key, .. } if key.role() == Role::Subject => Some(*key),
            _ => None,
        })
        .collect();
    let mut anchors = anchors.clone();
    for l in &leaves {
        if let LogEntry::PartyRegistered { party, key } = &l.entry {
            if key.role() == Role::Holder && !anchors.holders.iter().any(|(p, _)| p == party) {
                anchors.holders.push((party.clone(), *key));
            }
        }
    }

    let mut evaluations = Vec::new();
    let mut open_disputes: BTreeMap<u64, u32> = BTreeMap::new();
    let mut per_bank_day: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let i = i as u64;
        *report.kinds.entry(kind(&leaf.entry)).or_default() += 1;
        match &leaf.entry {
            LogEntry::DisputeFiled {
                answer_by_day,
                disputed_index,
                ..
            } => {
                if *disputed_index >= i {
                    report
                        .problems
                        .push(format!("entry {i}: dispute of a later entry"));
                }
                open_disputes.insert(i, *answer_by_day);
            }
            LogEntry::DisputeAnswered { dispute_index, .. }
                if open_disputes.remove(dispute_index).is_none() =>
            {
                report.problems.push(format!(
                    "entry {i}: answer to {dispute_index}, which is no open dispute"
                ));
            }
            _ => {}
        }
        if let LogEntry::Query { bank, .. } = &leaf.entry {
            *per_bank_day
                .entry((bank.to_string(), leaf.time / 86_400))
                .or_default() += 1;
        }
        match &leaf.entry {
            LogEntry::Query {
                bank,
                subject,
                policy_hash,
                as_of_day,
                purpose,
                consent_hash,
            } => match consent_hash {
                None if subject.kind == SubjectKind::Person => report.problems.push(format!(
                    "entry {i}: query by {bank} about a person without consent"
                )),
                None => {}
                Some(h) => {
                    let ok = client
                        .object("consent", h)
                        .ok()
                        .and_then(|b| SignedConsent::from_bytes(&b).ok())
                        .filter(|c| {
                            crate::protocols::consent::Consent::covers(
                                &c.consent,
                                bank,
                                policy_hash,
                                purpose,
                                *as_of_day,
                            ) && c.consent.subject == *subject
                        })
                        .is_some_and(|c| subject_keys.iter().any(|k| c.verify(k).is_ok()));
                    if ok {
                        report.consents_checked += 1;
                    } else {
                        report.problems.push(format!(
                            "entry {i}: the consent cited by the query by {bank} is missing, unsigned by any registered subject, or does not cover the query"
                        ));
                    }
                }
            },
            LogEntry::Evaluation {
                query_index,
                policy_hash,
                ..
            } => {
                let ok = *query_index < i
                    && matches!(&leaves[*query_index as usize].entry,
                        LogEntry::Query { policy_hash: p, .. } if p == policy_hash);
                if ok {
                    evaluations.push(i);
                } else {
                    report.problems.push(format!(
                        "entry {i}: evaluation without a logged query for its policy"
                    ));
                }
            }
            LogEntry::Decryption {
                evaluation_index,
                output_hash,
            } => {
                let ok = *evaluation_index < i
                    && matches!(&leaves[*evaluation_index as usize].entry,
                        LogEntry::Evaluation { output_hash: o, .. } if o == output_hash);
                if !ok {
                    report.problems.push(format!(
                        "entry {i}: decryption without a logged evaluation of the same output"
                    ));
                }
            }
            LogEntry::Verdict {
                verdict_hash,
                subject,
                ..
            } => match check_verdict(
                client,
                &anchors,
                &policies,
                &catalog,
                &leaves,
                i,
                verdict_hash,
            ) {
                Ok(v) if v.verdict.subject == *subject => report.verdicts_verified += 1,
                Ok(_) => report
                    .problems
                    .push(format!("entry {i}: the verdict is about another subject")),
                Err(e) => report.problems.push(format!("entry {i}: {e}")),
            },
            _ => {}
        }
    }

    for (i, by) in &open_disputes {
        if *by < options.today {
            report.flags.push(format!(
                "dispute at entry {i} unanswered past its answer day {by}"
            ));
        }
    }
    // Equivocation by partner logs this service witnesses (their fault, with the evidence kept).
    if let Ok(v) = client.get("/v1/audit/alarms") {
        for a in v["alarms"].as_array().into_iter().flatten() {
            report.flags.push(format!(
                "equivocation alarm: partner log {} at size {}: {} (both signed checkpoints kept)",
                a["origin"].as_str().unwrap_or("?"),
                a["size"],
                a["reason"].as_str().unwrap_or("?")
            ));
        }
    }
    if options.spike_per_day > 0 {
        for ((bank, day), n) in &per_bank_day {
            if *n > options.spike_per_day {
                report.flags.push(format!(
                    "{bank} asked {n} questions on day {day} (threshold {})",
                    options.spike_per_day
                ));
            }
        }
    }
    if let Some(engine) = options.engine {
        for &e in evaluations.iter().rev().take(options.replay) {
            match recheck(client, engine, &anchors, &policies, &catalog, &leaves, e) {
                Ok(()) => report.rechecked += 1,
                Err(m) => report
                    .problems
                    .push(format!("entry {e}: evaluation inputs: {m}")),
            }
        }
    }
    report.checkpoint = Some(checkpoint);
    Ok(report)
}

fn check_verdict(
    client: &Client,
    anchors: &TrustAnchors,
    policies: &BTreeMap<Hash, Policy>,
    catalog: &Catalog,
    leaves: &[LogLeaf],
    index: u64,
    hash: &Hash,
) -> Result<SignedVerdict, String> {
    let bytes = client
        .object("verdict", hash)
        .map_err(|e| format!("verdict not available: {e}"))?;
    let v = SignedVerdict::from_bytes(&bytes).map_err(|e| format!("verdict: {e}"))?;
    if v.hash() != *hash {
        return Err("the stored verdict does not match the logged hash".into());
    }
    v.verify(anchors)
        .map_err(|e| format!("the verdict does not verify: {e}"))?;
    let policy = policies
        .get(&v.verdict.policy_hash)
        .ok_or("the verdict is for a policy that was never published")?;
    if v.verdict.log_indices.iter().any(|&j| j >= index) {
        return Err("the verdict cites entries logged after it".into());
    }
    match &v.verdict.evidence {
        Evidence::Proof {
            statement, inputs, ..
        } => {
            let plan = lower_to_proof(policy).map_err(|e| e.to_string())?;
            if !plan.matches_evidence(statement, inputs, catalog) {
                return Err("the proof is not the published policy's statement".into());
            }
        }
        Evidence::Decryption {
            evaluation_index,
            decryption_index,
            output_hash,
        } => {
            let ok = matches!(leaves.get(*decryption_index as usize).map(|l| &l.entry),
                Some(LogEntry::Decryption { evaluation_index: e, output_hash: o })
                    if e == evaluation_index && o == output_hash)
                && matches!(leaves.get(*evaluation_index as usize).map(|l| &l.entry),
                Some(LogEntry::Evaluation { policy_hash, .. }) if *policy_hash == v.verdict.policy_hash);
            if !ok {
                return Err("the sealed verdict does not rest on a logged evaluation and decryption of its output".into());
            }
        }
    }
    Ok(v)
}

fn recheck(
    client: &Client,
    engine: &Engine,
    anchors: &TrustAnchors,
    policies: &BTreeMap<Hash, Policy>,
    catalog: &Catalog,
    leaves: &[LogLeaf],
    index: u64,
) -> Result<(), String> {
    let LogEntry::Evaluation {
        query_index,
        policy_hash,
        input_hashes,
        ..
    } = &leaves[index as usize].entry
    else {
        return Err("not an evaluation".into());
    };
    let LogEntry::Query { subject, .. } = &leaves[*query_index as usize].entry else {
        return Err("no query".into());
    };
    let policy = policies.get(policy_hash).ok_or("unpublished policy")?;
    // The inputs must be exactly each holder's latest sealed record about the subject (before
    // the query) that carries an attribute the policy reads: nothing dropped, nothing stale.
    let mut latest: BTreeMap<&PartyId, (Hash, Vec<&AttributeId>)> = BTreeMap::new();
    for leaf in &leaves[..*query_index as usize] {
        if let LogEntry::AttributeSubmitted {
            holder,
            attribute,
            subject: s,
            path: EvaluationPath::Sealed,
            content_hash,
            ..
        } = &leaf.entry
        {
            if s == subject {
                let slot = latest.entry(holder).or_insert((*content_hash, Vec::new()));
                if slot.0 != *content_hash {
                    *slot = (*content_hash, Vec::new());
                }
                slot.1.push(attribute);
            }
        }
    }
    let expected: BTreeSet<Hash> = latest
        .values()
        .filter(|(_, attrs)| {
            attrs
                .iter()
                .any(|a| policy.reads.iter().any(|r| &r.0 == *a))
        })
        .map(|(h, _)| *h)
        .collect();
    let got: BTreeSet<Hash> = input_hashes.iter().copied().collect();
    if got.len() != input_hashes.len() {
        return Err("an input is used twice".into());
    }
    if got != expected {
        return Err(format!(
            "the inputs are not the holders' current records ({} used, {} expected)",
            got.len(),
            expected.len()
        ));
    }
    // Each input is the holder's signed upload and its proof of plaintext knowledge verifies.
    for h in input_hashes {
        let bytes = client
            .object("submission", h)
            .map_err(|e| format!("input {}: {e}", hex::encode(h)))?;
        let record = crate::service::decode_sealed_upload(&bytes)?;
        if record.submission.hash() != *h {
            return Err("the service returned another upload than the logged one".into());
        }
        let holder = &record.submission.submission.holder;
        let key = anchors
            .holders
            .iter()
            .find(|(p, _)| p == holder)
            .map(|(_, k)| *k)
            .ok_or_else(|| format!("unregistered holder {holder}"))?;
        engine
            .ingest(&record, &key, catalog)
            .map_err(|e| format!("input of {holder}: {e}"))?;
    }
    Ok(())
}
