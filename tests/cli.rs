//! The `credence` command line: exit codes and messages.

use std::process::Command;

fn credence(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_credence"))
        .args(args)
        .output()
        .expect("run credence");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn policy_commands() {
    let (code, out, _) = credence(&["policy", "list"]);
    assert_eq!(code, 0);
    for name in ["xinyidai", "public_procurement", "credit_grade", "rongque"] {
        assert!(out.contains(name), "{out}");
    }
    let (code, out, _) = credence(&["policy", "show", "xinyidai"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("proof lowering: 14 committed inputs, 9 predicates"),
        "{out}"
    );
    let (code, out, _) = credence(&["policy", "show", "credit_grade"]);
    assert_eq!(code, 0);
    assert!(out.contains("proof lowering: none"), "{out}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("credence-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.policy");
    std::fs::write(
        &bad,
        "policy p version 1\neligible = all(tax.credit_score >= 1\n",
    )
    .unwrap();
    let (code, _, err) = credence(&["policy", "show", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("line 2, column 37"), "{err}");
    let (code, _, err) = credence(&["policy", "show", "no-such-policy"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("neither a shipped policy nor a readable file"),
        "{err}"
    );
    let (code, _, err) = credence(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown command"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn policy_cost_counts_bootstraps() {
    // Generates FHE keys and runs the naive lowering once: a few seconds.
    let (code, out, err) = credence(&["policy", "cost", "public_procurement"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("proven path: 3 committed inputs, 3 predicates"),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("sealed path, naive lowering:"))
        .expect(&out);
    let count: u64 = line
        .split_whitespace()
        .nth(4)
        .and_then(|n| n.parse().ok())
        .expect(line);
    assert!(count > 0, "{line}");
    assert!(line.contains("Eligible(false)"), "{line}"); // not registered by default
}
