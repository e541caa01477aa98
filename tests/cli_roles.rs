//! The party-side CLI against real processes — `credence serve` and an independent `credence
//! witness serve` cosigning its checkpoints — as the README's sequence runs them: key files,
//! registration, publication, holder uploads on both paths (CSV and JSON, with progress), a
//! subject's proof and consent, pinned anchors (checked against the operator's fingerprint),
//! bank queries verified against the bank's own question with saved receipts, offline
//! verification, and the audit with a saved state (consistency on the second run) and an FHE
//! replay.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn credence(dir: &Path, server: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_credence"))
        .args(args)
        .env("CREDENCE_SERVER", server)
        .env("CREDENCE_DIR", dir.join("data"))
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ok(dir: &Path, server: &str, args: &[&str]) -> String {
    let o = credence(dir, server, args);
    assert!(
        o.status.success(),
        "credence {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn parties_drive_both_paths_from_the_command_line() {
    let tmp = std::env::temp_dir().join(format!("credence-cli-roles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let d = tmp.as_path();
    let data = tmp.join("data");
    let wdir = tmp.join("witness");
    // The README's start: the service's keys first (its log key goes to the witness), the
    // witness's key, the witness, then the service configured with it.
    ok(d, "-", &["serve", "init", "--dir", data.to_str().unwrap()]);
    let wkey = ok(
        d,
        "-",
        &["witness", "init", "--dir", wdir.to_str().unwrap()],
    );
    let log_vkey = std::fs::read_to_string(data.join("log.vkey")).unwrap();
    let (mut witness, waddr) = common::spawn_listening(
        &[
            "witness",
            "serve",
            "--dir",
            wdir.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--log",
            log_vkey.trim(),
        ],
        Stdio::null(),
    );
    let wflag = format!("{}@{waddr}", wkey.trim());
    let (mut child, addr) = common::spawn_listening(
        &[
            "serve",
            "--dir",
            data.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--witness",
            &wflag,
        ],
        Stdio::null(),
    );
    let uscc = "91110108MA01AB2C3T";
    let day = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400)
        .to_string();
    let day = day.as_str();
    let until = (day.parse::<u32>().unwrap() + 10).to_string();
    let next_day = (day.parse::<u32>().unwrap() + 1).to_string();

    ok(
        d,
        &addr,
        &[
            "party",
            "new",
            "holder",
            "credit.cli",
            "--out",
            "credit.party",
        ],
    );
    ok(
        d,
        &addr,
        &[
            "party",
            "new",
            "holder",
            "market.cli",
            "--out",
            "market.party",
        ],
    );
    ok(
        d,
        &addr,
        &["party", "new", "bank", "bank.cli", "--out", "bank.party"],
    );
    ok(
        d,
        &addr,
        &[
            "party",
            "new",
            "auditor",
            "auditor.cli",
            "--out",
            "auditor.party",
        ],
    );
    let subject = format!("enterprise:{uscc}");
    ok(
        d,
        &addr,
        &[
            "party",
            "new",
            "subject",
            "ent.cli",
            "--out",
            "ent.party",
            "--subject",
            &subject,
        ],
    );
    // Refuses to overwrite a key file.
    assert!(!credence(
        d,
        &addr,
        &["party", "new", "bank", "bank.cli", "--out", "bank.party"]
    )
    .status
    .success());
    let op = "data/operator.party";
    let out = ok(
        d,
        &addr,
        &[
            "register",
            "--as",
            op,
            "credit.party",
            "market.party",
            "bank.party",
            "ent.party",
            "auditor.party",
        ],
    );
    assert_eq!(out.matches("registered").count(), 5, "{out}");
    ok(d, &addr, &["publish", "--as", op, "public_procurement"]);

    // Holder uploads: proven (CSV and JSON) and sealed.
    std::fs::write(
        d.join("credit.csv"),
        format!("subject,attribute,value\n{subject},credit.serious_dishonesty,0\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("market.json"),
        format!(
            r#"[{{"subject":"{subject}","attribute":"market.abnormal_operation","value":0}},
                    {{"subject":"{subject}","attribute":"market.registered","value":1}}]"#
        ),
    )
    .unwrap();
    // Sealed first, then proven: the latest record per attribute spans both paths, so the
    // commitments a subject proves over must not be older than the sealed records.
    ok(
        d,
        &addr,
        &[
            "holder",
            "submit",
            "--as",
            "credit.party",
            "--path",
            "sealed",
            "--input",
            "credit.csv",
        ],
    );
    ok(
        d,
        &addr,
        &[
            "holder",
            "submit",
            "--as",
            "market.party",
            "--path",
            "sealed",
            "--input",
            "market.json",
        ],
    );
    let out = ok(
        d,
        &addr,
        &[
            "holder",
            "submit",
            "--as",
            "credit.party",
            "--path",
            "proven",
            "--input",
            "credit.csv",
        ],
    );
    assert!(out.contains("[1/1]"), "{out}");
    ok(
        d,
        &addr,
        &[
            "holder",
            "submit",
            "--as",
            "market.party",
            "--path",
            "proven",
            "--input",
            "market.json",
        ],
    );
    // A bad row is named, and nothing is sent.
    std::fs::write(
        d.join("bad.csv"),
        format!("{subject},credit.serious_dishonesty,0\n{subject},market.registered,1\n"),
    )
    .unwrap();
    let o = credence(
        d,
        &addr,
        &[
            "holder",
            "submit",
            "--as",
            "credit.party",
            "--path",
            "proven",
            "--input",
            "bad.csv",
        ],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("row 2"),
        "{o:?}"
    );

    // The subject proves and consents; the bank asks on both paths and keeps the receipts.
    let out = ok(
        d,
        &addr,
        &[
            "subject",
            "prove",
            "--as",
            "ent.party",
            "--policy",
            "public_procurement",
            "--day",
            day,
            "--out",
            "proof.hex",
        ],
    );
    assert!(out.contains("3 commitments"), "{out}");
    ok(
        d,
        &addr,
        &[
            "subject",
            "consent",
            "--as",
            "ent.party",
            "--bank",
            "bank.cli",
            "--policy",
            "public_procurement",
            "--purpose",
            "bid 117",
            "--from",
            day,
            "--until",
            &until,
            "--out",
            "consent.hex",
        ],
    );
    // The bank pins the anchors, checking the fingerprint the operator handed out; a wrong
    // expectation pins nothing, and a pinned file is never replaced by other anchors.
    let published: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("anchors.json")).unwrap()).unwrap();
    let fingerprint = published["fingerprint"].as_str().unwrap();
    assert_eq!(published["witness_quorum"], 1);
    let o = credence(
        d,
        &addr,
        &[
            "anchors",
            "--as",
            "bank.party",
            "--out",
            "anchors.json",
            "--expect",
            &"0".repeat(64),
        ],
    );
    assert!(!o.status.success() && !d.join("anchors.json").exists());
    let out = ok(
        d,
        &addr,
        &[
            "anchors",
            "--as",
            "bank.party",
            "--out",
            "anchors.json",
            "--expect",
            fingerprint,
        ],
    );
    assert!(out.contains("witness quorum 1 of 1"), "{out}");
    // A misspelt option is an error, never silently ignored.
    let o = credence(
        d,
        &addr,
        &[
            "query",
            "--as",
            "bank.party",
            "--anchors",
            "anchors.json",
            "--subject",
            &subject,
            "--policy",
            "public_procurement",
            "--purpose",
            "bid 117",
            "--dya",
            day,
        ],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--dya"),
        "{o:?}"
    );
    let out = ok(
        d,
        &addr,
        &[
            "query",
            "--as",
            "bank.party",
            "--anchors",
            "anchors.json",
            "--subject",
            &subject,
            "--policy",
            "public_procurement",
            "--purpose",
            "bid 117",
            "--day",
            day,
            "--consent",
            "consent.hex",
            "--proof",
            "proof.hex",
            "--out",
            "proven.receipt",
        ],
    );
    assert!(
        out.contains("ELIGIBLE under `public_procurement` v1") && out.contains("proven path"),
        "{out}"
    );
    assert!(out.contains("records of 3 of its 3 attributes"), "{out}");
    let out = ok(
        d,
        &addr,
        &[
            "query",
            "--as",
            "bank.party",
            "--anchors",
            "anchors.json",
            "--subject",
            &subject,
            "--policy",
            "public_procurement",
            "--purpose",
            "bid 117",
            "--day",
            day,
            "--out",
            "sealed.receipt",
        ],
    );
    assert!(
        out.contains("ELIGIBLE under `public_procurement` v1") && out.contains("sealed path"),
        "{out}"
    );
    assert!(out.contains("1 witness cosignature(s)"), "{out}");

    // Offline verification against the bank's own question.
    for r in ["proven.receipt", "sealed.receipt"] {
        let out = ok(
            d,
            &addr,
            &[
                "verify",
                "--anchors",
                "anchors.json",
                "--receipt",
                r,
                "--policy",
                "public_procurement",
                "--subject",
                &subject,
                "--day",
                day,
                "--as",
                "bank.party",
            ],
        );
        assert!(
            out.contains("receipt verified") && out.contains("ELIGIBLE"),
            "{out}"
        );
    }
    let out = ok(
        d,
        &addr,
        &[
            "verify",
            "--anchors",
            "anchors.json",
            "--package",
            "proof.hex",
            "--policy",
            "public_procurement",
            "--subject",
            &subject,
            "--day",
            day,
            "--as",
            "bank.party",
        ],
    );
    assert!(out.contains("package verified"), "{out}");
    // The same receipt checked for another policy, another day, or the package for another
    // day: refused, with the reason.
    for (what, policy, dday) in [
        ("--receipt", "xinyidai", day),
        ("--receipt", "public_procurement", next_day.as_str()),
        ("--package", "public_procurement", next_day.as_str()),
    ] {
        let file = if what == "--receipt" {
            "sealed.receipt"
        } else {
            "proof.hex"
        };
        let o = credence(
            d,
            &addr,
            &[
                "verify",
                "--anchors",
                "anchors.json",
                what,
                file,
                "--policy",
                policy,
                "--subject",
                &subject,
                "--day",
                dday,
                "--as",
                "bank.party",
            ],
        );
        assert!(!o.status.success(), "{what} {policy} {dday}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("does not"), "{err}");
    }

    // The subject's history, and the audit twice (the second checks consistency).
    let out = ok(d, &addr, &["subject", "history", "--as", "ent.party"]);
    assert_eq!(out.matches("\"kind\":\"query\"").count(), 2, "{out}");
    let out = ok(
        d,
        &addr,
        &[
            "audit",
            "--as",
            "auditor.party",
            "--anchors",
            "anchors.json",
            "--state",
            "audit.state",
            "--replay",
            "1",
        ],
    );
    assert!(
        out.contains("no problems found") && out.contains("FHE evaluations re-checked (inputs complete, current, holder-signed, proofs verified; output recomputed byte for byte): 1"),
        "{out}"
    );
    let out = ok(
        d,
        &addr,
        &[
            "audit",
            "--as",
            "auditor.party",
            "--anchors",
            "anchors.json",
            "--state",
            "audit.state",
        ],
    );
    assert!(
        out.contains("consistent with the previous checkpoint: true"),
        "{out}"
    );

    child.kill().unwrap();
    let _ = child.wait();
    witness.kill().unwrap();
    let _ = witness.wait();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Authority roots from the command line: a root key file (`party new authority`), pinned at
/// `serve --authority` and remembered; a holder registered before the roots were pinned may not
/// act until its root's certificate is logged (`authority certify`, `register --certificate`);
/// a holder without a certificate, or with one from a root the service does not pin, is not
/// registered, and a root refuses to certify outside its authority.
#[test]
fn holders_are_certified_by_their_authority_root_from_the_command_line() {
    let tmp = std::env::temp_dir().join(format!("credence-cli-roots-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let d = tmp.as_path();
    let data = tmp.join("data");
    let data = data.to_str().unwrap();
    let fails = |server: &str, args: &[&str]| -> String {
        let o = credence(d, server, args);
        assert!(!o.status.success(), "credence {} succeeded", args.join(" "));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let root_key =
        |out: &str| -> String { out.split("public key ").nth(1).unwrap().trim().to_string() };
    let credit_root = root_key(&ok(
        d,
        "-",
        &[
            "party",
            "new",
            "authority",
            "credit",
            "--out",
            "credit-root.party",
        ],
    ));
    ok(
        d,
        "-",
        &[
            "party",
            "new",
            "authority",
            "market",
            "--out",
            "market-root.party",
        ],
    );
    // A root is named by its authority alone.
    let e = fails(
        "-",
        &["party", "new", "authority", "credit.x", "--out", "x.party"],
    );
    assert!(e.contains("named by its authority alone"), "{e}");
    ok(
        d,
        "-",
        &["party", "new", "holder", "credit.old", "--out", "old.party"],
    );
    ok(
        d,
        "-",
        &["party", "new", "holder", "credit.new", "--out", "new.party"],
    );
    ok(
        d,
        "-",
        &[
            "party",
            "new",
            "subject",
            "ent.roots",
            "--out",
            "ent.party",
            "--subject",
            "enterprise:91110108MA01AB2C3T",
        ],
    );
    // First the service pins no roots: the old holder is registered as before.
    ok(d, "-", &["serve", "init"]);
    let (mut child, addr) = common::spawn_listening(
        &["serve", "--dir", data, "--addr", "127.0.0.1:0"],
        Stdio::null(),
    );
    let op = "data/operator.party";
    let words = |s: &'static str| s.split_whitespace().collect::<Vec<_>>();
    ok(d, "-", &words("party new bank bank.roots --out bank.party"));
    ok(
        d,
        &addr,
        &words("register --as data/operator.party old.party ent.party bank.party"),
    );
    ok(
        d,
        &addr,
        &words("publish --as data/operator.party public_procurement"),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // A root that is not a catalogue authority, or a malformed key, is refused before start.
    let e = fails(
        "-",
        &[
            "serve",
            "init",
            "--authority",
            &format!("bank={credit_root}"),
        ],
    );
    assert!(e.contains("not an authority of the catalogue"), "{e}");
    let e = fails("-", &["serve", "init", "--authority", "credit=00"]);
    assert!(e.contains("64 hex"), "{e}");
    assert!(!d.join("data/authorities.json").exists());
    // Then it pins the credit root (remembered: the later start names none).
    let flag = format!("credit={credit_root}");
    ok(d, "-", &["serve", "init", "--authority", &flag]);
    let (mut child, addr) = common::spawn_listening(
        &["serve", "--dir", data, "--addr", "127.0.0.1:0"],
        Stdio::null(),
    );
    let anchors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("data/anchors.json")).unwrap())
            .unwrap();
    assert_eq!(
        anchors["authorities"]["credit"],
        credit_root.as_str(),
        "{anchors}"
    );
    std::fs::write(
        d.join("credit.csv"),
        "subject,attribute,value\nenterprise:91110108MA01AB2C3T,credit.serious_dishonesty,0\n",
    )
    .unwrap();
    let submit = [
        "holder",
        "submit",
        "--as",
        "old.party",
        "--path",
        "proven",
        "--input",
        "credit.csv",
    ];
    // The holder registered before may not act yet.
    let e = fails(&addr, &submit);
    assert!(e.contains("no valid certificate"), "{e}");
    // A new holder without a certificate is not registered.
    let e = fails(&addr, &["register", "--as", op, "new.party"]);
    assert!(e.contains("needs `authority` and `certificate`"), "{e}");
    // The market root will not certify a credit holder.
    let e = fails(
        &addr,
        &[
            "authority",
            "certify",
            "--as",
            "market-root.party",
            "--holder-file",
            "new.party",
            "--out",
            "bad.cert",
        ],
    );
    assert!(e.contains("does not belong"), "{e}");
    // A certificate from a credit root the service does not pin is refused.
    ok(
        d,
        "-",
        &[
            "party",
            "new",
            "authority",
            "credit",
            "--out",
            "rogue-root.party",
        ],
    );
    ok(
        d,
        "-",
        &[
            "authority",
            "certify",
            "--as",
            "rogue-root.party",
            "--holder-file",
            "new.party",
            "--out",
            "rogue.cert",
        ],
    );
    let e = fails(
        &addr,
        &[
            "register",
            "--as",
            op,
            "new.party",
            "--certificate",
            "rogue.cert",
        ],
    );
    assert!(e.contains("certificate"), "{e}");
    ok(
        d,
        "-",
        &[
            "authority",
            "certify",
            "--as",
            "credit-root.party",
            "--holder-file",
            "old.party",
            "--out",
            "old.cert",
        ],
    );
    ok(
        d,
        "-",
        &[
            "authority",
            "certify",
            "--as",
            "credit-root.party",
            "--holder-file",
            "new.party",
            "--out",
            "new.cert",
        ],
    );
    // The genuine certificates: the new holder registered with it, the old one certified.
    let out = ok(
        d,
        &addr,
        &[
            "register",
            "--as",
            op,
            "new.party",
            "--certificate",
            "new.cert",
            "--certificate",
            "old.cert",
        ],
    );
    assert!(
        out.contains("registered credit.new") && out.contains("certified credit.old"),
        "{out}"
    );
    // Certified once only.
    let e = fails(
        &addr,
        &["register", "--as", op, "--certificate", "old.cert"],
    );
    assert!(e.contains("already certified"), "{e}");
    ok(d, &addr, &submit);
    ok(d, &addr, &words("keys fetch --out hk"));
    ok(
        d,
        &addr,
        &words("holder submit --as old.party --path sealed --input credit.csv --keys hk"),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The credit authority replaces its root: certificates of the old one no longer count, at
    // the service as for verifiers, until the holder is certified by the new root.
    let new_root = root_key(&ok(
        d,
        "-",
        &[
            "party",
            "new",
            "authority",
            "credit",
            "--out",
            "credit-root2.party",
        ],
    ));
    ok(
        d,
        "-",
        &[
            "serve",
            "init",
            "--authority",
            &format!("credit={new_root}"),
        ],
    );
    let (mut child, addr) = common::spawn_listening(
        &["serve", "--dir", data, "--addr", "127.0.0.1:0"],
        Stdio::null(),
    );
    let e = fails(&addr, &submit);
    assert!(e.contains("no valid certificate"), "{e}");
    // A sealed question whose latest record is that holder's is refused before anything runs.
    ok(
        d,
        &addr,
        &words("anchors --as bank.party --out anchors.json --expect data/anchors.json"),
    );
    let query = words(
        "query --as bank.party --anchors anchors.json --subject enterprise:91110108MA01AB2C3T \
         --policy public_procurement --purpose tender-1",
    );
    let e = fails(&addr, &query);
    assert!(e.contains("without a valid certificate"), "{e}");
    ok(
        d,
        "-",
        &words("authority certify --as credit-root2.party --holder-file old.party --out old2.cert"),
    );
    let out = ok(
        d,
        &addr,
        &words("register --as data/operator.party --certificate old2.cert"),
    );
    assert!(out.contains("certified credit.old"), "{out}");
    ok(d, &addr, &submit);
    let out = ok(d, &addr, &query);
    assert!(out.contains("sealed path"), "{out}");
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&tmp);
}
