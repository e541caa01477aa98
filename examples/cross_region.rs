//! Cross-region recognition (跨区域互认), in process: `cargo run --release --example cross_region`.
//!
//! Two regions run their own Credence service (own keys, store and log): Tianjin holds an
//! enterprise's records; Beijing's federation file pins Tianjin's log key and gives Beijing a
//! bank identity at Tianjin. A Beijing bank asks 信易贷-style `public_procurement` about the
//! Tianjin enterprise: Beijing forwards the query, verifies Tianjin's receipt, logs the forward,
//! and the bank verifies the receipt itself. Beijing then witnesses Tianjin's log — cosigning a
//! checkpoint after checking consistency — and catches a forged second root for the same size.

use credence::circuits::catalog::Catalog;
use credence::circuits::policy::BUILTIN_POLICIES;
use credence::fhe::keys::PublicMaterial;
use credence::party::client::{call, Client};
use credence::party::holder::encrypt_record;
use credence::protocols::identifiers::{SubjectId, Uscc};
use credence::protocols::log::checkpoint::{Checkpoint, SignedCheckpoint};
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::signing::{Role, SigningKey};
use credence::server::process::{open_with, operator_key, Config, Running};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let root = std::env::temp_dir().join(format!("credence-regions-{}", std::process::id()));
    let result = run(&root);
    let _ = std::fs::remove_dir_all(&root);
    result
}

fn run(root: &std::path::Path) -> Result<(), Error> {
    let mut rng = rand::rngs::OsRng;
    let text = BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == "public_procurement")
        .ok_or("policy")?
        .1;

    // Tianjin: holders, the enterprise's sealed records, and a bank identity for Beijing.
    let tj_dir = root.join("tianjin");
    let tj_cfg = Config {
        dir: tj_dir.clone(),
        origin: "credence.example/tianjin".into(),
        ..Config::default()
    };
    let tj = Running::start(open_with(&tj_cfg, &mut |m| eprintln!("tianjin: {m}"))?.app)?;
    let tj_op = Client::new(&tj.addr, PartyId::new("operator")?, operator_key(&tj_dir)?);
    tj_op.publish_policy(text)?;
    let enterprise = SubjectId::Enterprise(Uscc::with_check_chars("91120116MA06TJ3K")?);
    let public = PublicMaterial::load(&tj_dir.join("keys"))?;
    for (name, values) in [
        ("credit.tianjin", vec![("credit.serious_dishonesty", 0u64)]),
        (
            "market.tianjin",
            vec![("market.abnormal_operation", 0), ("market.registered", 1)],
        ),
    ] {
        let key = SigningKey::generate(Role::Holder, &mut rng);
        let holder = Client::new(&tj.addr, PartyId::new(name)?, key.clone());
        tj_op.register_party(holder.party(), &key.public(), None)?;
        let (pseudonym, _) = holder.pseudonym(&enterprise)?;
        let values: Vec<(AttributeId, u64)> = values
            .iter()
            .map(|(a, v)| Ok((AttributeId::new(a)?, *v)))
            .collect::<Result<_, Error>>()?;
        let record = encrypt_record(
            &Catalog::builtin(),
            &public.public_key,
            &public.crs,
            holder.party(),
            &key,
            pseudonym,
            1,
            &values,
        )?;
        holder.submit_sealed(&record)?;
    }
    let bj_dir = root.join("beijing");
    std::fs::create_dir_all(&bj_dir)?;
    let party_file = bj_dir.join("beijing-at-tianjin.party");
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rng, &mut seed);
    credence::party::keyfile::write_party(
        &party_file,
        "region.beijing",
        Role::Bank,
        &seed,
        None,
        None,
    )
    .map_err(|e| e.to_string())?;
    tj_op.register_party(
        &PartyId::new("region.beijing")?,
        &SigningKey::from_seed(Role::Bank, &seed).public(),
        None,
    )?;
    println!(
        "Tianjin: records of {} uploaded; Beijing registered as `region.beijing`",
        enterprise.as_str()
    );

    // Beijing: the federation pins Tianjin's log key and routes queries there.
    let tj_anchors = tj_op.anchors_json()?;
    let federation = bj_dir.join("federation.toml");
    std::fs::write(
        &federation,
        format!(
            "[[partner]]\norigin = \"credence.example/tianjin\"\nlog_key = \"{}\"\nkey_authority_key = \"{}\"\naddress = \"{}\"\nparty_file = \"{}\"\n",
            tj_anchors["log_key"].as_str().ok_or("log key")?,
            tj_anchors["key_authority_key"].as_str().ok_or("key authority key")?,
            tj.addr,
            party_file.display()
        ),
    )?;
    let bj_cfg = Config {
        dir: bj_dir.clone(),
        origin: "credence.example/beijing".into(),
        federation: Some(federation),
        ..Config::default()
    };
    let bj = Running::start(open_with(&bj_cfg, &mut |m| eprintln!("beijing: {m}"))?.app)?;
    let bj_op = Client::new(&bj.addr, PartyId::new("operator")?, operator_key(&bj_dir)?);
    bj_op.publish_policy(text)?;
    let bank_key = SigningKey::generate(Role::Bank, &mut rng);
    let bank = Client::new(
        &bj.addr,
        PartyId::new("bank.ccb-beijing")?,
        bank_key.clone(),
    );
    bj_op.register_party(bank.party(), &bank_key.public(), None)?;

    // A Beijing bank asks about the Tianjin enterprise.
    let day = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        / 86_400) as u32;
    // Signed by the bank for its own region (which checks it and forwards the question).
    let question = bank.signed_question_via(
        &credence::party::client::Question {
            subject: &enterprise,
            policy: "public_procurement",
            day,
            purpose: "cross-region procurement bid",
            consent: None,
        },
        Some("credence.example/tianjin"),
    )?;
    let answer = bank.post("/v1/bank/query", &question)?;
    let receipt = credence::protocols::verdict::VerdictReceipt::from_bytes(&hex::decode(
        answer["receipt"].as_str().ok_or("receipt")?,
    )?)?;
    // The bank checks Tianjin's receipt itself: Tianjin's anchors as published (here read
    // from Tianjin directly, standing in for out-of-band delivery), its own copy of the policy,
    // its day, and the Tianjin pseudonym Beijing obtained and checked for the identifier.
    let pinned = credence::circuits::policy::builtin("public_procurement")
        .ok_or("policy")?
        .pin();
    let partner_subject = credence::protocols::pseudonym::Pseudonym::from_text(
        answer["partner_subject"]
            .as_str()
            .ok_or("partner subject")?,
    )
    .ok_or("partner subject")?;
    let verified = receipt.verify(
        &tj_op.anchors()?,
        &credence::protocols::question::Question {
            subject: partner_subject,
            policy: &pinned,
            as_of_day: day,
        },
    )?;
    println!(
        "Beijing bank: {:?} — Tianjin's verdict (its log index {}), forwarded and logged in Beijing at {}, receipt verified with Tianjin's pinned keys; Beijing cosigned Tianjin's checkpoint on the way",
        verified.outcome, receipt.leaf_index, answer["log_indices"]["query"]
    );

    // Beijing witnesses Tianjin's log.
    let cp = tj_op.checkpoint()?;
    let cosign = |text: String| -> Result<(u16, String), Error> {
        let body = serde_json::json!({ "checkpoint": text });
        let (st, b) = call(
            &bj.addr,
            "credence.example/beijing",
            "POST",
            "/v1/witness/cosign",
            body.to_string().as_bytes(),
            &bank_key,
            bank.party(),
        )?;
        Ok((st, String::from_utf8(b)?))
    };
    let (st, cosigned) = cosign(cp.to_text())?;
    println!(
        "Beijing cosigned Tianjin's checkpoint of size {} (HTTP {st}):\n{cosigned}",
        cp.checkpoint.size
    );
    // Had Tianjin's log key signed a second root for the same size (here forged with the key
    // from Tianjin's data directory), Beijing would refuse and keep both as evidence.
    let tj_log_key = SigningKey::from_seed(
        Role::Log,
        &std::fs::read(tj_dir.join("keys/log.seed"))?
            .try_into()
            .map_err(|_| "seed")?,
    );
    let forged = SignedCheckpoint::sign(
        Checkpoint::new("credence.example/tianjin", cp.checkpoint.size, [0x5a; 32])?,
        "credence.example/tianjin",
        &tj_log_key,
    )?;
    let (st, msg) = cosign(forged.to_text())?;
    println!(
        "a forged second root for size {}: HTTP {st} {msg}",
        cp.checkpoint.size
    );
    let alarms = bj_op.get("/v1/audit/alarms")?;
    println!(
        "Beijing's alarms: {}",
        alarms["alarms"].as_array().map_or(0, Vec::len)
    );
    bj.stop();
    tj.stop();
    Ok(())
}
