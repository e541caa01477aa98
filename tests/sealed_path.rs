//! The sealed path's engine at library level: holders seal records (proven compact lists bound
//! to their metadata), the engine verifies, expands, compresses and evaluates — or refuses.
//! (The key authority's decisions are in `tests/key_authority.rs`.)
//!
//! Keys are generated once for this test binary; FHE tests run one at a time.

use credence::circuits::catalog::Catalog;
use credence::fhe::engine::{Engine, IngestError};
use credence::fhe::keys::{generate, PublicMaterial};
use credence::fhe::SealedRecord;
use credence::party::holder::{encrypt_record, SealError};
use credence::protocols::identifiers::SubjectKind;
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::pseudonym::Pseudonym;
use credence::protocols::sealed::{SealedSubmission, SignedSealedSubmission};
use credence::protocols::signing::{Role, SigningKey};
use std::sync::{Mutex, MutexGuard, OnceLock};

struct World {
    engine: Engine,
    credit: SigningKey,
    market: SigningKey,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let (secret, public) = generate(&mut |_, _| {}).unwrap();
        let mut rng = rand::thread_rng();
        let credit = SigningKey::generate(Role::Holder, &mut rng);
        let market = SigningKey::generate(Role::Holder, &mut rng);
        drop(secret);
        World {
            engine: Engine::new(public, 0).unwrap(),
            credit,
            market,
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
