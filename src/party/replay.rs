//! Replaying a logged evaluation: which inputs it must have read (the latest logged sealed
//! record per attribute before the query), and the re-check an auditor runs from public
//! material only — inputs fetched by their logged hashes, each holder's signature and proof of
//! plaintext knowledge, and the output recomputed byte for byte. The key authority selects
//! inputs with the same [`expected_inputs`].

use crate::circuits::catalog::Catalog;
use crate::circuits::policy::Policy;
use crate::fhe::engine::Engine;
use crate::party::client::Client;
use crate::protocols::log::entry::{EvaluationPath, LogEntry, LogLeaf};
use crate::protocols::log::hash::Hash;
use crate::protocols::names::{AttributeId, PartyId};
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::question::{HolderKeys, PinnedPolicy};
use crate::protocols::signing::PublicKey;
use std::collections::BTreeMap;

fn leaf_at(leaves: &[Option<LogLeaf>], i: u64) -> Option<&LogEntry> {
    leaves
        .get(usize::try_from(i).ok()?)
        .and_then(|l| l.as_ref())
        .map(|l| &l.entry)
}

/// The sealed records an evaluation for `subject` and `policy` before entry `before` must read:
/// for each attribute the policy reads, the latest sealed record carrying it — each record once,
/// in log order (`protocols/log.md`, "latest record per attribute").
pub fn expected_inputs(
    leaves: &[Option<LogLeaf>],
    subject: &crate::protocols::pseudonym::Pseudonym,
    policy: &Policy,
    before: u64,
) -> Vec<Hash> {
    let mut latest: BTreeMap<&AttributeId, (u64, Hash)> = BTreeMap::new();
    let mut first_index: BTreeMap<Hash, u64> = BTreeMap::new();
    for (i, leaf) in leaves.iter().enumerate().take(before as usize) {
        if let Some(LogLeaf {
            entry:
                LogEntry::AttributeSubmitted {
                    attribute,
                    subject: s,
                    path: EvaluationPath::Sealed,
                    content_hash,
                    ..
                },
            ..
        }) = leaf
        {
            if s == subject && policy.reads.iter().any(|r| &r.0 == attribute) {
                let first = *first_index.entry(*content_hash).or_insert(i as u64);
                latest.insert(attribute, (first, *content_hash));
            }
        }
    }
    let mut records: Vec<(u64, Hash)> = latest.into_values().collect();
    records.sort();
    records.dedup();
    records.into_iter().map(|(_, h)| h).collect()
}

/// Checks an upload fetched for a logged hash against what the log says of it: every
/// `AttributeSubmitted` entry with that content hash (before `before`) names this upload's
/// holder, subject and submission id, together they name exactly the attributes it carries,
/// and no attribute of it is logged twice (a dishonest service re-logging an old upload after
/// a newer one, or labelling one holder's upload with another's attribute, is refused).
pub fn check_logged_upload(
    leaves: &[Option<LogLeaf>],
    before: u64,
    hash: &Hash,
    record: &crate::fhe::SealedRecord,
) -> Result<(), String> {
    let s = &record.submission.submission;
    let mut logged: Vec<&AttributeId> = Vec::new();
    for leaf in leaves.iter().take(before as usize).flatten() {
        if let LogEntry::AttributeSubmitted {
            holder,
            attribute,
            subject,
            submission,
            path: EvaluationPath::Sealed,
            content_hash,
        } = &leaf.entry
        {
            if content_hash != hash {
                continue;
            }
            if *holder != s.holder || *subject != s.subject || *submission != s.submission_id {
                return Err(format!(
                    "upload {} is logged under another holder, subject or submission id",
                    hex::encode(hash)
                ));
            }
            if logged.contains(&attribute) {
                return Err(format!(
                    "upload {} is logged twice for `{attribute}`",
                    hex::encode(hash)
                ));
            }
            logged.push(attribute);
        }
    }
    let mut carried: Vec<&AttributeId> = s.attributes.iter().collect();
    carried.sort();
    logged.sort();
    if carried != logged {
        return Err(format!(
            "upload {} carries other attributes than the log records for it",
            hex::encode(hash)
        ));
    }
    Ok(())
}

/// Re-checks the evaluation at log index `index` (see the module comment).
pub fn recheck(
    client: &Client,
    engine: &Engine,
    holder_keys: &HolderKeys,
    policies: &BTreeMap<Hash, (Policy, PinnedPolicy)>,
    catalog: &Catalog,
    leaves: &[Option<LogLeaf>],
    index: u64,
) -> Result<(), String> {
    let Some(LogEntry::Evaluation {
        query_index,
        policy_hash,
        input_hashes,
        output_hash,
        ..
    }) = leaf_at(leaves, index)
    else {
        return Err("not an evaluation".into());
    };
    let Some(LogEntry::Query {
        subject, as_of_day, ..
    }) = leaf_at(leaves, *query_index)
    else {
        return Err("no query".into());
    };
    let (policy, _) = policies.get(policy_hash).ok_or("unpublished policy")?;
    // The inputs must be exactly the latest record per attribute before the query, in log
    // order: nothing dropped, nothing stale.
    let expected = expected_inputs(leaves, subject, policy, *query_index);
    if *input_hashes != expected {
        return Err(format!(
            "the inputs are not the latest record of each attribute, in log order ({} used, {} expected)",
            input_hashes.len(),
            expected.len()
        ));
    }
    // Each input is the holder's signed upload and its proof of plaintext knowledge verifies.
    let mut stored = Vec::with_capacity(input_hashes.len());
    for h in input_hashes {
        let bytes = client
            .object("submission", h)
            .map_err(|e| format!("input {}: {e}", hex::encode(h)))?;
        let record =
            crate::fhe::SealedRecord::from_bytes(&bytes).map_err(|e| format!("body: {e}"))?;
        if record.submission.hash() != *h {
            return Err("the service returned another upload than the logged one".into());
        }
        check_logged_upload(leaves, *query_index, h, &record)?;
        let holder = &record.submission.submission.holder;
        let key = holder_keys
            .get(holder)
            .copied()
            .ok_or_else(|| format!("unregistered holder {holder}"))?;
        stored.push(
            engine
                .ingest(&record, &key, catalog)
                .map_err(|e| format!("input of {holder}: {e}"))?
                .stored,
        );
    }
    // The output, recomputed from public material only (evaluation is bit-exact), must be the
    // logged one.
    let replayed = engine
        .evaluate(policy, *as_of_day, &stored)
        .map_err(|e| format!("replay: {e}"))?;
    if replayed.output_hash != *output_hash {
        return Err(format!(
            "output replay: the logged output {} is not the evaluation of the logged inputs ({})",
            hex::encode(output_hash),
            hex::encode(replayed.output_hash)
        ));
    }
    Ok(())
}

/// What a logged query says about its consent.
pub struct ConsentQuestion<'a> {
    /// The bank that asked.
    pub bank: &'a crate::protocols::names::PartyId,
    /// The subject asked about.
    pub subject: &'a crate::protocols::pseudonym::Pseudonym,
    /// The policy asked about.
    pub policy_hash: &'a Hash,
    /// The declared purpose.
    pub purpose: &'a str,
    /// The day asked about.
    pub day: u32,
    /// The consent's hash the query logged, if any.
    pub consent_hash: Option<Hash>,
}

/// Checks a logged query's consent, as the key authority and the auditor both do: a query
/// about a person needs one; the consent fetched by `fetch` must be the logged one (its hash),
/// be about this subject, cover (bank, policy, purpose, day) and be signed by one of
/// the keys the log binds to the subject ([`SubjectBindings`]). `Ok(true)`: a consent was checked;
/// `Ok(false)`: none was needed.
pub fn check_consent(
    q: &ConsentQuestion<'_>,
    fetch: impl FnOnce(&Hash) -> Option<Vec<u8>>,
    bindings: &SubjectBindings,
) -> Result<bool, &'static str> {
    use crate::protocols::consent::{Consent, SignedConsent};
    let Some(h) = q.consent_hash else {
        return if q.subject.kind == crate::protocols::identifiers::SubjectKind::Person {
            Err("a query about a person without consent")
        } else {
            Ok(false)
        };
    };
    let c = fetch(&h)
        .and_then(|b| SignedConsent::from_bytes(&b).ok())
        .filter(|c| c.hash() == h)
        .ok_or("the logged consent is not available")?;
    if !(c.consent.subject == *q.subject
        && Consent::covers(&c.consent, q.bank, q.policy_hash, q.purpose, q.day))
    {
        return Err("the consent does not cover the query");
    }
    if !bindings
        .keys(q.subject)?
        .iter()
        .any(|k| c.verify(k).is_ok())
    {
        return Err("the consent is not signed by the key the log binds to the subject");
    }
    Ok(true)
}

/// Who speaks for each pseudonym, from the log's `SubjectBound` entries: the signing key the
/// binding names, which must be the key the party registered (`PartyRegistered`). A binding
/// that is not the party's registered key, a pseudonym bound to two parties or twice with
/// other keys, a party bound to two pseudonyms, or a `KeyRotation` logged for a subject party
/// (subjects rotate no keys, and a rotation entry carries no signature of the old key) makes
/// the pseudonym ambiguous — each is what a dishonest operator would log to speak for a
/// subject — and no key speaks for it.
#[derive(Default)]
pub struct SubjectBindings {
    bound: BTreeMap<Pseudonym, Binding>,
}

struct Binding {
    party: PartyId,
    key: PublicKey,
    sealing: [u8; 32],
    ambiguous: Option<&'static str>,
}

impl SubjectBindings {
    /// Reads the bindings of `leaves` (hidden leaves are skipped).
    pub fn of(leaves: &[Option<LogLeaf>]) -> Self {
        let mut bound: BTreeMap<Pseudonym, Binding> = BTreeMap::new();
        let mut registered: BTreeMap<&PartyId, PublicKey> = BTreeMap::new();
        let mut of_party: BTreeMap<&PartyId, Vec<Pseudonym>> = BTreeMap::new();
        let mut rotated: Vec<&PartyId> = Vec::new();
        for l in leaves.iter().flatten() {
            match &l.entry {
                LogEntry::PartyRegistered { party, key } => {
                    registered.entry(party).or_insert(*key);
                }
                LogEntry::KeyRotation { party, .. } => rotated.push(party),
                LogEntry::SubjectBound {
                    party,
                    subject,
                    key,
                    sealing_key,
                    ..
                } => {
                    let not_registered = (registered.get(party) != Some(key))
                        .then_some("the binding names another key than the party registered");
                    let pseudonyms = of_party.entry(party).or_default();
                    if !pseudonyms.contains(subject) {
                        pseudonyms.push(*subject);
                    }
                    match bound.get_mut(subject) {
                        None => {
                            bound.insert(
                                *subject,
                                Binding {
                                    party: party.clone(),
                                    key: *key,
                                    sealing: *sealing_key,
                                    ambiguous: not_registered,
                                },
                            );
                        }
                        Some(b) => {
                            if b.party != *party {
                                b.ambiguous =
                                    Some("the pseudonym is bound to more than one subject party");
                            } else if b.key != *key || b.sealing != *sealing_key {
                                b.ambiguous = Some("the pseudonym is bound twice with other keys");
                            } else if not_registered.is_some() {
                                b.ambiguous = not_registered;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for (party, pseudonyms) in &of_party {
            let why = if pseudonyms.len() > 1 {
                "its party is bound to more than one pseudonym"
            } else if rotated.contains(party) {
                "a key rotation is logged for its subject party"
            } else {
                continue;
            };
            for p in pseudonyms {
                if let Some(b) = bound.get_mut(p) {
                    b.ambiguous.get_or_insert(why);
                }
            }
        }
        SubjectBindings { bound }
    }

    /// The keys that speak for `subject` (empty when it is bound to none).
    pub fn keys(&self, subject: &Pseudonym) -> Result<&[PublicKey], &'static str> {
        match self.bound.get(subject) {
            None => Ok(&[]),
            Some(Binding {
                ambiguous: Some(why),
                ..
            }) => Err(why),
            Some(b) => Ok(std::slice::from_ref(&b.key)),
        }
    }

    /// The pseudonyms whose binding is ambiguous, with why.
    pub fn ambiguous(&self) -> impl Iterator<Item = (&Pseudonym, &'static str)> {
        self.bound
            .iter()
            .filter_map(|(p, b)| b.ambiguous.map(|why| (p, why)))
    }
}
