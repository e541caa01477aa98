//! TLS between the parties and the service, as real processes: `credence serve` with a
//! certificate speaks HTTPS only; the CLI verifies it against the CA it is given and refuses
//! any other certificate, a missing CA, and plain HTTP to a non-loopback address; the service
//! refuses to serve plain HTTP beyond loopback unless told to.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

fn credence(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_credence"))
        .args(args)
        .current_dir(dir)
        .env_remove("CREDENCE_TLS_CA")
        .env_remove("CREDENCE_ALLOW_PLAIN_HTTP")
        .env_remove("CREDENCE_SERVER")
        .env_remove("CREDENCE_DIR")
        .env_remove("CREDENCE_ADDR")
        .output()
        .unwrap()
}

fn make_cert(dir: &Path, name: &str) -> (String, String) {
    let c =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    (
        cert.to_str().unwrap().to_string(),
        key.to_str().unwrap().to_string(),
    )
}

#[test]
fn parties_reach_the_service_over_verified_tls_only() {
    let d = std::env::temp_dir().join(format!("credence-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let data = d.join("data");
    let (cert, key) = make_cert(&d, "service");
    let (other, _) = make_cert(&d, "other");
    let init = credence(&d, &["serve", "init", "--dir", data.to_str().unwrap()]);
    assert!(init.status.success(), "{init:?}");
    let (mut child, addr) = common::spawn_listening(
        &[
            "serve",
            "--dir",
            data.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
        Stdio::null(),
    );
    assert!(addr.starts_with("https://127.0.0.1:"), "{addr}");
    let op = data.join("operator.party");
    let op = op.to_str().unwrap();

    // With the service's certificate as the CA: works.
    let ok = credence(
        &d,
        &[
            "anchors",
            "--as",
            op,
            "--server",
            &addr,
            "--tls-ca",
            &cert,
            "--out",
            "anchors.json",
        ],
    );
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("fingerprint"),
        "{ok:?}"
    );
    let published = credence(
        &d,
        &[
            "publish",
            "--as",
            op,
            "--server",
            &addr,
            "--tls-ca",
            &cert,
            "public_procurement",
        ],
    );
    assert!(published.status.success(), "{published:?}");

    // No CA: refused before any request is sent.
    let o = credence(
        &d,
        &["anchors", "--as", op, "--server", &addr, "--out", "a2.json"],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--tls-ca"),
        "{o:?}"
    );
    // Another certificate: the handshake fails, nothing is pinned.
    let o = credence(
        &d,
        &[
            "anchors", "--as", op, "--server", &addr, "--tls-ca", &other, "--out", "a3.json",
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(!d.join("a3.json").exists());
    // Plain HTTP to the TLS port gets no answer.
    let plain = addr.trim_start_matches("https://").to_string();
    let o = credence(
        &d,
        &[
            "anchors", "--as", op, "--server", &plain, "--out", "a4.json",
        ],
    );
    assert!(!o.status.success(), "{o:?}");
    assert!(!d.join("a4.json").exists());
    // Plain HTTP to a non-loopback address: refused by the client before it connects.
    let o = credence(
        &d,
        &[
            "anchors",
            "--as",
            op,
            "--server",
            "192.0.2.1:8080",
            "--out",
            "a5.json",
        ],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("plain HTTP to a non-loopback address"),
        "{o:?}"
    );
    let _ = child.kill();
    let _ = child.wait();

    // The service refuses to serve plain HTTP beyond loopback.
    let o = credence(
        &d,
        &[
            "serve",
            "--dir",
            data.to_str().unwrap(),
            "--addr",
            "0.0.0.0:0",
        ],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("refusing to serve plain HTTP"),
        "{o:?}"
    );
    // A certificate without its key is a usage error.
    let o = credence(
        &d,
        &[
            "serve",
            "--dir",
            data.to_str().unwrap(),
            "--tls-cert",
            &cert,
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let _ = std::fs::remove_dir_all(&d);
}

/// An attacker on the path cuts a TLS answer short by closing the TCP connection (no
/// `close_notify`): the client refuses the partial body instead of reading it as the answer.
#[test]
fn a_tls_answer_cut_short_is_refused() {
    use std::io::{Read, Write};
    let d = std::env::temp_dir().join(format!("credence-tls-cut-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let (cert, key) = make_cert(&d, "service");
    let config = credence::tls::server_config(Path::new(&cert), Path::new(&key)).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for complete in [false, true] {
            let (tcp, _) = listener.accept().unwrap();
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 4096];
            let _ = tls.read(&mut buf).unwrap();
            let body = "{\"outcome\":{\"eligible\":false}}";
            let sent = if complete { body } else { &body[..12] };
            write!(
                tls,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{sent}",
                body.len()
            )
            .unwrap();
            tls.flush().unwrap();
            // Close the TCP connection without close_notify.
            tls.sock.shutdown(std::net::Shutdown::Both).unwrap();
        }
    });
    credence::tls::set_trust(Path::new(&cert)).unwrap();
    let addr = format!("https://127.0.0.1:{port}");
    let cut = credence::party::http::http(&addr, "GET", "/v1/anchors", &[], b"");
    let e = cut.expect_err("a cut answer must be refused").to_string();
    assert!(e.contains("Content-Length says"), "{e}");
    // The same framing, complete: read, though the close was not clean.
    let (status, _, body) =
        credence::party::http::http(&addr, "GET", "/v1/anchors", &[], b"").unwrap();
    assert_eq!((status, body.len()), (200, 30));
    server.join().unwrap();
}
