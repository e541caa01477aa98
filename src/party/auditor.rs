//! The privacy auditor: follows the log through the API and checks what the service did.
//!
//! 1. The checkpoint is signed by the pinned log key and cosigned by the pinned witness quorum;
//!    the entries recompute its root; a consistency proof links the auditor's previous
//!    checkpoint (if any) to this one. (A party that is not an auditor sees the leaves that do
//!    not concern it as hashes only; the root still recomputes from them.)
//! 2. Every verdict is fetched and re-verified against the question **the log** asked — the
//!    `Query` entry it cites (subject, policy, day), with the policy pinned by a logged
//!    `PolicyPublished` hash and holder keys from logged registrations: signature by the right
//!    party for its path; proven path: the statement derived from that question, holder
//!    signatures, range certificates, the predicate proof; sealed path: the decryption it cites
//!    is a logged decryption of a logged evaluation of that query, for the same output.
//! 3. Every decryption has a logged evaluation with the same output; every evaluation answers
//!    a logged query with the same policy.
//! 4. Every query about a person carries a consent hash; every consent is fetched, signed by a
//!    registered subject key, and covers the query (bank, policy, purpose, day, subject).
//! 5. A sample of FHE evaluations is re-checked (needs the public TFHE material): their inputs
//!    must be exactly the latest sealed record per attribute of the policy for the subject
//!    before the query (nothing dropped, nothing stale), in log order, each the holder's signed
//!    upload with a verifying proof of plaintext knowledge — and the output is recomputed from
//!    them (evaluation is bit-exact: [`crate::fhe::determinism`]) and must be byte for byte
//!    the logged one.

use crate::circuits::catalog::Catalog;
use crate::circuits::policy::Policy;
use crate::fhe::engine::Engine;
use crate::party::client::{Client, ClientError, Entry};
use crate::protocols::log::checkpoint::SignedCheckpoint;
use crate::protocols::log::entry::{LogEntry, LogLeaf};
use crate::protocols::log::hash::Hash;
use crate::protocols::log::tree::MemoryTree;
use crate::protocols::log::Sha3Log;
use crate::protocols::question::{HolderKeys, PinnedPolicy, Question};
use crate::protocols::signing::Role;
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

impl AuditOptions<'_> {
    /// A first audit on `today`: no previous checkpoint, no replay, no spike flag.
    pub fn on(today: u32) -> Self {
        AuditOptions {
            previous: None,
            replay: 0,
            engine: None,
            today,
            spike_per_day: 0,
        }
    }
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
    /// Queries whose bank's signed request was checked (signed by the bank key the log
    /// registers, over the entry's own fields, for this log, with a nonce used once).
    pub requests_checked: usize,
    /// Consents this reader could not check: it is not an auditor, and the subject's binding
    /// (who may sign for it) is not shown to it.
    pub consents_unchecked: usize,
    /// Evaluations whose inputs were re-checked (complete, current, signed, proven).
    pub rechecked: usize,
    /// Entries shown sealed (time, kind and content hash only: they do not concern a reader
    /// that is not an auditor).
    pub hidden: usize,
    /// The sealed entries by kind.
    pub hidden_kinds: BTreeMap<&'static str, usize>,
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
        if self.hidden > 0 {
            let _ = writeln!(
                out,
                "  ({} entries not about this party were shown sealed (time, kind, content hash); an auditor sees them all)",
                self.hidden
            );
            for (k, n) in &self.hidden_kinds {
                let _ = writeln!(out, "  {n:>5} × {k} (sealed)");
            }
        }
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
            "verdicts re-verified: {}; consents checked: {}; banks' signed requests checked: {}; FHE evaluations re-checked (inputs complete, current, holder-signed, proofs verified; output recomputed byte for byte): {}",
            self.verdicts_verified, self.consents_checked, self.requests_checked, self.rechecked
        );
        if self.consents_unchecked > 0 {
            let _ = writeln!(
                out,
                "consents not checked ({}): the subject's binding is not shown to this party; an auditor checks them",
                self.consents_unchecked
            );
        }
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
    LogEntry::kind_name(e.tag())
}

/// Runs the audit against the service behind `client`, trusting `anchors`.
pub fn audit(
    client: &Client,
    anchors: &TrustAnchors,
    options: &AuditOptions<'_>,
) -> Result<AuditReport, AuditError> {
    let mut report = AuditReport::default();
    let checkpoint = client.checkpoint()?;
    let cp = anchors
        .verify_checkpoint(&checkpoint)
        .map_err(|e| AuditError::Checkpoint(e.to_string()))?
        .clone();
    // Leaves the caller may read; the others (if it is not an auditor) as hashes only.
    let mut shown: Vec<Option<LogLeaf>> = Vec::with_capacity(cp.size as usize);
    let mut tree = MemoryTree::<Sha3Log>::new();
    while (shown.len() as u64) < cp.size {
        let from = shown.len() as u64;
        let to = (from + 1000).min(cp.size);
        let got = client.entries(from, to)?;
        if got.is_empty() {
            report
                .problems
                .push(format!("the service returned no entries from {from}"));
            break;
        }
        for (i, entry) in got {
            if i != shown.len() as u64 {
                report
                    .problems
                    .push(format!("entry {i} returned out of order"));
            }
            tree.append_leaf_hash(entry.leaf_hash());
            shown.push(match entry {
                Entry::Leaf(l) => Some(*l),
                Entry::Hidden(sealed) => {
                    report.hidden += 1;
                    *report
                        .hidden_kinds
                        .entry(LogEntry::kind_name(sealed.kind))
                        .or_default() += 1;
                    None
                }
            });
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
    // An auditor (or the operator) is shown every entry: one shown as a hash only is the
    // service hiding something from it.
    let reads_all = matches!(
        client.key().role(),
        Role::Auditor | Role::Operator | Role::KeyAuthority
    );
    if reads_all && report.hidden > 0 {
        report.problems.push(format!(
            "the service showed {} entries to this {} sealed (content hash only)",
            report.hidden,
            client.key().role()
        ));
    }
    // Entries the auditor cannot read are left out of the checks below (they are not its to
    // check); `leaves[i]` is `None` for them.
    let leaves = &shown;

    // Policies are pinned by the hashes the log published; the text served must hash to one.
    let catalog = Catalog::builtin();
    let logged_policies: BTreeSet<Hash> = leaves
        .iter()
        .flatten()
        .filter_map(|l| match &l.entry {
            LogEntry::PolicyPublished { policy_hash, .. } => Some(*policy_hash),
            _ => None,
        })
        .collect();
    let mut policies: BTreeMap<Hash, (Policy, PinnedPolicy)> = BTreeMap::new();
    for (name, hash, text) in client.policies()? {
        match Policy::parse(&text, &catalog) {
            Ok(p) if p.hash() == hash && logged_policies.contains(&hash) => {
                let pin = p.pin();
                policies.insert(hash, (p, pin));
            }
            _ => report.problems.push(format!(
                "published policy `{name}` does not parse to a hash the log published"
            )),
        }
    }
    // Who speaks for each pseudonym comes from the log's bindings; a pseudonym bound twice is
    // a problem in itself (a dishonest operator speaking for a subject).
    let bindings = crate::party::replay::SubjectBindings::of(leaves);
    for (p, why) in bindings.ambiguous() {
        report
            .problems
            .push(format!("subject {}: {why}", p.to_text()));
    }
    // Holder keys come from the log, never from the service's word: certified ones where the
    // anchors pin authority roots, registered ones where they pin none.
    let holder_keys = crate::protocols::keys::logged_holder_keys(leaves, anchors);
    if !anchors.authorities.is_empty() {
        report
            .problems
            .extend(crate::protocols::keys::certificate_problems(
                leaves, anchors,
            ));
    }

    let mut evaluations = Vec::new();
    // Every question must carry its bank's signature over exactly its logged fields, for this
    // log, once (checked in one pass over the log).
    for (i, checked) in crate::protocols::query::check_logged_requests(&anchors.log.name, leaves) {
        match checked {
            Ok(()) => report.requests_checked += 1,
            Err(why) => report.problems.push(format!("entry {i}: {why}")),
        }
    }
    // Questions the bank asked to have forwarded: nothing is evaluated for them here.
    let mut forwarded: BTreeSet<u64> = BTreeSet::new();
    let mut open_disputes: BTreeMap<u64, u32> = BTreeMap::new();
    let mut per_bank_day: BTreeMap<(String, u64), u64> = BTreeMap::new();
    // (bank, subject, policy) → day asked about → times.
    type Probes = BTreeMap<(String, String, Hash), BTreeMap<u32, u64>>;
    let mut probes: Probes = BTreeMap::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let i = i as u64;
        let Some(leaf) = leaf else { continue };
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
                if open_disputes.remove(dispute_index).is_none()
                    && leaf_at(leaves, *dispute_index).is_some() =>
            {
                report.problems.push(format!(
                    "entry {i}: answer to {dispute_index}, which is no open dispute"
                ));
            }
            _ => {}
        }
        if let LogEntry::Query {
            bank,
            subject,
            policy_hash,
            as_of_day,
            ..
        } = &leaf.entry
        {
            *per_bank_day
                .entry((bank.to_string(), leaf.time / 86_400))
                .or_default() += 1;
            let asked = probes
                .entry((bank.to_string(), subject.to_string(), *policy_hash))
                .or_default();
            *asked.entry(*as_of_day).or_default() += 1;
        }
        match &leaf.entry {
            LogEntry::Query {
                bank,
                subject,
                policy_hash,
                as_of_day,
                purpose,
                consent_hash,
                ..
            } => {
                if let LogEntry::Query {
                    region: Some(_), ..
                } = &leaf.entry
                {
                    forwarded.insert(i);
                }
                let q = crate::party::replay::ConsentQuestion {
                    bank,
                    subject,
                    policy_hash,
                    purpose,
                    day: *as_of_day,
                    consent_hash: *consent_hash,
                };
                // A party that is not an auditor may not see who is bound to the subject.
                if consent_hash.is_some()
                    && !reads_all
                    && bindings.keys(subject).is_ok_and(|k| k.is_empty())
                {
                    report.consents_unchecked += 1;
                } else {
                    match crate::party::replay::check_consent(
                        &q,
                        |h| client.object("consent", h).ok(),
                        &bindings,
                    ) {
                        Ok(true) => report.consents_checked += 1,
                        Ok(false) => {}
                        Err(why) => report.problems.push(format!(
                            "entry {i}: the consent of the query by {bank}: {why}"
                        )),
                    }
                }
            }
            LogEntry::Evaluation {
                query_index,
                policy_hash,
                ..
            } => {
                let ok = *query_index < i
                    && matches!(leaves.get(*query_index as usize).and_then(|l| l.as_ref()).map(|l| &l.entry),
                        Some(LogEntry::Query { policy_hash: p, .. }) if p == policy_hash);
                if forwarded.contains(query_index) {
                    report.problems.push(format!(
                        "entry {i}: evaluation of query {query_index}, which its bank asked to have forwarded to a partner"
                    ));
                }
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
                ..
            } => {
                let ok = *evaluation_index < i
                    && matches!(leaves.get(*evaluation_index as usize).and_then(|l| l.as_ref()).map(|l| &l.entry),
                        Some(LogEntry::Evaluation { output_hash: o, .. }) if o == output_hash);
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
                anchors,
                &policies,
                &holder_keys,
                (leaves, &tree),
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
    // Day probing: one bank asking about one subject under one policy for many different
    // days (a binary search over the day recovers a listing's hidden end in about 16), or
    // the same question again and again.
    for ((bank, subject, _), days) in &probes {
        if days.len() >= PROBE_DAYS {
            report.flags.push(format!(
                "{bank} asked about subject {} for {} different days (day probing?)",
                subject,
                days.len()
            ));
        }
        if let Some((day, n)) = days.iter().find(|(_, n)| **n >= PROBE_REPEATS) {
            report.flags.push(format!(
                "{bank} asked the same question about subject {} for day {day} {n} times",
                subject
            ));
        }
    }
    if let Some(engine) = options.engine {
        for &e in evaluations.iter().rev().take(options.replay) {
            match crate::party::replay::recheck(
                client,
                engine,
                &holder_keys,
                &policies,
                &catalog,
                leaves,
                e,
            ) {
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

/// Distinct days one bank may ask about one subject under one policy before it is flagged.
pub const PROBE_DAYS: usize = 5;
/// Times one bank may ask the identical question before it is flagged.
pub const PROBE_REPEATS: u64 = 3;

fn leaf_at(leaves: &[Option<LogLeaf>], i: u64) -> Option<&LogEntry> {
    leaves
        .get(usize::try_from(i).ok()?)
        .and_then(|l| l.as_ref())
        .map(|l| &l.entry)
}

fn check_verdict(
    client: &Client,
    anchors: &TrustAnchors,
    policies: &BTreeMap<Hash, (Policy, PinnedPolicy)>,
    holder_keys: &HolderKeys,
    (leaves, tree): (&[Option<LogLeaf>], &MemoryTree<Sha3Log>),
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
    if v.verdict.log_indices.iter().any(|&j| j >= index) {
        return Err("the verdict cites entries logged after it".into());
    }
    // The question is the one the log records: the `Query` entry the verdict cites.
    let queries: Vec<(u64, &LogEntry)> = v
        .verdict
        .log_indices
        .iter()
        .filter_map(|&j| leaf_at(leaves, j).map(|e| (j, e)))
        .filter(|(_, e)| matches!(e, LogEntry::Query { .. }))
        .collect();
    let [(
        _,
        LogEntry::Query {
            subject,
            policy_hash,
            as_of_day,
            bank: asking,
            ..
        },
    )] = queries.as_slice()
    else {
        return Err("the verdict does not cite exactly one logged query".into());
    };
    if let Some(LogEntry::Verdict { bank, .. }) = leaf_at(leaves, index) {
        if bank != asking {
            return Err("the verdict was handed to another bank than the one that asked".into());
        }
    }
    let (_, pinned) = policies
        .get(policy_hash)
        .ok_or("the verdict is for a policy that was never published")?;
    let question = Question {
        subject: *subject,
        policy: pinned,
        as_of_day: *as_of_day,
    };
    v.verify(anchors, &question, holder_keys)
        .map_err(|e| format!("the verdict does not verify for the question the log asked: {e}"))?;
    if let Evidence::Decryption {
        query_index,
        evaluation_index,
        input_hashes,
        output_hash,
        checkpoint_size,
        checkpoint_root,
    } = &v.verdict.evidence
    {
        // The checkpoint the key authority followed is this log's (not a fork shown to it),
        // and the query it names is the one the verdict answers.
        if tree.root_at(*checkpoint_size).ok().as_ref() != Some(checkpoint_root) {
            return Err("the key authority decided on a checkpoint that is not this log's".into());
        }
        if !matches!(leaf_at(leaves, *query_index), Some(LogEntry::Query { subject: s, policy_hash: p, as_of_day: d, .. })
            if *s == v.verdict.subject && *p == v.verdict.policy_hash && *d == v.verdict.as_of_day)
        {
            return Err("the sealed verdict's query is not the question it answers".into());
        }
        // The evaluation it names answers its query with these inputs and this output, a
        // decryption of that output is logged before the verdict, and the checkpoint the key
        // authority followed precedes the verdict.
        let evaluation_ok = matches!(leaf_at(leaves, *evaluation_index),
            Some(LogEntry::Evaluation { policy_hash: p, query_index: q, input_hashes: i, output_hash: o, .. })
                if *p == v.verdict.policy_hash && q == query_index && i == input_hashes && o == output_hash);
        let decrypted = (*evaluation_index + 1..index).any(|j| {
            matches!(leaf_at(leaves, j),
                Some(LogEntry::Decryption { evaluation_index: e, output_hash: o, .. })
                    if e == evaluation_index && o == output_hash)
        });
        if !evaluation_ok || !decrypted || *checkpoint_size > index {
            return Err("the sealed verdict does not rest on a logged evaluation and decryption of its output".into());
        }
    }
    Ok(v)
}
