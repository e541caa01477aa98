//! Signed API requests: every call to the service is signed by a registered party's key.
//!
//! The signed statement (kind `http-request/v2`) binds the service it is addressed to (its log
//! origin, so a request signed for one region does not replay at another), the caller, the
//! method, the path with its query, a timestamp, a random nonce and the SHA3-256 of the body;
//! the caller's role is part of every signature (`signatures.md`). It travels in four headers
//! ([`HEADER_PARTY`], [`HEADER_TIME`], [`HEADER_NONCE`], [`HEADER_SIGNATURE`]). The service
//! accepts a request only within a time window and only once per nonce.

use crate::encoding::Writer;
use crate::log::hash::Hash;
use crate::names::PartyId;
use crate::signing::{Signable, Signature, SigningKey};
use sha3::{Digest, Sha3_256};

/// Header carrying the caller's party id.
pub const HEADER_PARTY: &str = "x-credence-party";
/// Header carrying the request time (seconds since the Unix epoch, decimal).
pub const HEADER_TIME: &str = "x-credence-time";
/// Header carrying the 16-byte nonce (lower-case hex).
pub const HEADER_NONCE: &str = "x-credence-nonce";
/// Header carrying the Ed25519 signature (lower-case hex, 64 bytes).
pub const HEADER_SIGNATURE: &str = "x-credence-signature";

/// What a caller signs for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestStatement {
    /// The log origin of the service the request is addressed to.
    pub origin: String,
    /// The caller.
    pub party: PartyId,
    /// HTTP method, upper case.
    pub method: String,
    /// Path and query exactly as sent (`/v1/query?x=1`).
    pub path_and_query: String,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// Random, never reused.
    pub nonce: [u8; 16],
    /// SHA3-256 of the body bytes (of the empty string for no body).
    pub body_hash: Hash,
}

impl RequestStatement {
    /// The statement for a request.
    pub fn new(
        origin: &str,
        party: PartyId,
        method: &str,
        path_and_query: &str,
        timestamp: u64,
        nonce: [u8; 16],
        body: &[u8],
    ) -> Self {
        RequestStatement {
            origin: origin.to_string(),
            party,
            method: method.to_ascii_uppercase(),
            path_and_query: path_and_query.to_string(),
            timestamp,
            nonce,
            body_hash: Sha3_256::digest(body).into(),
        }
    }

    /// The four header values (party, time, nonce, signature) signed with `key`.
    pub fn sign_headers(&self, key: &SigningKey) -> [(&'static str, String); 4] {
        let sig = key.sign(self);
        [
            (HEADER_PARTY, self.party.to_string()),
            (HEADER_TIME, self.timestamp.to_string()),
            (HEADER_NONCE, hex_lower(&self.nonce)),
            (HEADER_SIGNATURE, hex_lower(&sig.0)),
        ]
    }
}

impl Signable for RequestStatement {
    const KIND: &'static str = "http-request/v2";
    fn encode_body(&self, w: &mut Writer) {
        w.str(&self.origin);
        self.party.encode(w);
        w.str(&self.method)
            .str(&self.path_and_query)
            .u64(self.timestamp)
            .fixed(&self.nonce)
            .fixed(&self.body_hash);
    }
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses lower- or upper-case hex of exactly `N` bytes.
pub fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Parses a signature header.
pub fn parse_signature(s: &str) -> Option<Signature> {
    parse_hex::<64>(s).map(Signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Role;

    #[test]
    fn signatures_bind_every_field() {
        let key = SigningKey::generate(Role::Bank, &mut rand::thread_rng());
        let s = RequestStatement::new(
            "credence.example/beijing",
            PartyId::new("icbc").unwrap(),
            "post",
            "/v1/query",
            100,
            [1; 16],
            b"{}",
        );
        let headers = s.sign_headers(&key);
        let sig = parse_signature(&headers[3].1).unwrap();
        key.public().verify(Role::Bank, &s, &sig).unwrap();
        let variants = [
            RequestStatement {
                method: "GET".into(),
                ..s.clone()
            },
            RequestStatement {
                path_and_query: "/v1/query?x".into(),
                ..s.clone()
            },
            RequestStatement {
                timestamp: 101,
                ..s.clone()
            },
            RequestStatement {
                nonce: [2; 16],
                ..s.clone()
            },
            RequestStatement::new(
                "credence.example/beijing",
                s.party.clone(),
                "POST",
                "/v1/query",
                100,
                [1; 16],
                b"{ }",
            ),
            RequestStatement {
                origin: "credence.example/tianjin".into(),
                ..s.clone()
            },
            RequestStatement {
                party: PartyId::new("boc").unwrap(),
                ..s.clone()
            },
        ];
        for v in variants {
            assert!(key.public().verify(Role::Bank, &v, &sig).is_err(), "{v:?}");
        }
        assert!(key.public().verify(Role::Holder, &s, &sig).is_err());
        assert_eq!(parse_hex::<16>(&headers[2].1), Some([1; 16]));
        assert_eq!(parse_hex::<2>("0g00"), None);
        assert_eq!(parse_hex::<2>("000"), None);
        assert_eq!(parse_hex::<2>("é0"), None);
    }
}
