//! A minimal blocking client for the service's signed API: one HTTP/1.1 request per
//! connection, signed as `protocols::request` describes. Used by the CLI roles, the crash test
//! and the load run.

use crate::protocols::names::PartyId;
use crate::protocols::request::RequestStatement;
use crate::protocols::signing::SigningKey;
use rand::RngCore;
use std::io::{Read, Write};
use std::net::TcpStream;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sends `method path` with `body` to `addr` (`host:port`), signed by `key` as `party`;
/// returns the status and the body.
pub fn call(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
    key: &SigningKey,
    party: &PartyId,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let statement = RequestStatement::new(party.clone(), method, path, unix_now(), nonce, body);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (h, v) in statement.sign_headers(key) {
        head.push_str(&format!("{h}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut s = TcpStream::connect(addr)?;
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("response without a header end"))?;
    let status = std::str::from_utf8(out.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("response without a status"))?;
    Ok((status, out[split + 4..].to_vec()))
}
