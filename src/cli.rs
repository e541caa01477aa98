//! The party-side commands of the `credence` CLI: party files, registration, holder uploads,
//! bank queries, subject proofs and consents, offline verification and the audit.
//!
//! A **party file** (JSON, written 0600) holds a party id, its role, its Ed25519 seed and, for a
//! subject, its X25519 sealing seed and the subject it speaks for. `credence serve` writes the
//! operator's party file into its data directory on first start.

use crate::audit::{audit, AuditOptions};
use crate::circuits::catalog::Catalog;
use crate::circuits::policy::{Policy, BUILTIN_POLICIES};
use crate::client::{anchors_from_json, anchors_to_json, Client, Question};
use crate::fhe::engine::Engine;
use crate::fhe::holder::seal;
use crate::fhe::keys::{write_file, PublicMaterial};
use crate::protocols::consent::{Consent, SignedConsent};
use crate::protocols::identifiers::{SubjectId, SubjectKind};
use crate::protocols::log::checkpoint::SignedCheckpoint;
use crate::protocols::names::{AttributeId, PartyId};
use crate::protocols::package::ProofPackage;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::question::Question as VerifierQuestion;
use crate::protocols::seal::SealingSecretKey;
use crate::protocols::signing::{Role, SigningKey};
use crate::protocols::verdict::{TrustAnchors, VerdictReceipt, VerifiedVerdict};
use crate::roles::{commit_attributes, prove};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use zeroize::Zeroizing;

/// CLI errors are messages for a person.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

/// A party's key file.
#[derive(Serialize, Deserialize)]
pub struct PartyFile {
    /// Party id.
    pub party: String,
    /// Role name (`holder`, `bank`, `subject`, …).
    pub role: String,
    /// Hex of the Ed25519 seed.
    pub seed: String,
    /// Subjects: hex of the X25519 sealing seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealing_seed: Option<String>,
    /// Subjects: `enterprise:USCC` or `person:ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// A loaded party.
pub struct Party {
    /// Its id.
    pub id: PartyId,
    /// Its signing key.
    pub key: SigningKey,
    /// Subjects: the sealing key.
    pub sealing: Option<SealingSecretKey>,
    /// Subjects: who it is.
    pub subject: Option<SubjectId>,
}

fn parse_role(s: &str) -> Result<Role> {
    [
        Role::Holder,
        Role::Bank,
        Role::Subject,
        Role::Witness,
        Role::Operator,
        Role::KeyAuthority,
        Role::Log,
        Role::Auditor,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
    .ok_or_else(|| {
        format!("unknown role `{s}` (holder, bank, subject, witness, auditor, operator)").into()
    })
}

/// Parses `enterprise:USCC` or `person:ID`.
pub fn parse_subject(s: &str) -> Result<SubjectId> {
    let (kind, id) = s
        .split_once(':')
        .ok_or_else(|| format!("subject `{s}`: write enterprise:USCC or person:ID"))?;
    let kind = match kind {
        "enterprise" => SubjectKind::Enterprise,
        "person" => SubjectKind::Person,
        k => return Err(format!("subject kind `{k}`: enterprise or person").into()),
    };
    Ok(SubjectId::parse(kind, id)?)
}

fn seed_hex(s: &str, what: &str) -> Result<[u8; 32]> {
    crate::protocols::request::parse_hex(s)
        .ok_or_else(|| format!("{what}: expected 64 hex digits").into())
}

impl Party {
    /// Reads a party file.
    pub fn load(path: &Path) -> Result<Party> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read party file {}: {e}", path.display()))?,
        );
        let f: PartyFile = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a party file: {e}", path.display()))?;
        let role = parse_role(&f.role)?;
        let seed = Zeroizing::new(seed_hex(&f.seed, "seed")?);
        Ok(Party {
            id: PartyId::new(&f.party)?,
            key: SigningKey::from_seed(role, &seed),
            sealing: match &f.sealing_seed {
                Some(s) => Some(SealingSecretKey::from_bytes(seed_hex(s, "sealing_seed")?)),
                None => None,
            },
            subject: match &f.subject {
                Some(s) => Some(parse_subject(s)?),
                None => None,
            },
        })
    }

    /// A client for this party.
    pub fn client(&self, server: &str) -> Client {
        Client::new(server, self.id.clone(), self.key.clone())
    }

    /// A client for this party, signing for the service the pinned `anchors` name.
    pub fn client_for(&self, server: &str, anchors: &TrustAnchors) -> Client {
        Client::with_origin(server, &anchors.log.name, self.id.clone(), self.key.clone())
    }
}

/// Writes a new party file (refuses to overwrite).
pub fn write_party(
    path: &Path,
    party: &str,
    role: Role,
    seed: &[u8; 32],
    sealing_seed: Option<&[u8; 32]>,
    subject: Option<&SubjectId>,
) -> Result<()> {
    if path.exists() {
        return Err(format!("{} exists; refusing to overwrite a key", path.display()).into());
    }
    let f = PartyFile {
        party: party.to_string(),
        role: role.as_str().to_string(),
        seed: hex::encode(seed),
        sealing_seed: sealing_seed.map(hex::encode),
        subject: subject.map(|s| format!("{}:{}", s.kind().as_str(), s.as_str())),
    };
    let text = Zeroizing::new(serde_json::to_string_pretty(&f)?);
    write_file(path, text.as_bytes(), true)?;
    Ok(())
}

/// `credence party new ROLE PARTY --out FILE [--subject KIND:ID]`.
pub fn party_new(role: &str, party: &str, out: &Path, subject: Option<&str>) -> Result<()> {
    let role = parse_role(role)?;
    PartyId::new(party)?;
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
    let (sealing, subject) = if role == Role::Subject {
        let s = subject.ok_or("a subject party needs --subject enterprise:USCC or person:ID")?;
        let mut ss = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, ss.as_mut());
        (Some(ss), Some(parse_subject(s)?))
    } else {
        (None, None)
    };
    write_party(
        out,
        party,
        role,
        &seed,
        sealing.as_deref(),
        subject.as_ref(),
    )?;
    let key = SigningKey::from_seed(role, &seed);
    println!(
        "{party} ({}) public key {}",
        role.as_str(),
        hex::encode(key.public().to_bytes())
    );
    Ok(())
}

/// `credence register --as OPERATOR FILE…`: registers the parties of the given files.
pub fn register(server: &str, operator: &Party, files: &[&Path]) -> Result<()> {
    let client = operator.client(server);
    for f in files {
        let p = Party::load(f)?;
        let subject = match (&p.subject, &p.sealing) {
            (Some(s), Some(k)) => Some((s.clone(), k.public())),
            _ => None,
        };
        let idx = client.register_party(
            &p.id,
            &p.key.public(),
            subject.as_ref().map(|(s, k)| (s, k)),
        )?;
        println!(
            "registered {} ({}) at log index {idx}",
            p.id,
            p.key.role().as_str()
        );
    }
    Ok(())
}

/// A shipped policy by name, or a policy file.
pub fn policy_text(which: &str) -> Result<String> {
    match BUILTIN_POLICIES.iter().find(|(n, _)| *n == which) {
        Some((_, t)) => Ok(t.to_string()),
        None => std::fs::read_to_string(which).map_err(|e| {
            format!("`{which}` is neither a shipped policy nor a readable file: {e}").into()
        }),
    }
}

/// `credence publish --as OPERATOR POLICY`.
pub fn publish(server: &str, operator: &Party, which: &str) -> Result<()> {
    let h = operator
        .client(server)
        .publish_policy(&policy_text(which)?)?;
    println!("published {which}: {}", hex::encode(h));
    Ok(())
}

/// One input row of `holder submit`.
#[derive(Deserialize)]
struct Row {
    subject: String,
    attribute: String,
    value: u64,
}

fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") {
        return serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: expected [{{subject, attribute, value}}]: {e}",
                path.display()
            )
            .into()
        });
    }
    // CSV: subject,attribute,value (subject as enterprise:USCC or person:ID); `#` comments and
    // a header line starting with `subject` are skipped.
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("subject,") {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let [subject, attribute, value] = f[..] else {
            return Err(format!(
                "{}:{}: expected subject,attribute,value",
                path.display(),
                n + 1
            )
            .into());
        };
        let value = value.parse().map_err(|_| {
            format!(
                "{}:{}: value `{value}` is not a number",
                path.display(),
                n + 1
            )
        })?;
        rows.push(Row {
            subject: subject.into(),
            attribute: attribute.into(),
            value,
        });
    }
    Ok(rows)
}

fn fresh_submission_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
        .saturating_mul(1000)
}

/// `credence holder submit --as HOLDER --path sealed|proven --input FILE [--keys DIR]`: groups
/// the rows by subject and uploads one record (sealed) or one batch of commitments (proven)
/// per subject, with progress on stderr. Every row is checked against the catalogue before
/// anything is sent.
pub fn holder_submit(
    server: &str,
    holder: &Party,
    path: &str,
    input: &Path,
    keys: &Path,
) -> Result<()> {
    let catalog = Catalog::builtin();
    let mut by_subject: BTreeMap<String, (SubjectId, Vec<(AttributeId, u64)>)> = BTreeMap::new();
    for (n, row) in read_rows(input)?.into_iter().enumerate() {
        let at = |e: String| format!("row {}: {e}", n + 1);
        let id = parse_subject(&row.subject).map_err(|e| at(e.to_string()))?;
        let a = AttributeId::new(&row.attribute).map_err(|e| at(e.to_string()))?;
        let entry = catalog.get(a.as_str()).map_err(|e| at(e.to_string()))?;
        if !entry.owned_by(holder.id.as_str()) {
            return Err(at(format!("`{a}` belongs to the `{}` authority", entry.holder)).into());
        }
        entry
            .check_value(row.value)
            .map_err(|e| at(e.to_string()))?;
        let slot = by_subject
            .entry(format!("{}:{}", id.kind().as_str(), id.as_str()))
            .or_insert((id, Vec::new()));
        if slot.1.iter().any(|(x, _)| *x == a) {
            return Err(at(format!("`{a}` given twice for this subject")).into());
        }
        slot.1.push((a, row.value));
    }
    if by_subject.is_empty() {
        return Err(format!("{}: no rows", input.display()).into());
    }
    let client = holder.client(server);
    let public = if path == "sealed" {
        Some(PublicMaterial::load(keys).map_err(|e| {
            format!(
                "the service's public TFHE material is needed for sealed uploads ({}): {e}",
                keys.display()
            )
        })?)
    } else if path == "proven" {
        None
    } else {
        return Err(format!("--path `{path}`: sealed or proven").into());
    };
    let total = by_subject.len();
    let mut id = fresh_submission_id();
    for (i, (label, (subject, values))) in by_subject.into_iter().enumerate() {
        let (pseudonym, sealing) = client.pseudonym(&subject)?;
        let indices = match &public {
            Some(public) => {
                let record = seal(
                    &catalog,
                    &public.public_key,
                    &public.crs,
                    &holder.id,
                    &holder.key,
                    pseudonym,
                    id,
                    &values,
                )?;
                id += 1;
                client.submit_sealed(&record)?
            }
            None => {
                let sealing = sealing.ok_or_else(|| {
                    format!("{label}: the subject is not registered, so there is no key to seal its openings to")
                })?;
                let items = commit_attributes(
                    &catalog,
                    &holder.id,
                    &holder.key,
                    pseudonym,
                    &sealing,
                    &values,
                    id,
                )?;
                id += values.len() as u64;
                client.submit_committed(&items)?
            }
        };
        eprintln!(
            "[{}/{total}] {label}: {} value(s) {path}, log {:?}",
            i + 1,
            values.len(),
            indices
        );
    }
    Ok(())
}

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

fn read_hex_file(p: &Path) -> Result<Vec<u8>> {
    let t = std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    hex::decode(t.trim()).map_err(|_| format!("{}: not hex", p.display()).into())
}

fn published_policy(client: &Client, name: &str) -> Result<Policy> {
    let (_, _, text) = client
        .policies()?
        .into_iter()
        .find(|(n, ..)| n == name)
        .ok_or_else(|| format!("the service has not published `{name}`"))?;
    Ok(Policy::parse(&text, &Catalog::builtin())?)
}

fn my_pseudonym(client: &Client) -> Result<Pseudonym> {
    Ok(client.subject_pseudonym()?)
}

/// `credence subject prove --as SUBJECT --policy P --day D --out FILE`.
pub fn subject_prove(server: &str, me: &Party, policy: &str, day: u32, out: &Path) -> Result<()> {
    crate::protocols::question::check_day("--day", day)?;
    let client = me.client(server);
    let sealing = me
        .sealing
        .as_ref()
        .ok_or("this party file has no sealing key (not a subject)")?;
    let policy = published_policy(&client, policy)?;
    let pseudonym = my_pseudonym(&client)?;
    let records = client.subject_records()?;
    let package = prove(&policy, day, pseudonym, &records, sealing, &client)?;
    std::fs::write(out, hex::encode(package.to_bytes()))?;
    println!(
        "proved `{}` for day {day} over {} commitments ({} proof bytes, {} package bytes); package written to {}",
        policy.name,
        package.inputs.len(),
        package.proof.len(),
        package.to_bytes().len(),
        out.display()
    );
    Ok(())
}

/// `credence subject consent --as SUBJECT --bank B --policy P --purpose T --from D --until D --out FILE`.
#[allow(clippy::too_many_arguments)]
pub fn subject_consent(
    server: &str,
    me: &Party,
    bank: &str,
    policy: &str,
    purpose: &str,
    from: u32,
    until: u32,
    out: &Path,
) -> Result<()> {
    crate::protocols::question::check_day("--from", from)?;
    crate::protocols::question::check_day("--until", until)?;
    if until < from {
        return Err("--until is before --from".into());
    }
    crate::protocols::log::entry::check_text("purpose", purpose)?;
    let client = me.client(server);
    let policy = published_policy(&client, policy)?;
    let mut nonce = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let c = SignedConsent::sign(
        Consent {
            subject: my_pseudonym(&client)?,
            bank: PartyId::new(bank)?,
            policy_hash: policy.hash(),
            purpose: purpose.into(),
            from_day: from,
            until_day: until,
            nonce,
        },
        &me.key,
    );
    std::fs::write(out, hex::encode(c.to_bytes()))?;
    println!("consent for {bank} written to {}", out.display());
    Ok(())
}

/// `credence subject history --as SUBJECT`: every query and verdict about me.
pub fn subject_history(server: &str, me: &Party) -> Result<()> {
    let v = me.client(server).subject_queries()?;
    for e in v["events"].as_array().into_iter().flatten() {
        println!("{e}");
    }
    Ok(())
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

/// `credence audit --as PARTY --anchors FILE [--state FILE] [--replay N --keys DIR]`.
pub fn run_audit(
    server: &str,
    who: &Party,
    anchors: &Path,
    state: Option<&Path>,
    replay: usize,
    keys: Option<&Path>,
    spike_per_day: u64,
) -> Result<bool> {
    let anchors = load_anchors(anchors)?;
    let client = who.client_for(server, &anchors);
    let previous = match state {
        Some(p) if p.exists() => Some(SignedCheckpoint::parse(&std::fs::read_to_string(p)?)?),
        _ => None,
    };
    let engine = match keys {
        Some(k) if replay > 0 => Some(Engine::new(PublicMaterial::load(k)?, 0)?),
        _ => None,
    };
    let report = audit(
        &client,
        &anchors,
        &AuditOptions {
            previous,
            replay,
            engine: engine.as_ref(),
            today: (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                / 86_400) as u32,
            spike_per_day,
        },
    )?;
    print!("{}", report.render());
    if let (Some(p), Some(cp), true) = (state, &report.checkpoint, report.ok()) {
        std::fs::write(p, cp.to_text())?;
    }
    Ok(report.ok())
}
