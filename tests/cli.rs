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
    assert!(
        err.contains("unrecognized subcommand 'frobnicate'"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn policy_cost_counts_bootstraps_of_both_lowerings() {
    // Generates FHE keys and runs both lowerings once: a few seconds.
    let (code, out, err) = credence(&["policy", "cost", "public_procurement", "--day", "20415"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("proven path: 3 committed inputs, 3 predicates"),
        "{out}"
    );
    let count = |prefix: &str| -> u64 {
        let line = out.lines().find(|l| l.starts_with(prefix)).expect(&out);
        let after = &line[prefix.len()..];
        after
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .expect(line)
    };
    let planned = count("sealed path, optimised lowering (compiled for day 20415):");
    let naive = count("sealed path, naive lowering:");
    let optimised = count("sealed path, optimised lowering:");
    assert_eq!(
        planned, optimised,
        "the plan's count is what the run performs\n{out}"
    );
    assert!(optimised < naive, "{out}");
    // Both decrypt to the same answer: not registered by default.
    assert!(
        out.contains("result on the defaults: Eligible(false)"),
        "{out}"
    );
    assert!(out.contains("(result: Some(Eligible(false)))"), "{out}");
    assert!(out.contains("optimised vs naive:"), "{out}");

    let (code, _, err) = credence(&["policy", "cost", "public_procurement", "--day", "soon"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--day") && err.contains("neither a YYYY-MM-DD date nor a day number"),
        "{err}"
    );
}

#[test]
fn keygen_writes_two_separate_stores_and_never_overwrites() {
    let dir = std::env::temp_dir().join(format!("credence-cli-keys-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let (code, out, err) = credence(&["keygen", "--dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[5/5] proof CRS"), "{err}");
    assert!(out.contains("public store"), "{out}");
    assert!(dir.join("public/server.key").exists());
    assert!(dir.join("public/public.key").exists());
    assert!(dir.join("public/crs.bin").exists());
    let secret = dir.join("authority/client.key");
    assert!(secret.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "client key readable by others: {mode:o}");
    }
    let (code, _, err) = credence(&["keygen", "--dir", d]);
    assert_ne!(code, 0);
    assert!(err.contains("refusing to overwrite"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn listing_periods_come_from_the_regimes_table() {
    let (code, out, _) = credence(&[
        "listing",
        "market.abnormal_operation",
        "--class",
        "general",
        "--decided",
        "2025-11-23",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("until: 20780 "), "{out}");
    assert!(out.contains("earliest repair: day 20505"), "{out}");
    assert!(out.contains("public-credit-repair-2023"), "{out}");
    let (code, out, _) = credence(&[
        "listing",
        "court.dishonest_debtor",
        "--class",
        "standard",
        "--decided",
        "20415",
        "--extension",
        "365",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("until: 21510 "), "{out}");
    let (code, _, err) = credence(&[
        "listing",
        "market.abnormal_operation",
        "--class",
        "grave",
        "--decided",
        "2025-11-23",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("minor, general, serious"), "{err}");
    let (code, _, err) = credence(&[
        "listing",
        "market.abnormal_operation",
        "--class",
        "minor",
        "--decided",
        "2023-02-30",
    ]);
    // A usage error (clap's exit code 2), naming the flag and the accepted forms.
    assert_eq!(code, 2);
    assert!(
        err.contains("--decided") && err.contains("YYYY-MM-DD"),
        "{err}"
    );
}

/// Every command and subcommand, as `credence help` lists them.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["demo"],
    &["policy"],
    &["policy", "list"],
    &["policy", "show"],
    &["policy", "cost"],
    &["catalog"],
    &["openapi"],
    &["listing"],
    &["keygen"],
    &["keys"],
    &["keys", "fetch"],
    &["serve"],
    &["party"],
    &["party", "new"],
    &["register"],
    &["authority"],
    &["authority", "certify"],
    &["publish"],
    &["holder"],
    &["holder", "submit"],
    &["query"],
    &["subject"],
    &["subject", "prove"],
    &["subject", "consent"],
    &["subject", "history"],
    &["subject", "records"],
    &["anchors"],
    &["verify"],
    &["audit"],
    &["witness"],
    &["witness", "init"],
    &["witness", "serve"],
];

#[test]
fn every_command_has_help_and_the_binary_a_version() {
    for cmd in COMMANDS {
        let mut args = cmd.to_vec();
        args.push("--help");
        let (code, out, err) = credence(&args);
        assert_eq!(code, 0, "credence {}: {err}", args.join(" "));
        assert!(
            out.contains("Usage: credence"),
            "credence {}: {out}",
            args.join(" ")
        );
    }
    // The top-level help lists every command.
    let (_, out, _) = credence(&["--help"]);
    for cmd in COMMANDS.iter().filter(|c| c.len() == 1) {
        assert!(
            out.contains(cmd[0]),
            "{} missing from --help:\n{out}",
            cmd[0]
        );
    }
    let (code, out, _) = credence(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("credence {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_flags_are_refused_by_name_before_anything_runs() {
    for args in [
        &["policy", "list", "--verbose"][..],
        &[
            "listing",
            "market.abnormal_operation",
            "--class",
            "general",
            "--decided",
            "2025-01-01",
            "--extnsion",
            "3",
        ],
        &[
            "query",
            "--as",
            "b.party",
            "--anchors",
            "a.json",
            "--subject",
            "x",
            "--policy",
            "p",
            "--purpose",
            "t",
            "--dya",
            "20000",
        ],
        &["keygen", "--dri", "/tmp/never"],
        &["serve", "--adr", "127.0.0.1:1"],
        &[
            "subject", "prove", "--as", "s.party", "--policy", "p", "--out", "o", "--dya", "1",
        ],
    ] {
        let (code, _, err) = credence(args);
        assert_eq!(code, 2, "credence {}: {err}", args.join(" "));
        let flag = args
            .iter()
            .find(|a| ["--verbose", "--extnsion", "--dya", "--dri", "--adr"].contains(a))
            .unwrap();
        assert!(
            err.contains(&format!("unexpected argument '{flag}'")),
            "credence {}: {err}",
            args.join(" ")
        );
    }
    assert!(!std::path::Path::new("/tmp/never").exists());
}

#[test]
fn days_are_dates_or_day_numbers_everywhere() {
    // The same listing decided on 2025-11-23 (day 20415), given both ways.
    let by_date = credence(&[
        "listing",
        "market.abnormal_operation",
        "--class",
        "general",
        "--decided",
        "2025-11-23",
    ]);
    let by_number = credence(&[
        "listing",
        "market.abnormal_operation",
        "--class",
        "general",
        "--decided",
        "20415",
    ]);
    assert_eq!(by_date.0, 0, "{}", by_date.2);
    assert_eq!(by_date.1, by_number.1);
    assert!(by_date.1.contains("decided: day 20415"), "{}", by_date.1);
    // A date that does not exist, and a day beyond the protocols' range.
    for bad in ["2026-02-30", "99999999"] {
        let (code, _, err) = credence(&[
            "listing",
            "market.abnormal_operation",
            "--class",
            "general",
            "--decided",
            bad,
        ]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("--decided"), "{err}");
    }
}

#[test]
fn the_catalogue_lists_every_attribute_with_its_holder() {
    let (code, out, err) = credence(&["catalog"]);
    assert_eq!(code, 0, "{err}");
    let catalog = credence::circuits::catalog::Catalog::builtin();
    for a in catalog.attributes() {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(a.id.as_str()))
            .unwrap_or_else(|| panic!("{} missing:\n{out}", a.id.as_str()));
        assert!(line.contains(&a.holder), "{line}");
        assert!(line.contains(&a.max.to_string()), "{line}");
    }
}

#[test]
fn the_openapi_command_prints_the_served_document() {
    let (code, out, err) = credence(&["openapi"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["openapi"], "3.1.0");
    assert!(v["paths"]["/v1/bank/query"]["post"].is_object());
}
