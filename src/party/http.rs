//! The transport every party uses: one blocking HTTP/1.1 exchange per connection, bounded in
//! time and size, and requests signed as `protocols::request` describes.

use crate::protocols::names::PartyId;
use crate::protocols::request::RequestStatement;
use crate::protocols::signing::SigningKey;
use rand::RngCore;
use std::io::{Read, Write};
use std::net::TcpStream;

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An HTTP response: status, headers (lower-case names), body.
pub type HttpResponse = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 exchange on a fresh connection: sends `method path` with `headers` and
/// `body`, returns the status, the response headers and the body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    http_within(addr, method, path, headers, body, READ_TIMEOUT)
}

/// Largest response read (a peer cannot exhaust memory by answering without end).
pub const MAX_RESPONSE: u64 = 64 << 20;
/// How long to wait for a connection.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long to wait for an answer (a sealed-path question evaluates under FHE).
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// [`http`] with a read timeout of `timeout`.
pub fn http_within(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: std::time::Duration,
) -> std::io::Result<HttpResponse> {
    let target = crate::tls::Target::parse(addr).map_err(std::io::Error::other)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        target.authority,
        body.len()
    );
    for (h, v) in headers {
        head.push_str(&format!("{h}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(target.authority.as_str())?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr}: no address")))?;
    target
        .check_plain_allowed(&resolved)
        .map_err(std::io::Error::other)?;
    let s = TcpStream::connect_timeout(&resolved, CONNECT_TIMEOUT)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    let mut stream: Box<dyn ReadWrite> = if target.tls {
        let config = crate::tls::trust().map_err(std::io::Error::other)?;
        let name = target.server_name().map_err(std::io::Error::other)?;
        let conn = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
        Box::new(rustls::StreamOwned::new(conn, s))
    } else {
        Box::new(s)
    };
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut out = Vec::new();
    let clean_end = read_all(&mut stream, &mut out)?;
    if out.len() as u64 > MAX_RESPONSE {
        return Err(std::io::Error::other(format!(
            "{addr}: response larger than {MAX_RESPONSE} bytes"
        )));
    }
    parse_response(&out, clean_end).map_err(|e| std::io::Error::other(format!("{addr}: {e}")))
}

/// Parses a whole response read from a connection the server closed. The body is exactly
/// `Content-Length` bytes: a shorter one (a connection cut, or a TLS stream truncated by an
/// attacker who closed the TCP connection without `close_notify`) and a longer one are refused,
/// as are conflicting lengths and chunked framing. Without a length the body runs to the end of
/// the connection, which then must have ended cleanly (`close_notify` on TLS).
fn parse_response(out: &[u8], clean_end: bool) -> Result<HttpResponse, String> {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("response without a header end")?;
    let status = std::str::from_utf8(out.get(9..12).unwrap_or_default())
        .ok()
        .filter(|_| out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 "))
        .and_then(|s| s.parse().ok())
        .ok_or("response without a status")?;
    let headers: Vec<(String, String)> = String::from_utf8_lossy(&out[..split])
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = &out[split + 4..];
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && !v.eq_ignore_ascii_case("identity"))
    {
        return Err(
            "response with a transfer encoding (only Content-Length framing is read)".into(),
        );
    }
    let mut lengths = headers.iter().filter(|(k, _)| k == "content-length");
    match lengths.next() {
        Some((_, v)) => {
            let n: usize = v
                .parse()
                .map_err(|_| format!("response with a bad Content-Length `{v}`"))?;
            if lengths.any(|(_, w)| w != v) {
                return Err("response with conflicting Content-Length headers".into());
            }
            if body.len() != n {
                return Err(format!(
                    "response body is {} bytes where Content-Length says {n} (truncated or padded)",
                    body.len()
                ));
            }
        }
        None if !clean_end => {
            return Err(
                "response without Content-Length on a connection that did not close cleanly".into(),
            )
        }
        None => {}
    }
    Ok((status, headers, body.to_vec()))
}

/// A connection, plain or TLS.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Reads the whole response (the server closes the connection), at most [`MAX_RESPONSE`] + 1
/// bytes; says whether the connection ended cleanly. A TLS peer that closes without
/// `close_notify` gives an unclean end: the response is then accepted only if its
/// `Content-Length` framing is complete ([`parse_response`]).
fn read_all(s: &mut dyn ReadWrite, out: &mut Vec<u8>) -> std::io::Result<bool> {
    match Read::take(&mut *s, MAX_RESPONSE + 1).read_to_end(out) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => Ok(false),
        Err(e) => Err(e),
    }
}

/// An unsigned `POST` (witness cosigning: the checkpoint's own signature authenticates it),
/// answered within 15 s.
pub fn plain_post(addr: &str, path: &str, body: &[u8]) -> std::io::Result<HttpResponse> {
    http_within(
        addr,
        "POST",
        path,
        &[("content-type", "application/json".to_string())],
        body,
        std::time::Duration::from_secs(15),
    )
}

/// The message of an error answer (`{"error": {"code", "message"}}`, or the body as text).
pub fn error_message(body: &[u8]) -> String {
    let v: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    match v.as_ref().map(|v| &v["error"]) {
        Some(serde_json::Value::String(m)) => m.clone(),
        Some(e) if e["message"].is_string() => {
            let m = e["message"].as_str().unwrap_or_default();
            match e["code"].as_str() {
                Some(c) => format!("{m} [{c}]"),
                None => m.to_string(),
            }
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

/// Sends `method path` with `body` to the service at `addr` whose log origin is `origin`,
/// signed by `key` as `party` (`http-request/v2`); returns the status and the body.
pub fn call(
    addr: &str,
    origin: &str,
    method: &str,
    path: &str,
    body: &[u8],
    key: &SigningKey,
    party: &PartyId,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let statement =
        RequestStatement::new(origin, party.clone(), method, path, unix_now(), nonce, body);
    let headers: Vec<(&str, String)> = statement.sign_headers(key).into_iter().collect();
    let (status, _, out) = http(addr, method, path, &headers, body)?;
    Ok((status, out))
}

/// The log origin a service states (`GET /v1/anchors`, unauthenticated). Requests are signed
/// for it, so a request signed for one region is refused by every other; it is not a trust
/// anchor (a verifier compares the anchors it pinned instead).
pub fn service_origin(addr: &str) -> std::io::Result<String> {
    let (status, _, out) = http(addr, "GET", "/v1/anchors", &[], b"")?;
    if status != 200 {
        return Err(std::io::Error::other(format!(
            "GET /v1/anchors: HTTP {status}: {}",
            error_message(&out)
        )));
    }
    serde_json::from_slice::<serde_json::Value>(&out)
        .ok()
        .and_then(|v| v["origin"].as_str().map(str::to_string))
        .ok_or_else(|| std::io::Error::other("GET /v1/anchors: no origin"))
}

#[cfg(test)]
mod tests {
    use super::parse_response;

    const HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n";

    #[test]
    fn a_complete_response_is_read() {
        let r = format!("{HEAD}content-length: 2\r\n\r\n{{}}");
        let (status, headers, body) = parse_response(r.as_bytes(), false).unwrap();
        assert_eq!(status, 200);
        assert!(headers
            .iter()
            .any(|(k, v)| k == "content-length" && v == "2"));
        assert_eq!(body, b"{}");
    }

    #[test]
    fn a_truncated_or_padded_body_is_refused() {
        for (len, body) in [(10, "{\"ok\":"), (2, "{}{}")] {
            let r = format!("{HEAD}content-length: {len}\r\n\r\n{body}");
            for clean in [true, false] {
                let e = parse_response(r.as_bytes(), clean).unwrap_err();
                assert!(e.contains("Content-Length says"), "{e}");
            }
        }
    }

    #[test]
    fn framing_that_could_hide_a_cut_is_refused() {
        let conflicting = format!("{HEAD}content-length: 2\r\ncontent-length: 3\r\n\r\n{{}}");
        assert!(parse_response(conflicting.as_bytes(), true)
            .unwrap_err()
            .contains("conflicting"));
        let chunked = format!("{HEAD}transfer-encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n");
        assert!(parse_response(chunked.as_bytes(), true)
            .unwrap_err()
            .contains("transfer encoding"));
        let bad = format!("{HEAD}content-length: -1\r\n\r\n");
        assert!(parse_response(bad.as_bytes(), true)
            .unwrap_err()
            .contains("bad Content-Length"));
        // No length: accepted only when the connection closed cleanly.
        let open = format!("{HEAD}\r\n{{}}");
        assert!(parse_response(open.as_bytes(), false)
            .unwrap_err()
            .contains("did not close cleanly"));
        assert_eq!(parse_response(open.as_bytes(), true).unwrap().2, b"{}");
        assert!(parse_response(b"SSH-2.0-OpenSSH 200 x\r\n\r\n", true).is_err());
    }
}
