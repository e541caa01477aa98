//! The policy language (untrusted: the operator publishes texts, partners and auditors parse
//! them): parsing never panics; an accepted policy's canonical form parses to the same hash;
//! it lowers to a proof or says why not, pins, and compiles to an FHE plan for a day — all
//! without panicking, within libFuzzer's time and memory limits.
#![no_main]
use credence_circuits::catalog::Catalog;
use credence_circuits::fhe::plan::Plan;
use credence_circuits::policy::Policy;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(Catalog::builtin)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = Policy::parse(text, catalog()) else {
        return;
    };
    let again = Policy::parse(p.canonical(), catalog()).expect("a canonical form parses");
    assert_eq!(again.hash(), p.hash());
    assert_eq!(again.canonical(), p.canonical());
    let _ = credence_circuits::proof::lower_to_proof(&p);
    let _ = p.pin();
    let all: Vec<&str> = p.reads.iter().map(|r| r.0.as_str()).collect();
    let _ = Plan::compile(&p, 20_415, &all);
});
