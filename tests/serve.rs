//! `credence serve` as a process: first start creates the data directory and keys, answers
//! HTTP, shuts down gracefully on SIGTERM; a second start reuses the same directory.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn start(dir: &std::path::Path) -> (std::process::Child, String) {
    common::start_server(dir, Stdio::piped())
}

fn stop(mut child: std::process::Child) -> String {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "exit {status:?}: {err}");
    err
}

#[test]
#[cfg(unix)]
fn serve_starts_answers_and_stops_gracefully() {
    let dir = std::env::temp_dir().join(format!("credence-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (child, addr) = start(&dir);
    let health = get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let unsigned = get(&addr, "/v1/audit/checkpoint");
    assert!(unsigned.starts_with("HTTP/1.1 401"), "{unsigned}");
    // Metrics need the token written on first start (owner-only).
    let metrics = get(&addr, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 401"), "{metrics}");
    let token = std::fs::read_to_string(dir.join("metrics.token")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("metrics.token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "metrics.token is owner-only");
    }
    let (status, _, body) = credence::party::client::http(
        &addr,
        "GET",
        "/metrics",
        &[("authorization", format!("Bearer {}", token.trim()))],
        b"",
    )
    .unwrap();
    let metrics = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{metrics}");
    // The first start logs the FHE engine's parameters (what a replay must run): one entry.
    assert!(metrics.contains("credence_log_size 1"), "{metrics}");
    let err = stop(child);
    assert!(err.contains("first start"), "{err}");
    assert!(err.contains("shutting down"), "{err}");
    assert!(dir.join("credence.redb").exists());
    assert!(dir.join("keys/authority/client.key").exists());

    // Second start: same keys and store, no key generation.
    let (child, addr) = start(&dir);
    assert!(get(&addr, "/healthz").starts_with("HTTP/1.1 200"));
    let err = stop(child);
    assert!(!err.contains("first start"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_config_file_is_refused_before_anything_starts() {
    let dir = std::env::temp_dir().join(format!("credence-serve-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("credence.toml");
    std::fs::write(&cfg, "addr = \"127.0.0.1:0\"\nfhe_slot = 2\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_credence"))
        .args(["serve", "--config", cfg.to_str().unwrap(), "--dir"])
        .arg(dir.join("data"))
        .env_remove("CREDENCE_DIR")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fhe_slot"), "{err}");
    assert!(!dir.join("data").exists(), "nothing was created");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_malformed_key_authority_flag_is_refused_before_anything_starts() {
    let dir = std::env::temp_dir().join(format!("credence-serve-ka-flag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data");
    for (flag, expect) in [
        ("127.0.0.1:8091", "KEY@HOST:PORT"),
        ("abcd@127.0.0.1:8091", "64 hex digits"),
    ] {
        for args in [&["serve", "init"][..], &["serve"][..]] {
            let out = Command::new(env!("CARGO_BIN_EXE_credence"))
                .args(args)
                .arg("--dir")
                .arg(&data)
                .args(["--key-authority", flag, "--addr", "127.0.0.1:0"])
                .env_remove("CREDENCE_DIR")
                .output()
                .unwrap();
            assert!(!out.status.success(), "{args:?} {flag} was accepted");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(expect), "{args:?} {flag}: {err}");
            assert!(!data.exists(), "{args:?} {flag}: something was created");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
