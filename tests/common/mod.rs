//! Helpers shared by the tests that run `credence serve` as a process.
#![allow(dead_code)] // each test binary uses a subset

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub mod region;

/// A loopback port free right now (for a process that must know another's address before it
/// starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `credence serve` on `dir` at a free loopback port; returns the child and its address.
/// Keeps draining the server's stdout so it never writes into a closed pipe.
pub fn start_server(dir: &std::path::Path, stderr: Stdio) -> (Child, String) {
    spawn_listening(
        &[
            "serve",
            "--dir",
            dir.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ],
        stderr,
    )
}

/// Runs `credence ARGS` (a command that prints `listening on ADDR` first: `serve`, `witness
/// serve`); returns the child and the address.
pub fn spawn_listening(args: &[&str], stderr: Stdio) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_credence"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().expect("a line").unwrap();
    std::thread::spawn(move || for _ in lines {});
    let addr = line.strip_prefix("listening on ").expect(&line).to_string();
    (child, addr)
}

/// The PostgreSQL server the store tests run on: `CREDENCE_TEST_POSTGRES=postgres://…` (a
/// database the tests may create databases from). Unset: `None`, and a notice that `test`
/// was skipped on PostgreSQL.
pub fn postgres_base(test: &str) -> Option<String> {
    match std::env::var("CREDENCE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "NOTICE: {test}: CREDENCE_TEST_POSTGRES is not set, so this test did not run on PostgreSQL"
            );
            None
        }
    }
}

/// A fresh, empty database on the test server, named after `name` and this process; returns
/// its URL (`None` with a notice when no server is configured).
pub fn postgres_database(name: &str) -> Option<String> {
    let base = postgres_base(name)?;
    let db = format!("credence_{name}_{}", std::process::id());
    // On a thread of its own: a blocking client must not run inside an async test's runtime.
    let (b, d) = (base.clone(), db.clone());
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&b, postgres::NoTls)
            .unwrap_or_else(|e| panic!("CREDENCE_TEST_POSTGRES: cannot connect: {e}"));
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {d} WITH (FORCE)"))
            .unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {d}"))
            .unwrap();
    })
    .join()
    .expect("creating the test database");
    Some(with_database(&base, &db))
}

/// `url` naming database `db` instead of its own.
pub fn with_database(url: &str, db: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let base = match head[scheme_end..].find('/') {
        Some(slash) => &head[..scheme_end + slash],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A signed request to the service at `addr` as `party` (the signing origin derived from the
/// address, as the CLI does); the status and body.
pub fn call(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
    key: &credence::protocols::signing::SigningKey,
    party: &str,
) -> std::io::Result<(u16, Vec<u8>)> {
    credence::party::client::call(
        addr,
        &credence::party::client::service_origin(addr)?,
        method,
        path,
        body,
        key,
        &credence::protocols::names::PartyId::new(party).unwrap(),
    )
}

/// A JSON body, or a panic showing it.
pub fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(b)))
}

/// A 32-byte seed file of a data directory.
pub fn seed(path: std::path::PathBuf) -> [u8; 32] {
    std::fs::read(path).unwrap().try_into().unwrap()
}
