//! The bank's commands: query, pinned anchors, offline verification.

use super::args::Result;
use super::party::policy_text;
use crate::circuits::catalog::Catalog;
use crate::circuits::policy::Policy;
use crate::party::client::{anchors_from_json, anchors_to_json, Client, Question};
use crate::party::keyfile::{parse_subject, Party};
use crate::protocols::consent::SignedConsent;
use crate::protocols::identifiers::SubjectId;
use crate::protocols::package::ProofPackage;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::question::Question as VerifierQuestion;
use crate::protocols::verdict::{TrustAnchors, VerdictReceipt, VerifiedVerdict};
use std::path::Path;

/// Options of `credence query`.
pub struct QueryArgs<'a> {
    /// Subject `KIND:ID`.
    pub subject: &'a str,
    /// Policy: a shipped name or a policy file (pinned by the hash of its text).
    pub policy: &'a str,
    /// As-of day.
    pub day: u32,
    /// Purpose.
    pub purpose: &'a str,
    /// Consent token file.
    pub consent: Option<&'a Path>,
    /// Proof package file (proven path); sealed path without it.
    pub proof: Option<&'a Path>,
    /// Where to write the receipt.
    pub out: Option<&'a Path>,
    /// The pinned trust anchors.
    pub anchors: &'a Path,
}

/// The policy a verifier pins: a shipped one by name, or a policy file; its hash is the hash
/// of this text, whatever the service says.
pub fn pinned_policy(which: &str) -> Result<Policy> {
    Ok(Policy::parse(&policy_text(which)?, &Catalog::builtin())
        .map_err(|e| format!("{which}: {e}"))?)
}

/// A verified verdict in words: the outcome, and which records it rests on.
pub fn describe(policy: &Policy, v: &VerifiedVerdict) -> String {
    use crate::protocols::log::entry::Outcome;
    let (present, defaults, missing) = policy.coverage_split(&v.coverage);
    let what = format!("`{}` v{}", policy.name, policy.version);
    let mut out = match v.outcome {
        Outcome::Eligible(true) => format!("ELIGIBLE under {what}"),
        Outcome::Eligible(false) if !missing.is_empty() => format!(
            "NOT ELIGIBLE under {what}: no record of {} (the policy requires {})",
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" }
        ),
        Outcome::Eligible(false) => format!("NOT ELIGIBLE under {what}"),
        Outcome::Grade(g) => {
            let label = match &policy.output {
                crate::circuits::policy::Output::Grade {
                    bands, otherwise, ..
                } => bands
                    .get(usize::from(g))
                    .map(|b| b.0.clone())
                    .unwrap_or_else(|| otherwise.clone()),
                _ => g.to_string(),
            };
            format!("GRADE {label} under {what}")
        }
    };
    out.push_str(&format!(
        "\n  records of {} of its {} attributes",
        present.len(),
        policy.reads.len()
    ));
    if !present.is_empty() {
        out.push_str(&format!(": {}", present.join(", ")));
    }
    if !defaults.is_empty() {
        out.push_str(&format!(
            "\n  no record (catalogue default used): {}",
            defaults.join(", ")
        ));
    }
    out
}

/// The pseudonym the service gives `subject` (a bank's question is about it). Only the service
/// can compute it (a keyed hash); a subject's consent token names it too.
fn pseudonym_for(client: &Client, subject: &SubjectId) -> Result<Pseudonym> {
    Ok(client.pseudonym(subject)?.0)
}

/// `credence query --as BANK --anchors FILE …`: asks, verifies the receipt against the pinned
/// anchors and the bank's own question (its subject, its pinned policy, its day), prints the
/// outcome and coverage in words, and saves the receipt.
pub fn query(server: &str, bank: &Party, a: &QueryArgs<'_>) -> Result<()> {
    let anchors = load_anchors(a.anchors)?;
    let policy = pinned_policy(a.policy)?;
    let pinned = policy.pin();
    let subject = parse_subject(a.subject)?;
    crate::protocols::question::check_day("--day", a.day)?;
    let consent = match a.consent {
        Some(p) => Some(SignedConsent::from_bytes(&read_hex_file(p)?)?),
        None => None,
    };
    let client = bank.client_for(server, &anchors);
    let pseudonym = match &consent {
        Some(c) => c.consent.subject,
        None => pseudonym_for(&client, &subject)?,
    };
    let q = Question {
        subject: &subject,
        policy: &policy.name,
        day: a.day,
        purpose: a.purpose,
        consent: consent.as_ref(),
    };
    let answer = match a.proof {
        Some(p) => client.query_proven(&q, &ProofPackage::from_bytes(&read_hex_file(p)?)?)?,
        None => client.query_sealed(&q)?,
    };
    let question = VerifierQuestion {
        subject: pseudonym,
        policy: &pinned,
        as_of_day: a.day,
    };
    let verified = answer
        .receipt
        .verify_issued_to(&anchors, &question, &bank.id)
        .map_err(|e| {
            let more = if answer.json["witness_quorum_met"] == false {
                " (the service could not reach its witness quorum; fetch a fresh receipt later)"
            } else {
                ""
            };
            format!("the receipt does not verify: {e}{more}")
        })?;
    println!("{}: {}", a.subject, describe(&policy, &verified));
    println!(
        "  {} path; verdict logged at {}; receipt verified against the pinned anchors (checkpoint size {}, {} witness cosignature(s))",
        answer.json["path"].as_str().unwrap_or("?"),
        answer.receipt.leaf_index,
        answer.receipt.checkpoint.checkpoint.size,
        anchors
            .witnesses
            .iter()
            .filter(|w| answer.receipt.checkpoint.cosignature_time(w).is_some())
            .count()
    );
    if let Some(out) = a.out {
        std::fs::write(out, hex::encode(answer.receipt.to_bytes()))?;
        println!("receipt written to {}", out.display());
    }
    Ok(())
}

pub(crate) fn read_hex_file(p: &Path) -> Result<Vec<u8>> {
    let t = std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    hex::decode(t.trim()).map_err(|_| format!("{}: not hex", p.display()).into())
}

pub(crate) fn published_policy(client: &Client, name: &str) -> Result<Policy> {
    let (_, _, text) = client
        .policies()?
        .into_iter()
        .find(|(n, ..)| n == name)
        .ok_or_else(|| format!("the service has not published `{name}`"))?;
    Ok(Policy::parse(&text, &Catalog::builtin())?)
}

/// `credence anchors --as PARTY --out FILE [--expect FINGERPRINT]`: fetches the service's trust
/// anchors, prints their fingerprints to compare out of band, and pins them in FILE. With
/// `--expect`, pins only anchors with that fingerprint. An existing FILE is never replaced by
/// different anchors.
pub fn save_anchors(server: &str, who: &Party, out: &Path, expect: Option<&str>) -> Result<()> {
    let v = who.client(server).anchors_json()?;
    let anchors = anchors_from_json(&v)?;
    let fingerprint = hex::encode(anchors.fingerprint());
    println!("trust anchors of {server}:");
    println!("  log           {}", anchors.log.to_vkey());
    println!(
        "  key authority {}",
        hex::encode(anchors.key_authority.to_bytes())
    );
    for w in &anchors.witnesses {
        println!("  witness       {}", w.to_vkey());
    }
    println!(
        "  witness quorum {} of {}",
        anchors.witness_quorum,
        anchors.witnesses.len()
    );
    println!("  fingerprint   {fingerprint}");
    if anchors.witness_quorum == 0 {
        eprintln!(
            "warning: no witness quorum: a checkpoint signed by the log alone will be accepted"
        );
    }
    // `--expect` takes the fingerprint, or the anchors file the operator handed out.
    let expect = match expect {
        Some(e) if Path::new(e).is_file() => {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(e)?)
                .map_err(|err| format!("--expect {e}: not an anchors file: {err}"))?;
            Some(
                v["fingerprint"]
                    .as_str()
                    .ok_or_else(|| format!("--expect {e}: no fingerprint in it"))?
                    .to_string(),
            )
        }
        e => e.map(str::to_string),
    };
    if let Some(e) = expect {
        if !e.eq_ignore_ascii_case(&fingerprint) {
            return Err(format!(
                "the service's anchors have fingerprint {fingerprint}, not the {e} you expected: not pinned"
            )
            .into());
        }
    }
    if out.exists() {
        let pinned = load_anchors(out)?;
        if pinned.fingerprint() != anchors.fingerprint() {
            return Err(format!(
                "{} already pins other anchors (fingerprint {}); the service now serves {fingerprint}. Not replaced: compare out of band, then remove the file to re-pin",
                out.display(),
                hex::encode(pinned.fingerprint())
            )
            .into());
        }
        println!("{} already pins these anchors", out.display());
        return Ok(());
    }
    std::fs::write(
        out,
        serde_json::to_string_pretty(&anchors_to_json(&anchors))?,
    )?;
    println!(
        "pinned in {} (compare the fingerprint with the one you were given)",
        out.display()
    );
    Ok(())
}

/// Reads pinned anchors.
pub fn load_anchors(p: &Path) -> Result<TrustAnchors> {
    let text =
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    Ok(anchors_from_json(&serde_json::from_str(&text)?)
        .map_err(|e| format!("{}: {e}", p.display()))?)
}

/// What `credence verify` checks.
pub struct VerifyArgs<'a> {
    /// Pinned anchors.
    pub anchors: &'a Path,
    /// A verdict receipt file.
    pub receipt: Option<&'a Path>,
    /// A proof package file.
    pub package: Option<&'a Path>,
    /// The policy (shipped name or file), pinned by its text.
    pub policy: &'a str,
    /// The subject: a pseudonym (`enterprise:<64 hex>`) or, with a server, an identifier.
    pub subject: &'a str,
    /// The day asked about.
    pub day: u32,
}

/// `credence verify --anchors FILE (--receipt FILE | --package FILE) --policy P --subject S
/// --day D`: offline. Checks the receipt or package against **this** question — the verifier's
/// subject, its own copy of the policy, its day — with the statement derived from it, holder
/// keys from the log under a checkpoint the pinned anchors accept.
pub fn verify(server: Option<&str>, who: Option<&Party>, a: &VerifyArgs<'_>) -> Result<()> {
    let anchors = load_anchors(a.anchors)?;
    let policy = pinned_policy(a.policy)?;
    let pinned = policy.pin();
    crate::protocols::question::check_day("--day", a.day)?;
    let subject = match Pseudonym::from_text(a.subject) {
        Some(p) => p,
        None => {
            let id = parse_subject(a.subject)?;
            let (Some(server), Some(who)) = (server, who) else {
                return Err("--subject is an identifier: give its pseudonym (enterprise:<hex>, as `credence query` prints) to verify offline, or --as PARTY to ask the service for it".into());
            };
            pseudonym_for(&who.client_for(server, &anchors), &id)?
        }
    };
    let question = VerifierQuestion {
        subject,
        policy: &pinned,
        as_of_day: a.day,
    };
    match (a.receipt, a.package) {
        (Some(r), None) => {
            let r = VerdictReceipt::from_bytes(&read_hex_file(r)?)?;
            // With --as, the receipt must be that party's own (a bank accepts only verdicts
            // issued to it).
            let verified = match who {
                Some(me) => r.verify_issued_to(&anchors, &question, &me.id),
                None => r.verify(&anchors, &question),
            }
            .map_err(|e| format!("the receipt does not verify for this question: {e}"))?;
            println!(
                "receipt verified: {} — {}",
                subject.to_text(),
                describe(&policy, &verified)
            );
            println!(
                "  day {}, logged at {} under a checkpoint of size {}{}",
                a.day,
                r.leaf_index,
                r.checkpoint.checkpoint.size,
                match who {
                    Some(me) => format!(", issued to {}", me.id),
                    None => " (to whom it was issued not checked: give --as BANK)".into(),
                }
            );
        }
        (None, Some(p)) => {
            let pkg = ProofPackage::from_bytes(&read_hex_file(p)?)?;
            let answer = pkg
                .verify(&anchors, &question)
                .map_err(|e| format!("the package does not prove this question: {e}"))?;
            println!(
                "package verified: `{}` v{} holds for {} on day {} (records of {} attributes; holder keys from the log at size {}); whether its commitments are still the holders' current ones is checked by the service when a bank submits it",
                policy.name,
                policy.version,
                subject.to_text(),
                a.day,
                answer.coverage.len(),
                pkg.checkpoint.checkpoint.size
            );
        }
        _ => return Err("verify needs exactly one of --receipt FILE or --package FILE".into()),
    }
    Ok(())
}
