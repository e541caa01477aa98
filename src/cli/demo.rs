//! `credence demo`: the whole service, in process, on the embedded store.
//!
//! It starts the service on a fresh data directory (TFHE keys generated on first start),
//! registers a court, a tax bureau and a market regulator (plus the other authorities whose
//! attributes 信易贷 reads), a bank and four enterprises; the holders submit records on both
//! paths (sealed: TFHE proven lists; proven: signed Pedersen commitments with the openings
//! sealed to each enterprise); the bank asks 信易贷 on the sealed path, each enterprise that is
//! eligible proves it on the proven path, the bank verifies every verdict receipt, an
//! enterprise reads who asked about it, and the auditor follows the log, re-verifies every
//! verdict and re-checks the inputs of an FHE evaluation. Every step goes through the signed HTTP API with the
//! same [`Client`] a real deployment uses.

use crate::circuits::catalog::Catalog;
use crate::circuits::eval::{evaluate, Inputs};
use crate::circuits::policy::BUILTIN_POLICIES;
use crate::circuits::proof::lower_to_proof;
use crate::fhe::engine::Engine;
use crate::fhe::keys::PublicMaterial;
use crate::party::auditor::{audit, AuditOptions};
use crate::party::client::{Client, Question};
use crate::party::holder::commit_attributes;
use crate::party::holder::encrypt_record;
use crate::party::subject::prove;
use crate::party::RoleError;
use crate::protocols::identifiers::{SubjectId, Uscc};
use crate::protocols::log::entry::Outcome;
use crate::protocols::names::{AttributeId, PartyId};
use crate::protocols::seal::SealingSecretKey;
use crate::protocols::signing::{Role, SigningKey};
use crate::protocols::verdict::Evidence;
use crate::server::process::operator_key;
use rand::rngs::OsRng;
use std::collections::BTreeMap;
use std::time::Instant;

/// The as-of day of the demo questions (days since 1970-01-01: 2025-11-23).
pub const DAY: u32 = 20415;
/// The policy the demo asks about (shipped in `circuits/policies/`).
pub const POLICY: &str = "xinyidai";
/// The holders that submit on the sealed path: those of the six score indicators 信易贷
/// requires; the other lists take their catalogue default there ("not listed").
pub const SEALED_HOLDERS: [&str; 6] = ["court", "tax", "market", "social", "utility", "assoc"];

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A demo enterprise: name, USCC prefix (check characters are computed), and the attribute
/// values that differ from the catalogue defaults.
type Enterprise = (&'static str, &'static str, &'static [(&'static str, u64)]);

/// The story's first enterprise: no listing, good scores — eligible under 信易贷 (the bench
/// asks about it too).
pub const ELIGIBLE: &[(&str, u64)] = &[
    ("tax.credit_score", 90),
    ("market.compliance_score", 80),
    ("court.performance_score", 85),
    ("social.insurance_score", 90),
    ("utility.payment_score", 95),
    ("assoc.industry_score", 80),
];

const ENTERPRISES: [Enterprise; 4] = [
    (
        "Jingcheng Precision Machinery",
        "91110108MA01AB2C",
        ELIGIBLE,
    ),
    (
        "Haidian Cloud Software (on the court's dishonest-debtor list)",
        "91110108MA02CD4E",
        &[
            ("court.dishonest_debtor", DAY as u64 + 285),
            ("tax.credit_score", 95),
        ],
    ),
    (
        "Chaoyang Logistics (abnormal-operation listing repaired: it ended today)",
        "91110105MA03EF6G",
        &[
            ("market.abnormal_operation", DAY as u64),
            ("tax.credit_score", 70),
            ("market.compliance_score", 70),
            ("court.performance_score", 70),
            ("social.insurance_score", 70),
            ("utility.payment_score", 70),
            ("assoc.industry_score", 70),
        ],
    ),
    (
        "Fengtai Trading (low public credit score)",
        "91110106MA04GH8J",
        &[
            ("tax.credit_score", 50),
            ("market.compliance_score", 50),
            ("court.performance_score", 50),
            ("social.insurance_score", 50),
        ],
    ),
];

/// What one enterprise got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnterpriseOutcome {
    /// Its name.
    pub name: String,
    /// The verified sealed-path verdict.
    pub sealed: bool,
    /// The verified proven-path verdict (`None`: the subject could not prove eligibility).
    pub proven: Option<bool>,
}

/// What the story produced, for the CLI to print and tests to check.
pub struct StoryReport {
    /// Per enterprise, the verified verdicts.
    pub outcomes: Vec<EnterpriseOutcome>,
    /// The listed enterprise's verdicts after its repair (sealed, proven).
    pub after_repair: (bool, Option<bool>),
    /// The low-score enterprise's verdicts after its disputed score was corrected.
    pub after_correction: (bool, Option<bool>),
    /// Leaves in the log at the end.
    pub log_size: u64,
    /// Whether the audit found no problem.
    pub audit_ok: bool,
    /// The audit report.
    pub audit: String,
}

/// Runs the story on a fresh data directory under the system temp dir (removed afterwards),
/// narrating each step to `say`. `exe` is the `credence` executable the three processes are
/// started from.
pub fn run(exe: &std::path::Path, say: &mut dyn FnMut(&str)) -> Result<StoryReport, Error> {
    let dir = std::env::temp_dir().join(format!("credence-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = run_in(exe, &dir, say);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Runs the story on the region kept in `dir` (created if needed): the service, the key
/// authority and the witness as three processes started from `exe`.
pub fn run_in(
    exe: &std::path::Path,
    dir: &std::path::Path,
    say: &mut dyn FnMut(&str),
) -> Result<StoryReport, Error> {
    let started = Instant::now();
    let mut rng = OsRng;
    say("== Credence demo: 信易贷 on both paths, through the service's signed HTTP API ==");
    // Three processes, three key stores: the key authority (the TFHE client key, in its own
    // directory), the service (server key, log key, pseudonym key) and a witness cosigning its
    // checkpoints (quorum 1, pinned by banks).
    // The story is set on a fixed day (2025-11-23) so that its outcomes never change; its
    // key authority is told to decide that day (a deployment keeps the ±30-day window).
    let today = crate::server::records::now() / 86_400;
    let region = crate::server::apart::Apart::start(
        exe,
        dir,
        &crate::server::apart::ApartOptions {
            day_window: u32::try_from(today.abs_diff(u64::from(DAY)) + 1).unwrap_or(u32::MAX),
            ..Default::default()
        },
        &mut |m| say(m),
    )?;
    let addr = region.service.clone();
    say(&format!(
        "service listening on {addr}; embedded store {}; key authority on {} (its client key in {}, none in the service's directory); witness {} on {} cosigns its checkpoints",
        dir.join("credence.redb").display(),
        region.key_authority,
        dir.join("key-authority").display(),
        region.anchors.witnesses[0].to_vkey(),
        region.witness
    ));
    let operator = Client::new(&addr, PartyId::new("operator")?, operator_key(dir)?);
    let public = PublicMaterial::load(&dir.join("keys"))?;
    let catalog = Catalog::builtin();
    let (_, policy_text) = BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == POLICY)
        .ok_or("policy not shipped")?;
    let policy_hash = operator.publish_policy(policy_text)?;
    let policy = crate::circuits::policy::builtin(POLICY).ok_or("policy not shipped")?;
    let plan = lower_to_proof(&policy)?;
    say(&format!(
        "operator published `{POLICY}` (hash {}…): {} attributes from {} authorities",
        &hex::encode(policy_hash)[..16],
        policy.reads.len(),
        plan.inputs()
            .iter()
            .map(|i| i.authority.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    ));

    // Holders: one per authority the policy reads from.
    let mut holders: BTreeMap<String, Client> = BTreeMap::new();
    for input in plan.inputs() {
        let authority = input.authority.clone();
        if let std::collections::btree_map::Entry::Vacant(slot) = holders.entry(authority) {
            let id = PartyId::new(&format!("{}.beijing", slot.key()))?;
            let key = SigningKey::generate(Role::Holder, &mut rng);
            region.register_holder(&operator, &id, key.public())?;
            slot.insert(Client::new(&addr, id, key));
        }
    }
    let bank_key = SigningKey::generate(Role::Bank, &mut rng);
    let bank_id = PartyId::new("bank.icbc-beijing")?;
    operator.register_party(&bank_id, &bank_key.public(), None)?;
    let bank = Client::new(&addr, bank_id, bank_key);
    say(&format!(
        "operator registered {} holders ({}), each certified by its authority's root, and bank {}",
        holders.len(),
        holders
            .values()
            .map(|c| c.party().as_str())
            .collect::<Vec<_>>()
            .join(", "),
        bank.party()
    ));
    // The bank pins the trust anchors: it fetches them and compares their fingerprint with the
    // one it was given out of band (here: computed from the keys the operator published).
    let anchors = bank.anchors()?;
    if anchors.fingerprint() != region.anchors.fingerprint() {
        return Err("the service serves other trust anchors than the published ones".into());
    }
    say(&format!(
        "bank pinned the trust anchors (fingerprint {}…: log key, key authority, 1 witness, quorum 1, {} authority roots)",
        &hex::encode(anchors.fingerprint())[..16],
        anchors.authorities.len()
    ));
    let pinned = policy.pin();

    let mut outcomes = Vec::new();
    let mut next_submission: BTreeMap<String, u64> = BTreeMap::new();
    let mut subjects = Vec::new();
    for (n, (name, prefix, overrides)) in ENTERPRISES.iter().enumerate() {
        let uscc = Uscc::with_check_chars(prefix)?;
        let id = SubjectId::Enterprise(uscc.clone());
        // The enterprise registers (the operator has checked who it is) with a signing key and
        // a sealing key for the openings holders send it.
        let subject_key = SigningKey::generate(Role::Subject, &mut rng);
        let sealing = SealingSecretKey::generate(&mut rng);
        let party = PartyId::new(&format!("ent.{}", n + 1))?;
        operator.register_party(
            &party,
            &subject_key.public(),
            Some((&id, &sealing.public())),
        )?;
        let subject_client = Client::new(&addr, party, subject_key);
        let court = &holders["court"];
        let (pseudonym, sealing_pub) = court.pseudonym(&id)?;
        let sealing_pub = sealing_pub.ok_or("the subject's sealing key was not returned")?;
        say(&format!(
            "\n-- {name}: USCC {}, pseudonym {}…",
            uscc.as_str(),
            &pseudonym.to_text()[..23]
        ));
        let inputs = Inputs::new(&catalog, overrides.iter().copied())?;

        // Sealed path: the court, the tax bureau and the market regulator encrypt their values.
        let t = Instant::now();
        let mut sealed_values = 0;
        for authority in SEALED_HOLDERS {
            let holder = &holders[authority];
            let values: Vec<(AttributeId, u64)> = policy
                .reads
                .iter()
                .filter(|(a, ..)| catalog.get(a.as_str()).is_ok_and(|e| e.holder == authority))
                .map(|(a, _, _, default)| (a.clone(), inputs.get(a.as_str()).unwrap_or(*default)))
                .collect();
            let counter = next_submission.entry(authority.to_string()).or_insert(1);
            let record = encrypt_record(
                &catalog,
                &public.public_key,
                &public.crs,
                holder.party(),
                &holder_key(&holders, authority),
                pseudonym,
                *counter,
                &values,
            )?;
            *counter += 1;
            holder.submit_sealed(&record)?;
            sealed_values += values.len();
        }
        say(&format!(
            "   sealed: court, tax bureau and market regulator encrypted {sealed_values} values as proven TFHE lists; the service verified and stored them ({:.1} s)",
            t.elapsed().as_secs_f64()
        ));

        // Proven path: every authority commits to its values, sealing each opening to the
        // enterprise.
        let t = Instant::now();
        let mut committed = 0;
        for (authority, holder) in &holders {
            let values: Vec<(AttributeId, u64)> = plan
                .inputs()
                .iter()
                .filter(|i| &i.authority == authority)
                .map(|i| {
                    let a = &i.attribute;
                    let d = catalog.get(a.as_str()).map(|e| e.default).unwrap_or(0);
                    (a.clone(), inputs.get(a.as_str()).unwrap_or(d))
                })
                .collect();
            let counter = next_submission.entry(authority.clone()).or_insert(1);
            let items = commit_attributes(
                &catalog,
                holder.party(),
                &holder_key(&holders, authority),
                pseudonym,
                &sealing_pub,
                &values,
                *counter,
            )?;
            *counter += values.len() as u64;
            holder.submit_committed(&items)?;
            committed += items.len();
        }
        say(&format!(
            "   proven: {} authorities committed to {committed} values with range certificates, openings sealed to the enterprise ({:.2} s)",
            holders.len(),
            t.elapsed().as_secs_f64()
        ));

        // The bank asks on the sealed path and verifies the receipt.
        let question = Question {
            subject: &id,
            policy: POLICY,
            day: DAY,
            purpose: "loan application",
            consent: None,
        };
        let t = Instant::now();
        let answer = bank.query_sealed(&question)?;
        // The bank's own question: the pseudonym it was told for this USCC, its pinned policy.
        let (asked, _) = bank.pseudonym(&id)?;
        let vq = crate::protocols::question::Question {
            subject: asked,
            policy: &pinned,
            as_of_day: DAY,
        };
        let sealed = answer
            .receipt
            .verify_issued_to(&anchors, &vq, bank.party())?
            .outcome
            == Outcome::Eligible(true);
        let oracle = evaluate(&policy, &inputs, DAY);
        say(&format!(
            "   bank, sealed path: {} — {} bootstraps on ciphertexts, decrypted only by the key authority after replaying it; receipt verified (verdict at log index {}, checkpoint size {}) in {:.1} s (plaintext oracle: {oracle:?})",
            if sealed { "ELIGIBLE" } else { "NOT eligible" },
            answer.json["bootstraps"],
            answer.receipt.leaf_index,
            answer.receipt.checkpoint.checkpoint.size,
            t.elapsed().as_secs_f64()
        ));

        // The enterprise proves on the proven path (only "eligible" is provable).
        let records = subject_client.subject_records()?;
        let proven = match prove(&policy, DAY, pseudonym, &records, &sealing, &subject_client) {
            Ok(package) => {
                let answer = bank.query_proven(&question, &package)?;
                let verified = answer
                    .receipt
                    .verify_issued_to(&anchors, &vq, bank.party())?;
                if !matches!(
                    answer.receipt.verdict.verdict.evidence,
                    Evidence::Proof { .. }
                ) {
                    return Err("a proven-path verdict without a proof".into());
                }
                say(&format!(
                    "   enterprise, proven path: opened its {} commitments and proved {} predicates ({} proof bytes, {} package bytes); bank derived the statement from its own question and verified the service-signed verdict: {:?}",
                    package.inputs.len(),
                    plan.predicates().len(),
                    package.proof.len(),
                    package.to_bytes().len(),
                    verified.outcome
                ));
                Some(verified.outcome == Outcome::Eligible(true))
            }
            Err(RoleError::Unsatisfied(i)) => {
                say(&format!(
                    "   enterprise, proven path: cannot prove eligibility (predicate {i} fails) — there is no proof of a \"no\"; the sealed verdict stands"
                ));
                None
            }
            Err(e) => return Err(e.into()),
        };
        outcomes.push(EnterpriseOutcome {
            name: name.to_string(),
            sealed,
            proven,
        });
        subjects.push((subject_client, id.clone(), pseudonym, sealing));
    }

    // Asks 信易贷 on both paths again and verifies both receipts.
    let ask_both = |i: usize| -> Result<(bool, Option<bool>), Error> {
        let (client, id, pseudonym, sealing) = &subjects[i];
        let q = Question {
            subject: id,
            policy: POLICY,
            day: DAY,
            purpose: "loan application",
            consent: None,
        };
        let (asked, _) = bank.pseudonym(id)?;
        let vq = crate::protocols::question::Question {
            subject: asked,
            policy: &pinned,
            as_of_day: DAY,
        };
        let sealed = bank
            .query_sealed(&q)?
            .receipt
            .verify_issued_to(&anchors, &vq, bank.party())?
            .outcome
            == Outcome::Eligible(true);
        let records = client.subject_records()?;
        let proven = match prove(&policy, DAY, *pseudonym, &records, sealing, client) {
            Ok(package) => Some(
                bank.query_proven(&q, &package)?
                    .receipt
                    .verify_issued_to(&anchors, &vq, bank.party())?
                    .outcome
                    == Outcome::Eligible(true),
            ),
            Err(RoleError::Unsatisfied(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok((sealed, proven))
    };
    let items_json = |items: &[(
        crate::protocols::commitment::SignedAttributeCommitment,
        crate::protocols::seal::SealedOpening,
    )]| {
        items
            .iter()
            .map(|(c, o)| {
                serde_json::json!({
                    "commitment": hex::encode(c.to_bytes()),
                    "opening": hex::encode(o.to_bytes()),
                })
            })
            .collect::<Vec<_>>()
    };
    // A holder's sealed record of just the changed attribute: the latest record per attribute
    // is what an evaluation reads, so the holder's other attributes stay as they were. Sealed
    // before the commitment, so that on both paths the latest record carries the new value.
    let reseal = |authority: &str, i: usize, changed: (&str, u64), id: u64| -> Result<(), Error> {
        let holder = &holders[authority];
        let record = encrypt_record(
            &catalog,
            &public.public_key,
            &public.crs,
            holder.party(),
            holder.key(),
            subjects[i].2,
            id,
            &[(AttributeId::new(changed.0)?, changed.1)],
        )?;
        holder.submit_sealed(&record)?;
        Ok(())
    };

    // Credit repair (信用修复): Haidian Cloud Software has performed the judgment. Its listing
    // (judgment-defaulter regime: 2 years from the decision) may be repaired at once; it
    // applies, the court approves and ends the listing today on both paths.
    let regimes = crate::circuits::periods::Regimes::builtin();
    let listing = regimes.listing("court.dishonest_debtor", "standard", DAY - 445, 0)?;
    say(&format!(
        "\n-- repair: {} is listed until day {} ({}, class {}); earliest repair day {}",
        ENTERPRISES[1].0, listing.until, listing.regime, listing.class, listing.earliest_repair
    ));
    let (ent, _, pseudonym, sealing) = &subjects[1];
    let court = &holders["court"];
    let app = ent.post(
        "/v1/subject/repairs",
        &serde_json::json!({
            "holder": court.party().as_str(), "attribute": "court.dishonest_debtor",
            "reason": "the judgment was fully performed on 2025-11-20",
        }),
    )?;
    let counter = next_submission.entry("court".to_string()).or_insert(1);
    let items = commit_attributes(
        &catalog,
        court.party(),
        court.key(),
        *pseudonym,
        &sealing.public(),
        &[(AttributeId::new("court.dishonest_debtor")?, u64::from(DAY))],
        *counter,
    )?;
    *counter += 1;
    let sealed_id = *counter;
    *counter += 1;
    reseal(
        "court",
        1,
        ("court.dishonest_debtor", u64::from(DAY)),
        sealed_id,
    )?;
    court.post(
        "/v1/holder/repairs/decide",
        &serde_json::json!({
            "id": app["id"], "approve": true, "reason": "obligations performed; listing ends today",
            "repair_day": DAY, "items": items_json(&items),
        }),
    )?;
    let receipt = &ent.get("/v1/subject/repairs")?["repairs"][0]["receipt"];
    let cp = crate::protocols::log::checkpoint::SignedCheckpoint::parse(
        receipt["checkpoint"].as_str().ok_or("no repair receipt")?,
    )?;
    let root = anchors.verify_checkpoint(&cp)?.root;
    let leaf = crate::protocols::log::entry::LogLeaf::from_bytes(&hex::decode(
        receipt["leaf"].as_str().ok_or("no repair leaf")?,
    )?)?;
    if !matches!(leaf.entry, crate::protocols::log::entry::LogEntry::Repair { subject, .. } if subject == *pseudonym)
    {
        return Err("the repair receipt's leaf is not the enterprise's Repair entry".into());
    }
    crate::protocols::log::InclusionProof::from_bytes(&hex::decode(
        receipt["inclusion"].as_str().ok_or("no inclusion proof")?,
    )?)?
    .verify::<crate::protocols::log::Sha3Log>(&leaf.hash(), &root)?;
    let repair = ask_both(1)?;
    say(&format!(
        "   Haidian applied; the court approved and submitted the listing's end (day {DAY}); the enterprise's repair receipt verifies (Repair entry {} under checkpoint {}); 信易贷 now: sealed {}, proven {:?}",
        receipt["index"], cp.checkpoint.size, repair.0, repair.1
    ));

    // A dispute (异议): Fengtai Trading disputes its tax credit score; the tax bureau finds the
    // 2025 filing was scored twice and corrects it to 80.
    let (ent, _, pseudonym, _) = &subjects[3];
    let tax = &holders["tax"];
    let mine = ent.get("/v1/subject/records")?;
    let entry = mine["committed"]
        .as_array()
        .and_then(|c| c.iter().find(|r| r["attribute"] == "tax.credit_score"))
        .and_then(|r| r["log_index"].as_u64())
        .ok_or("no tax score record")?;
    let leaf = ent.entry(entry)?.ok_or("no entry")?;
    let statement = crate::protocols::dispute::SignedDispute::sign(
        crate::protocols::dispute::Dispute {
            subject: *pseudonym,
            disputed_index: entry,
            disputed_leaf_hash: leaf.hash(),
            reason: "the 2025 filing was penalised twice".into(),
            filed_day: (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs()
                / 86_400) as u32,
            nonce: [7; 16],
        },
        ent.key(),
    );
    let filed = ent.post(
        "/v1/subject/disputes",
        &serde_json::json!({ "statement": hex::encode(statement.to_bytes()) }),
    )?;
    let counter = next_submission.entry("tax".to_string()).or_insert(1);
    let items = commit_attributes(
        &catalog,
        tax.party(),
        tax.key(),
        *pseudonym,
        &sealing_of(&subjects[3].3),
        &[(AttributeId::new("tax.credit_score")?, 80)],
        *counter,
    )?;
    *counter += 1;
    let sealed_id = *counter;
    *counter += 1;
    reseal("tax", 3, ("tax.credit_score", 80), sealed_id)?;
    let answered = tax.post(
        "/v1/holder/disputes/answer",
        &serde_json::json!({ "dispute_index": filed["index"], "uphold": false, "items": items_json(&items) }),
    )?;
    let corrected = ask_both(3)?;
    say(&format!(
        "\n-- dispute: {} disputed its tax credit score (entry {entry}, logged as dispute {}, answer due day {}); the tax bureau corrected it to 80 (answer entry {}); 信易贷 now: sealed {}, proven {:?}",
        ENTERPRISES[3].0, filed["index"], filed["answer_by_day"], answered["answer_index"], corrected.0, corrected.1
    ));

    // An enterprise sees who asked about it.
    let history = subjects[0].0.subject_queries()?;
    let events = history["events"].as_array().map_or(0, Vec::len);
    say(&format!(
        "\n-- {} reads its query history: {events} events (queries and verdicts, with bank, purpose and day)",
        ENTERPRISES[0].0
    ));

    // The auditor.
    let auditor_key = SigningKey::generate(Role::Auditor, &mut rng);
    let auditor_id = PartyId::new("auditor.beijing")?;
    operator.register_party(&auditor_id, &auditor_key.public(), None)?;
    let auditor = Client::new(&addr, auditor_id, auditor_key);
    let engine = Engine::new(public, 0)?;
    let t = Instant::now();
    let report = audit(
        &auditor,
        &anchors,
        &AuditOptions {
            previous: None,
            replay: 1,
            engine: Some(&engine),
            today: DAY,
            spike_per_day: 100,
        },
    )?;
    say(&format!(
        "\n-- privacy auditor ({:.1} s):",
        t.elapsed().as_secs_f64()
    ));
    for line in report.render().lines() {
        say(&format!("   {line}"));
    }
    let log_size = report.checkpoint.as_ref().map_or(0, |c| c.checkpoint.size);
    let token = std::fs::read_to_string(dir.join("metrics.token")).unwrap_or_default();
    let bearer = [("authorization", format!("Bearer {}", token.trim()))];
    if let Ok((200, _, body)) = crate::party::client::http(&addr, "GET", "/metrics", &bearer, b"") {
        if let Some(line) = crate::server::metrics::sealed_shares(&String::from_utf8_lossy(&body)) {
            say(&format!("\n-- where a sealed query's time goes: {line}"));
        }
    }
    region.stop();
    say(&format!(
        "\ndemo finished in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(StoryReport {
        outcomes,
        after_repair: repair,
        after_correction: corrected,
        log_size,
        audit_ok: report.ok(),
        audit: report.render(),
    })
}

fn sealing_of(k: &SealingSecretKey) -> crate::protocols::seal::SealingPublicKey {
    k.public()
}

fn holder_key(holders: &BTreeMap<String, Client>, authority: &str) -> SigningKey {
    holders[authority].key().clone()
}
