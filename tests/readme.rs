//! The README's CLI sequence, run verbatim as a new user would: the block between
//! `<!-- readme-sequence -->` and `<!-- /readme-sequence -->` is executed by bash in a fresh
//! directory, with `cargo run --` standing for the built binary and the two ports swapped for
//! free ones. Every command must succeed; the outputs that matter are then checked.

use std::process::Command;

fn sequence() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- readme-sequence -->")
        .expect("README has the sequence marker");
    let end = readme
        .find("<!-- /readme-sequence -->")
        .expect("README has the end marker");
    let block = &readme[start..end];
    let open = block.find("```sh\n").expect("a sh block") + 6;
    let close = block[open..].find("```").expect("closed block") + open;
    block[open..close].to_string()
}

mod common;

#[test]
fn the_readme_sequence_runs_verbatim() {
    run_sequence(None);
}

/// The same sequence with the service's store on PostgreSQL (`CREDENCE_STORE`, as an operator
/// would set it), when `CREDENCE_TEST_POSTGRES` names a server.
#[test]
fn the_readme_sequence_runs_on_postgres() {
    if let Some(url) = common::postgres_database("readme") {
        run_sequence(Some(&url));
    }
}

fn run_sequence(store: Option<&str>) {
    let script = sequence();
    assert!(script.contains("cargo run -- serve init"), "{script}");
    let dir = std::env::temp_dir().join(format!(
        "credence-readme-{}-{}",
        std::process::id(),
        store.is_some()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The sequence reads examples/data/ relative to the repository root.
    std::os::unix::fs::symlink(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples"),
        dir.join("examples"),
    )
    .unwrap();
    let (service, witness, authority) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let script = script
        .replace(
            "cargo run --",
            &format!("'{}'", env!("CARGO_BIN_EXE_credence")),
        )
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{service}"))
        .replace("127.0.0.1:8090", &format!("127.0.0.1:{witness}"))
        .replace("127.0.0.1:8091", &format!("127.0.0.1:{authority}"));
    let full =
        format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}\n");
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(&full)
        .current_dir(&dir)
        .env_remove("CREDENCE_DIR")
        .env_remove("CREDENCE_ADDR")
        .env_remove("CREDENCE_SERVER")
        .env_remove("CREDENCE_STORE");
    if let Some(url) = store {
        bash.env("CREDENCE_STORE", url);
    }
    let out = bash.output().expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README sequence failed ({:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    // What a reader is told to expect.
    assert!(
        stdout.contains("credit.serious_dishonesty"),
        "catalog:\n{stdout}"
    );
    assert!(stdout.contains("proved `public_procurement`"), "{stdout}");
    assert!(
        stdout.contains("ELIGIBLE under `public_procurement` v1") && stdout.contains("proven path"),
        "{stdout}"
    );
    assert!(stdout.contains("sealed path"), "{stdout}");
    assert!(stdout.contains("receipt verified"), "{stdout}");
    assert!(stdout.contains("no problems found"), "{stdout}");
    assert!(dir.join("holder-keys/public/crs.bin").exists());
    // The bank's pinned anchors carry the two authorities' roots.
    let anchors = std::fs::read_to_string(dir.join("anchors.json")).unwrap();
    let root = std::fs::read_to_string(dir.join("credit-root.key")).unwrap();
    assert!(
        root.trim().len() == 64 && anchors.contains(root.trim()) && anchors.contains("\"market\""),
        "{anchors}"
    );
    assert!(
        !dir.join("holder-keys/public/server.key").exists(),
        "holders need no server key"
    );
    // The client key is in the key authority's directory and nowhere in the service's.
    assert!(dir.join("ka-data/keys/authority/client.key").exists());
    assert!(
        !dir.join("credence-data/keys/authority").exists(),
        "the service's directory holds no key authority material"
    );
    assert_eq!(
        dir.join("credence-data/credence.redb").exists(),
        store.is_none(),
        "the embedded file exists exactly when no PostgreSQL store is configured"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
