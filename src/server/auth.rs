//! Request authentication: every API call is signed by a registered party
//! (`protocols::request`), checked here before any work.
//!
//! Order of checks, cheapest first: the four headers are present and well formed; the party is
//! registered; the time is inside the window; the signature verifies under the party's key and
//! role; the route admits the role (else *forbidden*); the `(time, party, nonce)` triple was
//! never accepted (recorded durably, so a replay is refused even across a restart). Only the
//! role check yields 403; everything else is 401.

use crate::protocols::names::PartyId;
use crate::protocols::request::{
    parse_hex, parse_signature, RequestStatement, HEADER_NONCE, HEADER_PARTY, HEADER_SIGNATURE,
    HEADER_TIME,
};
use crate::protocols::signing::{PublicKey, Role};
use crate::store::{Batch, Store, StoreError, Table};
use std::sync::Arc;

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Its party id.
    pub party: PartyId,
    /// Its key's role.
    pub role: Role,
}

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A header is missing or malformed (401).
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The request was already accepted once (401).
    #[error("unauthenticated: replayed request (this nonce was already used)")]
    Replayed,
    /// The caller's role may not use this route (403).
    #[error("forbidden: role `{role}` may not call this route (allowed: {allowed})")]
    Forbidden {
        /// The caller's role.
        role: Role,
        /// Roles the route admits.
        allowed: String,
    },
    /// Storage failed (500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Unauthenticated(_) | AuthError::Replayed => 401,
            AuthError::Forbidden { .. } => 403,
            AuthError::Store(_) => 500,
        }
    }
}

/// Registered parties' keys, and the replay window.
pub struct Authenticator {
    store: Arc<dyn Store>,
    window_secs: u64,
}

fn party_key(party: &PartyId) -> Vec<u8> {
    party.as_str().as_bytes().to_vec()
}

/// The stored form of a party's key: role tag ‖ 32 key bytes.
pub fn encode_party_key(key: &PublicKey) -> Vec<u8> {
    let mut v = vec![key.role().tag()];
    v.extend_from_slice(&key.to_bytes());
    v
}

/// Reads [`encode_party_key`].
pub fn decode_party_key(v: &[u8]) -> Option<PublicKey> {
    let (&tag, rest) = v.split_first()?;
    let bytes: &[u8; 32] = rest.try_into().ok()?;
    PublicKey::from_bytes(Role::from_tag(tag)?, bytes).ok()
}

impl Authenticator {
    /// Requests older or newer than `window_secs` from the service clock are refused.
    pub fn new(store: Arc<dyn Store>, window_secs: u64) -> Self {
        Authenticator { store, window_secs }
    }

    /// The request time window, seconds.
    pub fn window(&self) -> u64 {
        self.window_secs
    }

    /// Adds the registration of `party` with `key` to `batch` (the caller logs it in the same
    /// commit); fails later, atomically, if the party exists.
    pub fn register(batch: &mut Batch, party: &PartyId, key: &PublicKey) {
        batch.insert(Table::Parties, party_key(party), encode_party_key(key));
    }

    /// Adds the registration of `party` with `key` to `batch`, replacing any earlier one.
    pub fn replace(batch: &mut Batch, party: &PartyId, key: &PublicKey) {
        batch.put(Table::Parties, party_key(party), encode_party_key(key));
    }

    /// The registered key of `party`.
    pub fn key_of(&self, party: &PartyId) -> Result<Option<PublicKey>, StoreError> {
        Ok(self
            .store
            .get(Table::Parties, &party_key(party))?
            .and_then(|v| decode_party_key(&v)))
    }

    /// Authenticates one request addressed to the service whose log origin is `origin`.
    /// `header` looks a header up by (lower-case) name.
    #[allow(clippy::too_many_arguments)] // each is one field of the signed statement or policy
    pub fn authenticate<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        origin: &str,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: u64,
        allowed: &[Role],
    ) -> Result<Caller, AuthError> {
        let missing = |h: &str| AuthError::Unauthenticated(format!("missing header `{h}`"));
        let bad = |h: &str| AuthError::Unauthenticated(format!("malformed header `{h}`"));
        let party = header(HEADER_PARTY).ok_or_else(|| missing(HEADER_PARTY))?;
        let party = PartyId::new(party).map_err(|_| bad(HEADER_PARTY))?;
        let time: u64 = header(HEADER_TIME)
            .ok_or_else(|| missing(HEADER_TIME))?
            .parse()
            .map_err(|_| bad(HEADER_TIME))?;
        let nonce: [u8; 16] = parse_hex(header(HEADER_NONCE).ok_or_else(|| missing(HEADER_NONCE))?)
            .ok_or_else(|| bad(HEADER_NONCE))?;
        let signature =
            parse_signature(header(HEADER_SIGNATURE).ok_or_else(|| missing(HEADER_SIGNATURE))?)
                .ok_or_else(|| bad(HEADER_SIGNATURE))?;
        let key = self.key_of(&party)?.ok_or_else(|| {
            AuthError::Unauthenticated(format!("party `{party}` is not registered"))
        })?;
        if time.abs_diff(now) > self.window_secs {
            return Err(AuthError::Unauthenticated(format!(
                "request time {time} is outside the {} s window around {now}",
                self.window_secs
            )));
        }
        let statement = RequestStatement::new(
            origin,
            party.clone(),
            method,
            path_and_query,
            time,
            nonce,
            body,
        );
        key.verify(key.role(), &statement, &signature)
            .map_err(|_| AuthError::Unauthenticated("bad signature".into()))?;
        if !allowed.contains(&key.role()) {
            return Err(AuthError::Forbidden {
                role: key.role(),
                allowed: allowed
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut seen = time.to_be_bytes().to_vec();
        seen.extend_from_slice(&party_key(&party));
        seen.push(0);
        seen.extend_from_slice(&nonce);
        let mut b = Batch::new();
        b.insert(Table::Nonces, seen, Vec::new());
        match self.store.commit(&b) {
            Ok(()) => Ok(Caller {
                party,
                role: key.role(),
            }),
            Err(StoreError::Exists { .. }) => Err(AuthError::Replayed),
            Err(e) => Err(e.into()),
        }
    }

    /// Forgets nonces of requests too old to be accepted again; returns how many.
    pub fn prune(&self, now: u64) -> Result<usize, StoreError> {
        // Twice the window: instances sharing the store may disagree on the time by up to a
        // window, and one with a fast clock must not forget a nonce another still accepts.
        let cutoff = now.saturating_sub(2 * self.window_secs + 1);
        let old = self
            .store
            .scan(Table::Nonces, &[], Some(&cutoff.to_be_bytes()), 10_000)?;
        let mut b = Batch::new();
        for (k, _) in &old {
            b.delete(Table::Nonces, k.clone());
        }
        self.store.commit(&b)?;
        Ok(old.len())
    }
}
