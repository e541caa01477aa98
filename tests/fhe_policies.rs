//! Differential tests of the FHE lowering: for every shipped policy, the naive FHE evaluation
//! decrypts to what the plaintext oracle says — on the boundaries (`until = D` and `D + 1`,
//! score `T − 1` and `T`, absent attributes) and on random inputs.
//!
//! Keys are generated once for the whole test binary.

use credence_circuits::catalog::{Catalog, Kind};
use credence_circuits::eval::{evaluate, Inputs};
use credence_circuits::fhe::{evaluate_naive, EncryptedInputs};
use credence_circuits::policy::{builtin, BUILTIN_POLICIES};
use rand::{Rng, SeedableRng};
use std::sync::OnceLock;
use tfhe::{generate_keys, set_server_key, ClientKey, ConfigBuilder, ServerKey};

const D: u32 = 20_415;

fn keys() -> &'static (ClientKey, ServerKey) {
    static K: OnceLock<(ClientKey, ServerKey)> = OnceLock::new();
    K.get_or_init(|| generate_keys(ConfigBuilder::default().build()))
}

fn check(name: &str, pairs: &[(&str, u64)]) {
    let (ck, sk) = keys();
    set_server_key(sk.clone());
    let policy = builtin(name).unwrap();
    let inputs = Inputs::new(&Catalog::builtin(), pairs.iter().copied()).unwrap();
    let oracle = evaluate(&policy, &inputs, D);
    let encrypted = EncryptedInputs::encrypt(&policy, &inputs, ck);
    let fhe = evaluate_naive(&policy, &encrypted, D).unwrap().decrypt(ck);
    assert_eq!(fhe, oracle, "{name} on {pairs:?}");
}

#[test]
fn xinyidai_boundaries() {
    let d = u64::from(D);
    check("xinyidai", &[]); // all defaults: score exactly 600, nothing listed
    check("xinyidai", &[("utility.payment_score", 59)]); // 599
    check("xinyidai", &[("court.dishonest_debtor", d)]); // listing ended on D
    check("xinyidai", &[("safety.blacklist", d + 1)]); // listed on D
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
