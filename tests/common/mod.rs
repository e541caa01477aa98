//! Helpers shared by the tests that run `credence serve` as a process.
#![allow(dead_code)] // each test binary uses a subset

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub mod region;

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
