//! The sealed path end to end at library level: holders seal records (proven compact lists
//! bound to their metadata), the engine verifies, expands, compresses and evaluates, and the key
//! authority replays, decrypts and signs — or refuses each thing it must refuse.
//!
//! Keys are generated once for this test binary; FHE tests run one at a time.

use credence::circuits::catalog::Catalog;
use credence::circuits::eval::{evaluate, Inputs};
use credence::circuits::policy::builtin;
use credence::fhe::engine::{Engine, IngestError, StoredRecord};
use credence::fhe::keys::{generate, PublicMaterial};
use credence::fhe::SealedRecord;
use credence::key_authority::{DecryptionRequest, KeyAuthority, Refusal, ReplayPolicy};
use credence::party::holder::{encrypt_record, SealError};
use credence::protocols::identifiers::SubjectKind;
use credence::protocols::log::entry::Outcome;
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::pseudonym::Pseudonym;
use credence::protocols::sealed::{SealedSubmission, SignedSealedSubmission};
use credence::protocols::signing::{Role, SigningKey};
use std::sync::{Mutex, MutexGuard, OnceLock};
use tfhe::prelude::*;

const D: u32 = 20_415;

struct World {
    engine: Engine,
    authority: Mutex<KeyAuthority>,
    credit: SigningKey,
    market: SigningKey,
    tax: SigningKey,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let (secret, public) = generate(&mut |_, _| {}).unwrap();
        let mut rng = rand::thread_rng();
        let credit = SigningKey::generate(Role::Holder, &mut rng);
        let market = SigningKey::generate(Role::Holder, &mut rng);
        let tax = SigningKey::generate(Role::Holder, &mut rng);
        let ka = KeyAuthority::new(
            secret,
            public.clone(),
            SigningKey::generate(Role::KeyAuthority, &mut rng),
            Catalog::builtin(),
            0,
        )
        .unwrap();
        for name in ["public_procurement", "rongque", "credit_grade"] {
            ka.publish(builtin(name).unwrap());
        }
        ka.register_holder(party("credit"), credit.public());
        ka.register_holder(party("market"), market.public());
        ka.register_holder(party("tax"), tax.public());
        World {
            engine: Engine::new(public, 0).unwrap(),
            authority: Mutex::new(ka),
            credit,
            market,
            tax,
        }
    })
}

fn serial() -> MutexGuard<'static, ()> {
    static S: Mutex<()> = Mutex::new(());
    S.lock().unwrap_or_else(|e| e.into_inner())
}

fn party(s: &str) -> PartyId {
    PartyId::new(s).unwrap()
}

fn attr(s: &str) -> AttributeId {
    AttributeId::new(s).unwrap()
}

fn subject(n: u8) -> Pseudonym {
    Pseudonym {
        kind: SubjectKind::Enterprise,
        bytes: [n; 32],
    }
}

fn seal_as(
    holder: &str,
    key: &SigningKey,
    who: Pseudonym,
    id: u64,
    values: &[(&str, u64)],
) -> SealedRecord {
    let w = world();
    let values: Vec<(AttributeId, u64)> = values.iter().map(|(a, v)| (attr(a), *v)).collect();
    encrypt_record(
        &Catalog::builtin(),
        &w.engine.public().public_key,
        &w.engine.public().crs,
        &party(holder),
        key,
        who,
        id,
        &values,
    )
    .unwrap()
}

/// public_procurement for one subject: credit's record and market's record.
fn procurement_records(who: Pseudonym, listed_until: u64, registered: u64) -> Vec<SealedRecord> {
    let w = world();
    vec![
        seal_as(
            "credit",
            &w.credit,
            who,
            1,
            &[("credit.serious_dishonesty", listed_until)],
        ),
        seal_as(
            "market",
            &w.market,
            who,
            1,
            &[
                ("market.abnormal_operation", 0),
                ("market.registered", registered),
            ],
        ),
    ]
}

fn holder_key(r: &SealedRecord) -> credence::protocols::signing::PublicKey {
    let w = world();
    match r.submission.submission.holder.as_str() {
        "credit" => w.credit.public(),
        "market" => w.market.public(),
        _ => w.tax.public(),
    }
}

fn ingest_all(records: &[SealedRecord]) -> Vec<StoredRecord> {
    let w = world();
    records
        .iter()
        .map(|r| {
            w.engine
                .ingest(r, &holder_key(r), &Catalog::builtin())
                .unwrap()
                .stored
        })
        .collect()
}

fn request(
    policy: &str,
    who: Pseudonym,
    inputs: Vec<SealedRecord>,
    output: Vec<u8>,
) -> DecryptionRequest {
    DecryptionRequest {
        policy_hash: builtin(policy).unwrap().hash(),
        day: D,
        subject: who,
        inputs,
        logged_output_hash: credence::fhe::engine::sha3(&output),
        output,
        evaluation_index: 7,
        decryption_index: 8,
        log_indices: vec![1, 2, 7, 8],
        issued_at: 1_763_900_000,
    }
}

fn request_for_day(
    policy: &str,
    who: Pseudonym,
    inputs: Vec<SealedRecord>,
    output: Vec<u8>,
    day: u32,
) -> DecryptionRequest {
    DecryptionRequest {
        day,
        ..request(policy, who, inputs, output)
    }
}

#[test]
fn honest_evaluations_are_decrypted_and_signed() {
    let _s = serial();
    let w = world();
    let policy = builtin("public_procurement").unwrap();
    for (n, listed_until, registered) in [
        (1u8, 0u64, 1u64),
        (2, u64::from(D) + 1, 1),
        (3, u64::from(D), 1),
        (4, 0, 0),
    ] {
        let who = subject(n);
        let records = procurement_records(who, listed_until, registered);
        let stored = ingest_all(&records);
        let evaluation = w.engine.evaluate(&policy, D, &stored).unwrap();
        let oracle = evaluate(
            &policy,
            &Inputs::new(
                &Catalog::builtin(),
                [
                    ("credit.serious_dishonesty", listed_until),
                    ("market.abnormal_operation", 0),
                    ("market.registered", registered),
                ],
            )
            .unwrap(),
            D,
        );
        let ka = w.authority.lock().unwrap();
        let signed = ka
            .decide(&request(
                "public_procurement",
                who,
                records,
                evaluation.output,
            ))
            .unwrap();
        assert_eq!(signed.verdict.outcome, oracle, "subject {n}");
        assert_eq!(signed.verdict.subject, who);
        ka.public_key()
            .verify(Role::KeyAuthority, &signed.verdict, &signed.signature)
            .unwrap();
    }
}

#[test]
fn other_policies_and_grades() {
    let _s = serial();
    let w = world();
    let policy = builtin("rongque").unwrap();
    let who = subject(9);
    let records = vec![
        seal_as(
            "credit",
            &w.credit,
            who,
            2,
            &[("credit.red_list", u64::from(D) + 30)],
        ),
        seal_as(
            "tax",
            &w.tax,
            who,
            2,
            &[("tax.grade_a", 0), ("tax.credit_score", 100)],
        ),
    ];
    let stored = ingest_all(&records);
    let evaluation = w.engine.evaluate(&policy, D, &stored).unwrap();
    let ka = w.authority.lock().unwrap();
    let signed = ka
        .decide(&request("rongque", who, records.clone(), evaluation.output))
        .unwrap();
    assert_eq!(signed.verdict.outcome, Outcome::Eligible(true));

    // credit_grade: 300 + 100 + 49 = 449 → B (index 1); with 50 → 450 → A (index 0).
    let grade = builtin("credit_grade").unwrap();
    for (compliance, expected) in [(49u64, 1u8), (50, 0)] {
        let mut inputs = vec![records[1].clone()];
        inputs.push(seal_as(
            "market",
            &w.market,
            who,
            10 + compliance,
            &[("market.compliance_score", compliance)],
        ));
        let stored = ingest_all(&inputs);
        let evaluation = w.engine.evaluate(&grade, D, &stored).unwrap();
        let signed = ka
            .decide(&request("credit_grade", who, inputs, evaluation.output))
            .unwrap();
        assert_eq!(signed.verdict.outcome, Outcome::Grade(expected));
    }
}

#[test]
fn the_key_authority_refuses_everything_else() {
    let _s = serial();
    let w = world();
    let policy = builtin("public_procurement").unwrap();
    let who = subject(5);
    let records = procurement_records(who, u64::from(D) + 1, 1);
    let stored = ingest_all(&records);
    let honest = w.engine.evaluate(&policy, D, &stored).unwrap();
    let ka = w.authority.lock().unwrap();

    // A stored record (raw attribute ciphertexts) is not an output.
    let raw = stored[0].bytes.clone();
    assert!(matches!(
        ka.decide(&request("public_procurement", who, records.clone(), raw)),
        Err(Refusal::NotAnOutput(_))
    ));
    // Nor is an expanded 16-bit attribute ciphertext.
    let attribute16 = {
        let list = tfhe::CompactCiphertextList::builder(&w.engine.public().public_key)
            .push(u16::MAX)
            .build_packed();
        let ct: tfhe::FheUint16 = w
            .engine
            .install(|| list.expand().unwrap().get(0).unwrap().unwrap());
        let mut b = Vec::new();
        tfhe::safe_serialization::safe_serialize(&ct, &mut b, 1 << 20).unwrap();
        b
    };
    assert!(matches!(
        ka.decide(&request(
            "public_procurement",
            who,
            records.clone(),
            attribute16
        )),
        Err(Refusal::NotAnOutput(_))
    ));

    // A well-formed 8-bit ciphertext that is not the honest evaluation output — an encryption of
    // "eligible", or the evaluation for another day (when the listing has lapsed) — cannot
    // change the verdict: the key authority decrypts its own replay, never what it is sent.
    let forged = encrypt_u8(1);
    let signed = ka
        .decide(&request(
            "public_procurement",
            who,
            records.clone(),
            forged.clone(),
        ))
        .unwrap();
    assert_eq!(signed.verdict.outcome, Outcome::Eligible(false));
    let other_day = w.engine.evaluate(&policy, D + 400, &stored).unwrap();
    let signed = ka
        .decide(&request(
            "public_procurement",
            who,
            records.clone(),
            other_day.output,
        ))
        .unwrap();
    assert_eq!(signed.verdict.outcome, Outcome::Eligible(false));
    // (The honest output for day D+400 would say "eligible": the listing has lapsed by then.)
    assert_eq!(
        ka.decide(&request_for_day(
            "public_procurement",
            who,
            records.clone(),
            w.engine.evaluate(&policy, D + 400, &stored).unwrap().output,
            D + 400,
        ))
        .unwrap()
        .verdict
        .outcome,
        Outcome::Eligible(true)
    );

    // The output the log does not record.
    let mut r = request(
        "public_procurement",
        who,
        records.clone(),
        honest.output.clone(),
    );
    r.logged_output_hash[0] ^= 1;
    assert_eq!(ka.decide(&r).unwrap_err(), Refusal::NotLogged);

    // Unknown policy.
    let mut r = request(
        "public_procurement",
        who,
        records.clone(),
        honest.output.clone(),
    );
    r.policy_hash = [0x42; 32];
    assert_eq!(ka.decide(&r).unwrap_err(), Refusal::UnknownPolicy);
    let r = request("xinyidai", who, records.clone(), honest.output.clone());
    assert_eq!(ka.decide(&r).unwrap_err(), Refusal::UnknownPolicy);

    // Inputs: about another subject, tampered list, unregistered holder.
    let other = procurement_records(subject(6), 0, 1);
    assert!(matches!(
        ka.decide(&request(
            "public_procurement",
            who,
            other,
            honest.output.clone()
        )),
        Err(Refusal::BadInput(_))
    ));
    let mut tampered = records.clone();
    let last = tampered[0].list.len() - 40;
    tampered[0].list[last] ^= 1;
    assert!(matches!(
        ka.decide(&request(
            "public_procurement",
            who,
            tampered,
            honest.output.clone()
        )),
        Err(Refusal::BadInput(_))
    ));
    let stranger = SigningKey::generate(Role::Holder, &mut rand::thread_rng());
    let mut foreign = records.clone();
    foreign[0] = seal_as("customs", &stranger, who, 1, &[("customs.dishonest", 0)]);
    assert!(matches!(
        ka.decide(&request(
            "public_procurement",
            who,
            foreign,
            honest.output.clone()
        )),
        Err(Refusal::UnknownHolder(_))
    ));

    let mut twice = records.clone();
    twice.push(records[0].clone());
    assert!(matches!(
        ka.decide(&request("public_procurement", who, twice, honest.output.clone())),
        Err(Refusal::BadInput(m)) if m.contains("twice")
    ));

    // The honest request still goes through after all that.
    let signed = ka
        .decide(&request(
            "public_procurement",
            who,
            records.clone(),
            honest.output.clone(),
        ))
        .unwrap();
    assert_eq!(signed.verdict.outcome, Outcome::Eligible(false));
    drop(ka);

    // Sampled replay that skips this request still refuses a non-boolean output.
    let mut ka = w.authority.lock().unwrap();
    ka.set_replay(ReplayPolicy::Sampled { one_in: u32::MAX });
    let seven = encrypt_u8(7);
    let result = ka.decide(&request("public_procurement", who, records, seven));
    ka.set_replay(ReplayPolicy::Always);
    assert_eq!(result.unwrap_err(), Refusal::InvalidOutcome);
}

fn encrypt_u8(v: u8) -> Vec<u8> {
    let w = world();
    let list = tfhe::CompactCiphertextList::builder(&w.engine.public().public_key)
        .push(v)
        .build_packed();
    let ct: tfhe::FheUint8 = w
        .engine
        .install(|| list.expand().unwrap().get(0).unwrap().unwrap());
    let mut b = Vec::new();
    tfhe::safe_serialization::safe_serialize(&ct, &mut b, 1 << 20).unwrap();
    b
}

#[test]
fn ingest_refuses_bad_submissions_and_accepts_good_ones() {
    let _s = serial();
    let w = world();
    let catalog = Catalog::builtin();
    let who = subject(7);
    let good = seal_as(
        "credit",
        &w.credit,
        who,
        3,
        &[("credit.serious_dishonesty", 5)],
    );
    let ok = w
        .engine
        .ingest(&good, &w.credit.public(), &catalog)
        .unwrap();
    assert_eq!(
        ok.stored.attributes,
        vec![attr("credit.serious_dishonesty")]
    );
    // Stored compressed, and compression is deterministic (the key authority relies on it).
    let again = w
        .engine
        .ingest(&good, &w.credit.public(), &catalog)
        .unwrap();
    assert_eq!(ok.stored, again.stored);
    assert!(ok.stored.bytes.len() < 4096, "{}", ok.stored.bytes.len());
    // And it decompresses to a whole value again.
    let back = w
        .engine
        .decompress(std::slice::from_ref(&ok.stored))
        .unwrap();
    assert!(back.get("credit.serious_dishonesty").is_some());

    // Wrong signer.
    assert_eq!(
        w.engine
            .ingest(&good, &w.market.public(), &catalog)
            .unwrap_err(),
        IngestError::BadSignature
    );
    // List swapped under the signature.
    let other = seal_as(
        "credit",
        &w.credit,
        who,
        4,
        &[("credit.serious_dishonesty", 9)],
    );
    let mut swapped = good.clone();
    swapped.list = other.list.clone();
    assert_eq!(
        w.engine
            .ingest(&swapped, &w.credit.public(), &catalog)
            .unwrap_err(),
        IngestError::ListHashMismatch
    );
    // A list re-signed under different metadata: the proof is bound to the original.
    let mut moved = other.submission.submission.clone();
    moved.submission_id = 99;
    let moved = SealedRecord {
        submission: SignedSealedSubmission::sign(moved, &w.credit),
        list: other.list.clone(),
    };
    assert!(matches!(
        w.engine.ingest(&moved, &w.credit.public(), &catalog),
        Err(IngestError::ProofInvalid(_))
    ));
    let mut resubject = other.submission.submission.clone();
    resubject.subject = subject(8);
    let resubject = SealedRecord {
        submission: SignedSealedSubmission::sign(resubject, &w.credit),
        list: other.list.clone(),
    };
    assert!(matches!(
        w.engine.ingest(&resubject, &w.credit.public(), &catalog),
        Err(IngestError::ProofInvalid(_))
    ));
    // Garbage bytes, correctly signed.
    let junk = vec![0u8; 300];
    let s = SealedSubmission {
        holder: party("credit"),
        subject: who,
        submission_id: 5,
        attributes: vec![attr("credit.serious_dishonesty")],
        list_hash: SealedSubmission::hash_list(&junk),
    };
    let junk = SealedRecord {
        submission: SignedSealedSubmission::sign(s, &w.credit),
        list: junk,
    };
    assert!(matches!(
        w.engine.ingest(&junk, &w.credit.public(), &catalog),
        Err(IngestError::NonConformant(_))
    ));
    // An attribute the holder does not own (signed claim, refused before any FHE work).
    let mut steal = good.submission.submission.clone();
    steal.attributes = vec![attr("tax.credit_score")];
    let steal = SealedRecord {
        submission: SignedSealedSubmission::sign(steal, &w.credit),
        list: good.list.clone(),
    };
    assert!(matches!(
        w.engine.ingest(&steal, &w.credit.public(), &catalog),
        Err(IngestError::Catalog(_))
    ));
    // Holder tooling refuses out-of-range values and foreign attributes up front.
    let err = encrypt_record(
        &catalog,
        &w.engine.public().public_key,
        &w.engine.public().crs,
        &party("credit"),
        &w.credit,
        who,
        6,
        &[(attr("market.registered"), 1)],
    )
    .unwrap_err();
    assert!(matches!(err, SealError::Catalog(_)));
}

#[test]
fn key_files_round_trip_with_the_secret_apart() {
    let _s = serial();
    let w = world();
    let dir = std::env::temp_dir().join(format!("credence-keys-{}", std::process::id()));
    w.engine.public().save(&dir).unwrap();
    let back = PublicMaterial::load(&dir).unwrap();
    assert!(dir.join("public/server.key").exists());
    assert!(
        !dir.join("authority").exists(),
        "public save writes no secret"
    );
    let _ = back;
    std::fs::remove_dir_all(&dir).unwrap();
}
