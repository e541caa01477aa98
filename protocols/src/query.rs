//! A bank's signed question (`query-request/v1`).
//!
//! Every question a bank asks is signed by the bank's own key over exactly what is logged: the
//! log it asks, the bank, the subject's pseudonym there, the policy hash, the day, the purpose,
//! the consent's hash, the partner region it asks that log to forward the question to (if
//! any) and a nonce of the bank's. The `Query` log entry carries the
//! nonce and the signature ([`RequestSignature`]); whoever checks the entry — the key authority
//! before it decrypts anything, the auditor — **derives** the signed statement from the entry's
//! own fields and the log's origin ([`QueryRequest::of_entry`]) and verifies the signature under
//! the bank key *the log* registered. So a service cannot log a question no bank asked, nor
//! change the subject, policy, day or purpose of one that a bank did ask; a question logged twice
//! shows the same nonce twice, which the key authority refuses and the audit flags.

use crate::encoding::{Reader, Writer};
use crate::error::{DecodeError, SignatureError};
use crate::log::entry::LogEntry;
use crate::log::hash::Hash;
use crate::names::PartyId;
use crate::pseudonym::Pseudonym;
use crate::signing::{PublicKey, Role, Signable, Signature, SigningKey};

/// What a bank signs when it asks a question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryRequest {
    /// The origin of the log asked to answer (a request for one region is worthless at another).
    pub origin: String,
    /// The bank asking.
    pub bank: PartyId,
    /// The subject's pseudonym in that log.
    pub subject: Pseudonym,
    /// The policy asked about.
    pub policy_hash: Hash,
    /// The day asked about.
    pub as_of_day: u32,
    /// The declared purpose, verbatim.
    pub purpose: String,
    /// The hash of the consent token presented, where one is.
    pub consent_hash: Option<Hash>,
    /// The partner region (log origin) the bank asks `origin` to forward the question to;
    /// `None` for a question `origin` answers itself. A request to forward is never one to
    /// answer, and the other way round.
    pub region: Option<String>,
    /// The bank's random nonce: one signed request, one logged question.
    pub nonce: [u8; 16],
}

impl Signable for QueryRequest {
    const KIND: &'static str = "query-request/v1";
    fn encode_body(&self, w: &mut Writer) {
        w.str(&self.origin);
        self.bank.encode(w);
        crate::commitment::encode_pseudonym(&self.subject, w);
        w.fixed(&self.policy_hash)
            .u32(self.as_of_day)
            .str(&self.purpose);
        match &self.consent_hash {
            None => w.u8(0),
            Some(h) => w.u8(1).fixed(h),
        };
        match &self.region {
            None => w.u8(0),
            Some(r) => w.u8(1).str(r),
        };
        w.fixed(&self.nonce);
    }
}

/// What a `Query` entry carries of the bank's signed request: its nonce and signature (the rest
/// of the statement is the entry's own fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestSignature {
    /// The bank's nonce.
    pub nonce: [u8; 16],
    /// The bank's signature over the [`QueryRequest`].
    pub signature: Signature,
}

impl RequestSignature {
    /// Canonical encoding: nonce, signature.
    pub fn encode(&self, w: &mut Writer) {
        w.fixed(&self.nonce);
        self.signature.encode(w);
    }

    /// Decodes [`RequestSignature::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RequestSignature {
            nonce: r.array("request nonce")?,
            signature: Signature::decode(r, "request signature")?,
        })
    }
}

impl QueryRequest {
    /// A fresh request with a random nonce.
    #[allow(clippy::too_many_arguments)]
    pub fn new<R: rand_core::RngCore + rand_core::CryptoRng>(
        origin: &str,
        bank: &PartyId,
        subject: Pseudonym,
        policy_hash: Hash,
        as_of_day: u32,
        purpose: &str,
        consent_hash: Option<Hash>,
        region: Option<&str>,
        rng: &mut R,
    ) -> Self {
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        QueryRequest {
            origin: origin.to_string(),
            bank: bank.clone(),
            subject,
            policy_hash,
            as_of_day,
            purpose: purpose.to_string(),
            consent_hash,
            region: region.map(str::to_string),
            nonce,
        }
    }

    /// Signs with the bank's key.
    pub fn sign(&self, bank_key: &SigningKey) -> RequestSignature {
        RequestSignature {
            nonce: self.nonce,
            signature: bank_key.sign(self),
        }
    }

    /// Checks `signature` under `bank_key` (a key of role bank).
    pub fn verify(
        &self,
        bank_key: &PublicKey,
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        bank_key.verify(Role::Bank, self, signature)
    }

    /// The statement a `Query` entry of the log named `origin` says its bank signed, with the
    /// signature it carries; `None` for another kind of entry or a query without a request.
    /// Nothing of the statement comes from elsewhere than the entry and the checker's origin.
    pub fn of_entry(origin: &str, entry: &LogEntry) -> Option<(QueryRequest, Signature)> {
        let LogEntry::Query {
            bank,
            subject,
            policy_hash,
            as_of_day,
            purpose,
            consent_hash,
            region,
            request: Some(request),
            ..
        } = entry
        else {
            return None;
        };
        Some((
            QueryRequest {
                origin: origin.to_string(),
                bank: bank.clone(),
                subject: *subject,
                policy_hash: *policy_hash,
                as_of_day: *as_of_day,
                purpose: purpose.clone(),
                consent_hash: *consent_hash,
                region: region.clone(),
                nonce: request.nonce,
            },
            request.signature,
        ))
    }
}

/// Why a logged query's request does not count.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestProblem {
    /// The entry is not a query, or carries no signed request.
    #[error("the query carries no signed request of its bank")]
    Missing,
    /// The log registers no bank key for the querier.
    #[error("the log registers no bank key for {0}")]
    UnknownBank(PartyId),
    /// The signature does not verify over the entry's own fields.
    #[error("the bank's signature does not cover this logged question")]
    BadSignature,
    /// An earlier query of the same bank carries the same nonce.
    #[error("the bank's request was already logged at index {0}")]
    Replayed(u64),
}

/// Checks the signed request of every `Query` in `leaves` (a log named `origin`), in one pass:
/// signed by the first bank key the log registers for its bank (before the query), over the
/// entry's own fields, with a nonce no earlier query of that bank carried. The result per
/// query index, in log order. The audit runs it over the whole log.
pub fn check_logged_requests(
    origin: &str,
    leaves: &[Option<crate::log::entry::LogLeaf>],
) -> Vec<(u64, Result<(), RequestProblem>)> {
    use std::collections::HashMap;
    let mut banks: HashMap<&PartyId, PublicKey> = HashMap::new();
    let mut seen: HashMap<(&PartyId, [u8; 16]), u64> = HashMap::new();
    let mut out = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let Some(leaf) = leaf else { continue };
        match &leaf.entry {
            LogEntry::PartyRegistered { party, key } if key.role() == Role::Bank => {
                banks.entry(party).or_insert(*key);
            }
            LogEntry::Query { bank, request, .. } => {
                let result = match (QueryRequest::of_entry(origin, &leaf.entry), request) {
                    (Some((statement, signature)), Some(r)) => match banks.get(bank) {
                        None => Err(RequestProblem::UnknownBank(bank.clone())),
                        Some(key) if statement.verify(key, &signature).is_err() => {
                            Err(RequestProblem::BadSignature)
                        }
                        Some(_) => match seen.get(&(bank, r.nonce)) {
                            Some(first) => Err(RequestProblem::Replayed(*first)),
                            None => Ok(()),
                        },
                    },
                    _ => Err(RequestProblem::Missing),
                };
                // A nonce is used once the bank's genuine signature carrying it is logged.
                if let (Ok(()), Some(r)) = (&result, request) {
                    seen.insert((bank, r.nonce), i as u64);
                }
                out.push((i as u64, result));
            }
            _ => {}
        }
    }
    out
}

/// Checks the signed request of the `Query` at index `index` of `leaves` (a log named
/// `origin`), as [`check_logged_requests`] does; what the key authority runs before it decides.
pub fn check_logged_request(
    origin: &str,
    leaves: &[Option<crate::log::entry::LogLeaf>],
    index: u64,
) -> Result<(), RequestProblem> {
    let end = usize::try_from(index)
        .ok()
        .and_then(|i| i.checked_add(1))
        .filter(|e| *e <= leaves.len())
        .ok_or(RequestProblem::Missing)?;
    check_logged_requests(origin, &leaves[..end])
        .pop()
        .filter(|(i, _)| *i == index)
        .map_or(Err(RequestProblem::Missing), |(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::{SubjectId, Uscc};
    use crate::log::entry::LogLeaf;
    use crate::pseudonym::PseudonymKey;

    const ORIGIN: &str = "credence.test/query";

    fn bank() -> (PartyId, SigningKey) {
        (
            PartyId::new("bank.icbc").unwrap(),
            SigningKey::generate(Role::Bank, &mut rand::thread_rng()),
        )
    }

    fn subject() -> Pseudonym {
        let key = PseudonymKey::generate(&mut rand::thread_rng());
        key.pseudonym(&SubjectId::Enterprise(
            Uscc::with_check_chars("91350100M0001000").unwrap(),
        ))
    }

    fn query(req: &QueryRequest, sig: Option<RequestSignature>) -> LogLeaf {
        LogLeaf {
            time: 1,
            entry: LogEntry::Query {
                bank: req.bank.clone(),
                subject: req.subject,
                policy_hash: req.policy_hash,
                as_of_day: req.as_of_day,
                purpose: req.purpose.clone(),
                consent_hash: req.consent_hash,
                salt: [7; 16],
                region: req.region.clone(),
                request: sig,
            },
        }
    }

    fn registered(party: &PartyId, key: &SigningKey) -> LogLeaf {
        LogLeaf {
            time: 0,
            entry: LogEntry::PartyRegistered {
                party: party.clone(),
                key: key.public(),
            },
        }
    }

    #[test]
    fn a_logged_request_counts_only_over_its_own_fields_once_under_the_logged_key() {
        let (b, key) = bank();
        let req = QueryRequest::new(
            ORIGIN,
            &b,
            subject(),
            [3; 32],
            20_415,
            "loan 1",
            None,
            None,
            &mut rand::thread_rng(),
        );
        let sig = req.sign(&key);
        let ok = vec![Some(registered(&b, &key)), Some(query(&req, Some(sig)))];
        assert_eq!(check_logged_request(ORIGIN, &ok, 1), Ok(()));
        // Round trip through the leaf codec keeps it valid.
        let back = LogLeaf::from_bytes(&ok[1].as_ref().unwrap().to_bytes()).unwrap();
        assert_eq!(Some(&back), ok[1].as_ref());

        // Another region's log: the origin is the checker's own.
        assert_eq!(
            check_logged_request("credence.test/other", &ok, 1),
            Err(RequestProblem::BadSignature)
        );
        // Any field the service changes breaks it.
        for change in 0..6 {
            let mut r = req.clone();
            match change {
                0 => r.as_of_day += 1,
                1 => r.purpose.push('!'),
                2 => r.policy_hash[0] ^= 1,
                3 => r.subject = subject(),
                4 => r.region = Some("credence.test/partner".into()),
                _ => r.consent_hash = Some([9; 32]),
            }
            let leaves = vec![Some(registered(&b, &key)), Some(query(&r, Some(sig)))];
            assert_eq!(
                check_logged_request(ORIGIN, &leaves, 1),
                Err(RequestProblem::BadSignature),
                "change {change}"
            );
        }
        // No request; a request with no bank registered before it; another key.
        let none = vec![Some(registered(&b, &key)), Some(query(&req, None))];
        assert_eq!(
            check_logged_request(ORIGIN, &none, 1),
            Err(RequestProblem::Missing)
        );
        let unregistered = vec![Some(query(&req, Some(sig))), Some(registered(&b, &key))];
        assert_eq!(
            check_logged_request(ORIGIN, &unregistered, 0),
            Err(RequestProblem::UnknownBank(b.clone()))
        );
        let (_, other) = bank();
        let forged = req.sign(&other);
        let leaves = vec![Some(registered(&b, &key)), Some(query(&req, Some(forged)))];
        assert_eq!(
            check_logged_request(ORIGIN, &leaves, 1),
            Err(RequestProblem::BadSignature)
        );
        // The operator registering the same bank name again with its own key changes nothing:
        // the first registration counts.
        let leaves = vec![
            Some(registered(&b, &key)),
            Some(registered(&b, &other)),
            Some(query(&req, Some(forged))),
        ];
        assert_eq!(
            check_logged_request(ORIGIN, &leaves, 2),
            Err(RequestProblem::BadSignature)
        );
        // The same signed request logged twice: the second is a replay.
        let twice = vec![
            Some(registered(&b, &key)),
            Some(query(&req, Some(sig))),
            Some(query(&req, Some(sig))),
        ];
        assert_eq!(check_logged_request(ORIGIN, &twice, 1), Ok(()));
        assert_eq!(
            check_logged_request(ORIGIN, &twice, 2),
            Err(RequestProblem::Replayed(1))
        );
        assert_eq!(
            check_logged_requests(ORIGIN, &twice),
            vec![(1, Ok(())), (2, Err(RequestProblem::Replayed(1)))]
        );
    }

    /// A bank's request to forward a question to a partner is no request to answer it here: a
    /// service that logs it again as a local question gets a signature that does not verify.
    #[test]
    fn a_request_to_forward_is_no_request_to_answer() {
        let (b, key) = bank();
        let mut req = QueryRequest::new(
            ORIGIN,
            &b,
            subject(),
            [3; 32],
            20_415,
            "bid",
            None,
            Some("credence.test/tianjin"),
            &mut rand::thread_rng(),
        );
        let sig = req.sign(&key);
        let forwarded = query(&req, Some(sig));
        req.region = None;
        let local = query(&req, Some(sig));
        let leaves = vec![Some(registered(&b, &key)), Some(forwarded), Some(local)];
        assert_eq!(
            check_logged_requests(ORIGIN, &leaves),
            vec![(1, Ok(())), (2, Err(RequestProblem::BadSignature))]
        );
    }
}
