//! Differential tests of the FHE lowerings: for every shipped policy, the optimised lowering
//! (shortint lookups) and the naive one (high-level API) decrypt to what the plaintext oracle
//! says — on the boundaries (`until = D` and `D + 1`, score `T − 1` and `T`, absent attributes)
//! and on random inputs; and the optimised evaluation performs exactly the bootstraps its plan
//! counts.
//!
//! Keys are generated once for the whole test binary; FHE tests run one at a time (the
//! bootstrap counter is process-wide).

use credence::protocols::log::entry::Outcome;
use credence_circuits::catalog::{Catalog, Kind};
use credence_circuits::eval::{evaluate, Inputs};
use credence_circuits::fhe::exec::{evaluate_plan, LookupKey};
use credence_circuits::fhe::plan::Plan;
use credence_circuits::fhe::{evaluate_naive, EncryptedInputs};
use credence_circuits::policy::{builtin, BUILTIN_POLICIES};
use rand::{Rng, SeedableRng};
use std::sync::{Mutex, OnceLock};
use tfhe::{generate_keys, set_server_key, ClientKey, ConfigBuilder, ServerKey};

const D: u32 = 20_415;

fn keys() -> &'static (ClientKey, ServerKey) {
    static K: OnceLock<(ClientKey, ServerKey)> = OnceLock::new();
    K.get_or_init(|| generate_keys(ConfigBuilder::default().build()))
}

fn lookup_key() -> &'static LookupKey {
    static K: OnceLock<LookupKey> = OnceLock::new();
    K.get_or_init(|| LookupKey::new(&keys().1).unwrap())
}

static SERIAL: Mutex<()> = Mutex::new(());

fn check(name: &str, pairs: &[(&str, u64)]) {
    check_on(name, D, pairs)
}

fn check_on(name: &str, day: u32, pairs: &[(&str, u64)]) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (ck, sk) = keys();
    set_server_key(sk.clone());
    let policy = builtin(name).unwrap();
    let inputs = Inputs::new(&Catalog::builtin(), pairs.iter().copied()).unwrap();
    let oracle = evaluate(&policy, &inputs, day);
    let encrypted = EncryptedInputs::encrypt(&policy, &inputs, ck);
    let naive = evaluate_naive(&policy, &encrypted, day)
        .unwrap()
        .decrypt(ck);
    assert_eq!(naive, oracle, "naive: {name} on {pairs:?}");

    let present: Vec<&str> = pairs.iter().map(|(a, _)| *a).collect();
    let plan = Plan::compile(&policy, day, &present).unwrap();
    let values: Vec<u64> = plan
        .inputs
        .iter()
        .map(|i| inputs.get(i.attribute.as_str()).unwrap())
        .collect();
    assert_eq!(plan.simulate(&values), oracle, "plan: {name} on {pairs:?}");
    tfhe::reset_pbs_count();
    let out = evaluate_plan(&plan, &encrypted, lookup_key()).unwrap();
    assert_eq!(
        tfhe::get_pbs_count() as usize,
        plan.cost().bootstraps,
        "bootstraps of {name}"
    );
    assert_eq!(
        out.decrypt(ck),
        Some(oracle),
        "optimised: {name} on {pairs:?}"
    );
}

#[test]
fn xinyidai_boundaries() {
    let d = u64::from(D);
    check("xinyidai", &[]); // all defaults: score exactly 600, nothing listed
    check("xinyidai", &[("utility.payment_score", 59)]); // 599
    check("xinyidai", &[("court.dishonest_debtor", d)]); // listing ended on D
    check("xinyidai", &[("safety.blacklist", d + 1)]); // listed on D
}

/// Every attribute present, so the whole plan runs on ciphertexts, with lookups that share a
/// bootstrap (tfhe's many-lookup bootstrap) among them: score exactly 600 with every listing
/// ended on D, then 599, then 600 with one listing in force.
#[test]
fn xinyidai_full_plan_with_shared_bootstraps() {
    let d = u64::from(D);
    let policy = builtin("xinyidai").unwrap();
    let all: Vec<&str> = policy.reads.iter().map(|r| r.0.as_str()).collect();
    let plan = Plan::compile(&policy, D, &all).unwrap();
    assert!(plan.nodes.iter().any(|n| n.shares.is_some()));
    let pairs = |utility: u64, listed: Option<&str>| -> Vec<(&'static str, u64)> {
        policy
            .reads
            .iter()
            .map(|(id, kind, ..)| {
                let id: &'static str = Box::leak(id.as_str().to_string().into_boxed_str());
                let v = match kind {
                    Kind::Until if Some(id) == listed => d + 1,
                    Kind::Until => d,
                    _ if id == "utility.payment_score" => utility,
                    _ => 60,
                };
                (id, v)
            })
            .collect()
    };
    let catalog = Catalog::builtin();
    for (utility, listed, expected) in [
        (60, None, true),
        (59, None, false),
        (60, Some("customs.dishonest"), false),
    ] {
        let pairs = pairs(utility, listed);
        let inputs = Inputs::new(&catalog, pairs.iter().copied()).unwrap();
        assert_eq!(evaluate(&policy, &inputs, D), Outcome::Eligible(expected));
        check("xinyidai", &pairs);
    }
}

/// A day whose listings are decided lexicographically (threshold 20785, digits 1 1 0 1 0 3 0
/// 1: raw digits, class lookups on packed pairs, a compression, one sign lookup; 47
/// bootstraps, 55 by columns alone): every attribute present, each listing just below the
/// threshold in a different digit, then one of them at the threshold, one above it in the
/// lowest digit only, one equal above digit 3 and above in it, and one at the last day.
#[test]
fn lexicographic_listings_on_ciphertexts() {
    let day = 20_784u32;
    let t = u64::from(day) + 1;
    let policy = builtin("xinyidai").unwrap();
    let all: Vec<&str> = policy.reads.iter().map(|r| r.0.as_str()).collect();
    assert!(Plan::compile(&policy, day, &all).unwrap().cost().bootstraps <= 47);
    let listings: Vec<&'static str> = policy
        .reads
        .iter()
        .filter(|(_, kind, ..)| *kind == Kind::Until)
        .map(|(id, ..)| &*Box::leak(id.as_str().to_string().into_boxed_str()))
        .collect();
    assert_eq!(listings.len(), 8);
    // Below T: by one, and lower in one digit each (digits 0..=7, where T's digit is not 0).
    let below: Vec<u64> = [
        t - 1,
        t - 1 - 4,
        t - 16,
        t - 4 * 16 * 4,
        t - 1024,
        0,
        t - 16384,
        65,
    ]
    .into_iter()
    .collect();
    assert!(below.iter().all(|v| *v < t));
    let pairs = |over: Option<(usize, u64)>| -> Vec<(&'static str, u64)> {
        let mut pairs: Vec<(&'static str, u64)> = policy
            .reads
            .iter()
            .filter(|(_, kind, ..)| *kind != Kind::Until)
            .map(|(id, ..)| (&*Box::leak(id.as_str().to_string().into_boxed_str()), 60))
            .collect();
        for (i, l) in listings.iter().enumerate() {
            let v = match over {
                Some((j, v)) if j == i => v,
                _ => below[i],
            };
            pairs.push((l, v));
        }
        pairs
    };
    let catalog = Catalog::builtin();
    // T's digits (least significant first): 1 0 3 0 1 0 1 1.
    for (over, expected) in [
        (None, true),
        (Some((0, t)), false),
        (Some((3, t + 2)), false),          // above in digit 0 only
        (Some((5, t - 1 + 16 * 4)), false), // equal above digit 3, above in it
        (Some((7, 65_535)), false),
    ] {
        let pairs = pairs(over);
        let inputs = Inputs::new(&catalog, pairs.iter().copied()).unwrap();
        assert_eq!(
            evaluate(&policy, &inputs, day),
            Outcome::Eligible(expected),
            "{over:?}"
        );
        check_on("xinyidai", day, &pairs);
    }
}

#[test]
fn other_policies_boundaries() {
    let d = u64::from(D);
    check("public_procurement", &[("market.registered", 1)]);
    check(
        "public_procurement",
        &[
            ("market.registered", 1),
            ("market.abnormal_operation", d + 1),
        ],
    );
    // Grades A (450), B (449), D (negative score).
    check(
        "credit_grade",
        &[("tax.credit_score", 100), ("market.compliance_score", 50)],
    );
    check(
        "credit_grade",
        &[("tax.credit_score", 100), ("market.compliance_score", 49)],
    );
    check(
        "credit_grade",
        &[("commit.breaches", 20), ("social.arrears_months", 60)],
    );
    check("rongque", &[("credit.red_list", d + 1)]);
    check("rongque", &[("tax.grade_a", 1), ("commit.breaches", 1)]);
}

#[test]
fn random_inputs() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_415);
    let catalog = Catalog::builtin();
    for (name, _) in BUILTIN_POLICIES {
        let policy = builtin(name).unwrap();
        let mut pairs = Vec::new();
        for (id, kind, max, _) in &policy.reads {
            if rng.gen_bool(0.8) {
                let v = match kind {
                    Kind::Until => [0, u64::from(D), u64::from(D) + 1, rng.gen_range(0..=*max)]
                        [rng.gen_range(0..4)],
                    _ => rng.gen_range(0..=*max),
                };
                pairs.push((catalog.get(id.as_str()).unwrap().id.as_str().to_string(), v));
            }
        }
        let refs: Vec<(&str, u64)> = pairs.iter().map(|(a, v)| (a.as_str(), *v)).collect();
        check(name, &refs);
    }
}
