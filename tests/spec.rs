//! The specs in `protocols/*.md` cover what the code does: every transcript label, domain
//! separator, signed statement kind and log entry kind used in the code is in a spec, and no
//! transcript label is used outside the one module that defines them.

use credence_protocols::transcript::labels;
use std::path::{Path, PathBuf};

fn protocols_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols")
}

fn spec(name: &str) -> String {
    std::fs::read_to_string(protocols_dir().join(name)).unwrap()
}

fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&protocols_dir().join("src"), &mut out);
    assert!(out.len() > 10);
    out
}

/// Byte-string literals `b"..."` in `text`.
fn byte_literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("b\"") {
        let after = &rest[i + 2..];
        let end = after.find('"').unwrap();
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

#[test]
fn every_transcript_label_is_specified() {
    let proofs = spec("proofs.md");
    for label in labels::ALL {
        let label = std::str::from_utf8(label).unwrap();
        assert!(
            proofs.contains(&format!("`{label}`")),
            "label `{label}` is missing from protocols/proofs.md"
        );
    }
    // And every byte literal in transcript.rs is one of them (nothing defined off the list).
    let src = std::fs::read_to_string(protocols_dir().join("src/transcript.rs")).unwrap();
    for lit in byte_literals(&src) {
        assert!(
            labels::ALL.contains(&lit.as_bytes()),
            "transcript.rs defines {lit:?} but labels::ALL does not list it"
        );
    }
}

#[test]
fn no_transcript_label_outside_the_labels_module() {
    let calls = [
        "append_message(b\"",
        "append_u64(b\"",
        "challenge_scalar(b\"",
        "challenge_bytes(b\"",
        "append_bytes(b\"",
        "append_u64_le(b\"",
        "append_i64(b\"",
        "domain_sep(b\"",
        "validate_and_append_point(b\"",
        "Transcript::new(b\"",
    ];
    for (path, text) in sources() {
        if path.ends_with("transcript.rs") {
            continue;
        }
        // Test modules may make throwaway transcripts; production code may not.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for c in calls {
            assert!(
                !code.contains(c),
                "{} uses a literal transcript label ({c}…); add it to transcript::labels and proofs.md",
                path.display()
            );
        }
    }
}

#[test]
fn every_signed_kind_and_domain_is_specified() {
    let signatures = spec("signatures.md");
    let mut kinds = 0;
    for (path, text) in sources() {
        let code = text.split("#[cfg(test)]").next().unwrap();
        for line in code.lines() {
            if let Some(rest) = line.trim().strip_prefix("const KIND: &'static str = \"") {
                let kind = rest.split('"').next().unwrap();
                assert!(
                    signatures.contains(&format!("`{kind}`")),
                    "statement kind `{kind}` ({}) is missing from protocols/signatures.md",
                    path.display()
                );
                kinds += 1;
            }
        }
    }
    assert!(kinds >= 2);
    let all_specs: String = [
        "identifiers.md",
        "signatures.md",
        "proofs.md",
        "log.md",
        "verdict.md",
    ]
    .iter()
    .map(|f| spec(f))
    .collect();
    for domain in [
        credence_protocols::pseudonym::PSEUDONYM_DOMAIN.as_bytes(),
        credence_protocols::signing::SIGNING_DOMAIN,
        credence_protocols::seal::SEALED_OPENING_DOMAIN,
        credence_protocols::sealed::SEALED_METADATA_DOMAIN,
        credence_protocols::inspection::INSPECTION_DOMAIN,
    ] {
        let d = String::from_utf8(domain.to_vec())
            .unwrap()
            .replace('\0', "\\0");
        assert!(
            all_specs.contains(&d),
            "domain separator {d:?} is not in any spec"
        );
    }
}

#[test]
fn every_log_entry_kind_is_specified_with_its_tag() {
    let log = spec("log.md");
    let src = std::fs::read_to_string(protocols_dir().join("src/log/entry.rs")).unwrap();
    let mut n = 0;
    for line in src.lines() {
        // Lines like `LogEntry::Query { .. } => 5,`
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("LogEntry::") {
            if let Some((name, tag)) = rest.split_once(" { .. } => ") {
                let tag = tag.trim_end_matches(',');
                let row = format!("| {tag} | `{name}` |");
                assert!(log.contains(&row), "log.md lacks the row {row}");
                n += 1;
            }
        }
    }
    assert_eq!(n, 18);
}
