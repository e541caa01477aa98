//! Identifier vectors (valid and one per error rule) and properties.

use credence_protocols::identifiers::{IdRule, ResidentId, SubjectId, SubjectKind, Uscc};
use credence_protocols::pseudonym::PseudonymKey;
use proptest::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    valid: Vec<Valid>,
    invalid: Vec<Invalid>,
}

#[derive(Deserialize)]
struct Valid {
    kind: String,
    input: String,
    normalised: String,
}

#[derive(Deserialize)]
struct Invalid {
    kind: String,
    input: String,
    rule: String,
    position: usize,
    expected: Option<char>,
}

fn kind(s: &str) -> SubjectKind {
    match s {
        "enterprise" => SubjectKind::Enterprise,
        "person" => SubjectKind::Person,
        other => panic!("unknown kind {other}"),
    }
}

fn load() -> Vectors {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/identifiers.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn valid_vectors() {
    for v in load().valid {
        let id = SubjectId::parse(kind(&v.kind), &v.input)
            .unwrap_or_else(|e| panic!("{:?} rejected: {e}", v.input));
        assert_eq!(id.as_str(), v.normalised);
        assert_eq!(id.kind(), kind(&v.kind));
    }
}

#[test]
fn invalid_vectors_name_rule_and_position() {
    let vectors = load();
    let mut rules_seen = std::collections::BTreeSet::new();
    for v in vectors.invalid {
        let e = SubjectId::parse(kind(&v.kind), &v.input)
            .expect_err(&format!("{:?} accepted", v.input));
        assert_eq!(format!("{:?}", e.rule), v.rule, "{:?}", v.input);
        assert_eq!(e.position, v.position, "{:?}: {e}", v.input);
        assert_eq!(e.expected, v.expected, "{:?}", v.input);
        let msg = e.to_string();
        if e.rule != IdRule::Length {
            assert!(msg.contains(&format!("position {}", v.position)), "{msg}");
        }
        rules_seen.insert((v.kind.clone(), v.rule.clone()));
    }
    // One vector per rule, for each kind the rule applies to.
    for (k, r) in [
        ("enterprise", "Length"),
        ("enterprise", "UsccAlphabet"),
        ("enterprise", "RegistrationAuthority"),
        ("enterprise", "InstitutionCategory"),
        ("enterprise", "DivisionCode"),
        ("enterprise", "OrganizationCodeCheck"),
        ("enterprise", "UsccCheck"),
        ("person", "Length"),
        ("person", "Digit"),
        ("person", "DivisionCode"),
        ("person", "BirthDate"),
        ("person", "ResidentIdCheck"),
    ] {
        assert!(
            rules_seen.contains(&(k.to_string(), r.to_string())),
            "no vector for {k} {r}"
        );
    }
}

const VALID_USCC: &[&str] = &[
    "914403001922038216",
    "9144030071526726XG",
    "91330100799655058B",
];
const VALID_IDS: &[&str] = &[
    "11010519491231002X",
    "440524188001010014",
    "510108198512315675",
];

proptest! {
    #[test]
    fn parsers_never_panic(s in ".{0,40}") {
        let _ = Uscc::parse(&s);
        let _ = ResidentId::parse(&s);
    }

    /// The check characters catch every single-character substitution.
    #[test]
    fn single_substitutions_are_rejected(which in 0usize..3, pos in 0usize..18, c in 0usize..31) {
        let alphabet = credence_protocols::identifiers::USCC_ALPHABET;
        let mut b = VALID_USCC[which].as_bytes().to_vec();
        if b[pos] != alphabet[c] {
            b[pos] = alphabet[c];
            prop_assert!(Uscc::parse(std::str::from_utf8(&b).unwrap()).is_err());
        }
        let mut b = VALID_IDS[which].as_bytes().to_vec();
        let d = b"0123456789X"[c % 11];
        if b[pos] != d {
            b[pos] = d;
            prop_assert!(ResidentId::parse(std::str::from_utf8(&b).unwrap()).is_err());
        }
    }

    /// Pseudonyms are stable under normalisation and differ between subjects.
    #[test]
    fn pseudonyms_follow_normalisation(which in 0usize..3, key in any::<[u8; 32]>()) {
        let k = PseudonymKey::from_bytes(key);
        let a = SubjectId::parse(SubjectKind::Enterprise, VALID_USCC[which]).unwrap();
        let lower = format!("  {} ", VALID_USCC[which].to_lowercase());
        let b = SubjectId::parse(SubjectKind::Enterprise, &lower).unwrap();
        prop_assert_eq!(k.pseudonym(&a), k.pseudonym(&b));
        let other = SubjectId::parse(SubjectKind::Enterprise, VALID_USCC[(which + 1) % 3]).unwrap();
        prop_assert_ne!(k.pseudonym(&a), k.pseudonym(&other));
    }
}
