//! A bank's loan check through the Rust client: `cargo run --example loan_check`.
//!
//! Starts a Credence service and its witness in process on a temporary embedded store, registers
//! the six holders whose indicators 信易贷 requires and a bank, has them upload sealed (TFHE)
//! records about one enterprise, and then does what a loan desk does: ask 信易贷 for the
//! enterprise and verify the signed verdict's receipt against the pinned trust anchors and its
//! own question. Then the court lists the enterprise as a dishonest debtor and the desk asks
//! again.

use credence::circuits::catalog::Catalog;
use credence::circuits::policy::BUILTIN_POLICIES;
use credence::fhe::keys::PublicMaterial;
use credence::party::client::{Client, Question};
use credence::party::holder::encrypt_record;
use credence::protocols::identifiers::{SubjectId, Uscc};
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::signing::{Role, SigningKey};
use credence::server::process::{operator_key, LocalRegion};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Today (the key authority decides days within 30 of its clock).
fn today() -> u32 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        / 86_400) as u32
}

fn main() -> Result<(), Error> {
    let dir = std::env::temp_dir().join(format!("credence-loan-check-{}", std::process::id()));
    let result = run(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(dir: &std::path::Path) -> Result<(), Error> {
    let mut rng = rand::rngs::OsRng;
    let region = LocalRegion::start(dir, &mut |m| eprintln!("{m}"))?;
    let addr = region.service.addr.clone();
    let operator = Client::new(&addr, PartyId::new("operator")?, operator_key(dir)?);
    let text = BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == "xinyidai")
        .ok_or("policy")?
        .1;
    operator.publish_policy(text)?;
    // The bank pins the policy it reads, by its own copy of the text.
    let pinned = credence::circuits::policy::builtin("xinyidai")
        .ok_or("policy")?
        .pin();

    let mut holders = Vec::new();
    for name in [
        "court.haidian",
        "tax.beijing",
        "market.beijing",
        "social.beijing",
        "utility.beijing",
        "assoc.beijing",
    ] {
        let key = SigningKey::generate(Role::Holder, &mut rng);
        let id = PartyId::new(name)?;
        operator.register_party(&id, &key.public(), None)?;
        holders.push(Client::new(&addr, id, key));
    }
    let bank_key = SigningKey::generate(Role::Bank, &mut rng);
    let bank_id = PartyId::new("bank.boc-haidian")?;
    operator.register_party(&bank_id, &bank_key.public(), None)?;
    let bank = Client::new(&addr, bank_id, bank_key);
    // Pinned when the bank joined: what the service serves must match what was published.
    let anchors = bank.anchors()?;
    if anchors.fingerprint() != region.anchors.fingerprint() {
        return Err("the service's anchors differ from the published ones".into());
    }

    let enterprise = SubjectId::Enterprise(Uscc::with_check_chars("91110108MA05KL2M")?);
    let public = PublicMaterial::load(&dir.join("keys"))?;
    let catalog = Catalog::builtin();
    let upload = |holder: &Client, id: u64, values: &[(&str, u64)]| -> Result<(), Error> {
        let (pseudonym, _) = holder.pseudonym(&enterprise)?;
        let values: Vec<(AttributeId, u64)> = values
            .iter()
            .map(|(a, v)| Ok((AttributeId::new(a)?, *v)))
            .collect::<Result<_, Error>>()?;
        let record = encrypt_record(
            &catalog,
            &public.public_key,
            &public.crs,
            holder.party(),
            holder.key(),
            pseudonym,
            id,
            &values,
        )?;
        holder.submit_sealed(&record)?;
        Ok(())
    };
    upload(
        &holders[0],
        1,
        &[
            ("court.dishonest_debtor", 0),
            ("court.performance_score", 80),
        ],
    )?;
    upload(
        &holders[1],
        1,
        &[("tax.major_violation", 0), ("tax.credit_score", 85)],
    )?;
    upload(
        &holders[2],
        1,
        &[
            ("market.abnormal_operation", 0),
            ("market.compliance_score", 75),
        ],
    )?;
    upload(&holders[3], 1, &[("social.insurance_score", 70)])?;
    upload(&holders[4], 1, &[("utility.payment_score", 90)])?;
    upload(&holders[5], 1, &[("assoc.industry_score", 60)])?;

    let ask = || -> Result<(), Error> {
        let answer = bank.query_sealed(&Question {
            subject: &enterprise,
            policy: "xinyidai",
            day: today(),
            purpose: "working-capital loan, application 2026-0931",
            consent: None,
        })?;
        let (pseudonym, _) = bank.pseudonym(&enterprise)?;
        let verified = answer.receipt.verify_issued_to(
            &anchors,
            &credence::protocols::question::Question {
                subject: pseudonym,
                policy: &pinned,
                as_of_day: today(),
            },
            bank.party(),
        )?;
        println!(
            "{}: {:?} on records of {} attributes — verdict signed by the key authority, logged at {}, included under a witnessed checkpoint of size {} (verified)",
            enterprise.as_str(),
            verified.outcome,
            verified.coverage.len(),
            answer.receipt.leaf_index,
            answer.receipt.checkpoint.checkpoint.size
        );
        Ok(())
    };
    ask()?;
    // The court lists the enterprise as a dishonest debtor for two years.
    upload(
        &holders[0],
        2,
        &[
            ("court.dishonest_debtor", u64::from(today()) + 730),
            ("court.performance_score", 80),
        ],
    )?;
    ask()?;
    region.stop();
    Ok(())
}
