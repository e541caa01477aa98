//! A minimal blocking client for the service's signed API: one HTTP/1.1 request per
//! connection, signed as `protocols::request` describes. Used by the CLI roles, the crash test
//! and the load run.

use crate::fhe::SealedRecord;
use crate::protocols::commitment::SignedAttributeCommitment;
use crate::protocols::consent::SignedConsent;
use crate::protocols::identifiers::SubjectId;
use crate::protocols::keys::KeyEvidence;
use crate::protocols::log::checkpoint::{NoteVerifier, SignedCheckpoint};
use crate::protocols::log::entry::{LogLeaf, SealedLeaf};
use crate::protocols::log::hash::Hash;
use crate::protocols::log::proof::{ConsistencyProof, InclusionProof};
use crate::protocols::names::PartyId;
use crate::protocols::package::ProofPackage;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::seal::{SealedOpening, SealingPublicKey};
use crate::protocols::signing::{PublicKey, Role, SigningKey};
use crate::protocols::verdict::{TrustAnchors, VerdictReceipt};

pub use super::http::{
    call, error_message, http, http_within, plain_post, service_origin, HttpResponse,
    CONNECT_TIMEOUT, MAX_RESPONSE, READ_TIMEOUT,
};

/// A log entry as a party reads it: the leaf, or — for an entry that does not concern the
/// reader — its sealed leaf (time, kind and content hash: what the tree hashes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The leaf.
    Leaf(Box<LogLeaf>),
    /// The sealed leaf only.
    Hidden(SealedLeaf),
}

impl Entry {
    /// The RFC 9162 leaf hash.
    pub fn leaf_hash(&self) -> Hash {
        match self {
            Entry::Leaf(l) => l.hash(),
            Entry::Hidden(s) => s.hash(),
        }
    }
    /// The leaf, if shown.
    pub fn into_leaf(self) -> Option<LogLeaf> {
        match self {
            Entry::Leaf(l) => Some(*l),
            Entry::Hidden(_) => None,
        }
    }
}

/// What went wrong talking to the service.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection failed.
    #[error("cannot reach the service: {0}")]
    Io(#[from] std::io::Error),
    /// The service answered with an error status.
    #[error("HTTP {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The service's error message.
        message: String,
    },
    /// The answer could not be understood.
    #[error("unexpected answer: {0}")]
    Answer(String),
}

type Result<T> = std::result::Result<T, ClientError>;

fn answer(what: impl std::fmt::Display) -> ClientError {
    ClientError::Answer(what.to_string())
}

fn hex_field(v: &serde_json::Value, field: &str) -> Result<Vec<u8>> {
    let s = v[field]
        .as_str()
        .ok_or_else(|| answer(format!("`{field}` missing")))?;
    hex::decode(s).map_err(|_| answer(format!("`{field}` is not hex")))
}

fn subject_json(id: &SubjectId) -> serde_json::Value {
    serde_json::json!({ "kind": id.kind().as_str(), "id": id.as_str() })
}

/// A question for a bank route.
#[derive(Clone, Debug)]
pub struct Question<'a> {
    /// The subject asked about.
    pub subject: &'a SubjectId,
    /// The policy name.
    pub policy: &'a str,
    /// The as-of day.
    pub day: u32,
    /// Declared purpose.
    pub purpose: &'a str,
    /// The subject's consent token, where one is needed.
    pub consent: Option<&'a SignedConsent>,
}

/// A verdict as a bank receives it.
#[derive(Debug)]
pub struct Answer {
    /// The receipt (verify it with [`VerdictReceipt::verify`]).
    pub receipt: VerdictReceipt,
    /// The service's JSON answer (outcome, log indices).
    pub json: serde_json::Value,
}

/// A typed client for one party: every call signed with its key, for one service.
pub struct Client {
    addr: String,
    origin: std::sync::OnceLock<String>,
    party: PartyId,
    key: SigningKey,
}

impl Client {
    /// A client at `addr` (`host:port`) acting as `party` with `key`; the service's origin is
    /// read from it on the first call.
    pub fn new(addr: &str, party: PartyId, key: SigningKey) -> Self {
        Client {
            addr: addr.to_string(),
            origin: std::sync::OnceLock::new(),
            party,
            key,
        }
    }

    /// A client for the service whose log origin is `origin` (from pinned anchors).
    pub fn with_origin(addr: &str, origin: &str, party: PartyId, key: SigningKey) -> Self {
        let c = Self::new(addr, party, key);
        let _ = c.origin.set(origin.to_string());
        c
    }

    /// The origin requests are signed for.
    pub fn origin(&self) -> Result<&str> {
        if let Some(o) = self.origin.get() {
            return Ok(o);
        }
        let o = service_origin(&self.addr)?;
        Ok(self.origin.get_or_init(|| o))
    }

    /// The service address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The party this client speaks for.
    pub fn party(&self) -> &PartyId {
        &self.party
    }

    /// Its signing key (holders also sign their submissions with it).
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    fn raw(&self, method: &str, path: &str, body: &[u8]) -> Result<Vec<u8>> {
        let origin = self.origin()?.to_string();
        let (status, out) = call(
            &self.addr,
            &origin,
            method,
            path,
            body,
            &self.key,
            &self.party,
        )?;
        if !(200..300).contains(&status) {
            return Err(ClientError::Status {
                status,
                message: error_message(&out),
            });
        }
        Ok(out)
    }

    fn json(&self, method: &str, path: &str, body: &[u8]) -> Result<serde_json::Value> {
        let out = self.raw(method, path, body)?;
        serde_json::from_slice(&out).map_err(answer)
    }

    /// A signed `POST` of a JSON body to any route; the JSON answer.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value> {
        self.json("POST", path, body.to_string().as_bytes())
    }

    /// A signed `GET` of any route answering JSON.
    pub fn get(&self, path: &str) -> Result<serde_json::Value> {
        self.json("GET", path, b"")
    }

    /// Operator: registers a party. A subject party also names its subject and sealing key.
    pub fn register_party(
        &self,
        party: &PartyId,
        key: &PublicKey,
        subject: Option<(&SubjectId, &SealingPublicKey)>,
    ) -> Result<u64> {
        let mut body = serde_json::json!({
            "party": party.as_str(),
            "role": key.role().as_str(),
            "key": hex::encode(key.to_bytes()),
        });
        if let Some((id, sealing)) = subject {
            body["subject"] = subject_json(id);
            body["sealing_key"] = hex::encode(sealing.to_bytes()).into();
        }
        let v = self.post("/v1/operator/parties", &body)?;
        v["log_index"].as_u64().ok_or_else(|| answer("log_index"))
    }

    /// Operator: registers a holder with its authority's certificate (the root's signature
    /// over `holder-certificate/v1`), as anchors that pin authority roots require.
    pub fn register_holder(
        &self,
        party: &PartyId,
        key: &PublicKey,
        authority: &str,
        certificate: &crate::protocols::signing::Signature,
    ) -> Result<u64> {
        let body = serde_json::json!({
            "party": party.as_str(),
            "role": key.role().as_str(),
            "key": hex::encode(key.to_bytes()),
            "authority": authority,
            "certificate": hex::encode(certificate.0),
        });
        let v = self.post("/v1/operator/parties", &body)?;
        v["log_index"].as_u64().ok_or_else(|| answer("log_index"))
    }

    /// Operator: logs the certificate of a holder registered before the service pinned
    /// authority roots; returns its log index.
    pub fn certify_holder(
        &self,
        party: &PartyId,
        authority: &str,
        certificate: &crate::protocols::signing::Signature,
    ) -> Result<u64> {
        let body = serde_json::json!({
            "party": party.as_str(),
            "authority": authority,
            "certificate": hex::encode(certificate.0),
        });
        let v = self.post("/v1/operator/certificates", &body)?;
        v["log_index"].as_u64().ok_or_else(|| answer("log_index"))
    }

    /// Operator: publishes a policy; returns its hash.
    pub fn publish_policy(&self, text: &str) -> Result<Hash> {
        let v = self.json("POST", "/v1/operator/policies", text.as_bytes())?;
        hex_field(&v, "policy_hash")?
            .try_into()
            .map_err(|_| answer("policy_hash"))
    }

    /// Holder: the pseudonym of a subject, and its sealing key if the subject is registered.
    pub fn pseudonym(&self, id: &SubjectId) -> Result<(Pseudonym, Option<SealingPublicKey>)> {
        let v = self.post("/v1/holder/pseudonym", &subject_json(id))?;
        let p = v["pseudonym"]
            .as_str()
            .and_then(Pseudonym::from_text)
            .ok_or_else(|| answer("pseudonym"))?;
        let k = match v["sealing_key"].as_str() {
            Some(h) => Some(SealingPublicKey::from_bytes(
                crate::protocols::request::parse_hex(h).ok_or_else(|| answer("sealing_key"))?,
            )),
            None => None,
        };
        Ok((p, k))
    }

    /// Holder: uploads a sealed record; returns its log indices.
    pub fn submit_sealed(&self, record: &SealedRecord) -> Result<Vec<u64>> {
        let body = record.to_bytes();
        let v = self.json("POST", "/v1/holder/sealed", &body)?;
        indices(&v["log_indices"])
    }

    /// Holder: uploads a batch of signed commitments with their sealed openings.
    pub fn submit_committed(
        &self,
        items: &[(SignedAttributeCommitment, SealedOpening)],
    ) -> Result<Vec<u64>> {
        let items: Vec<_> = items
            .iter()
            .map(|(c, o)| {
                serde_json::json!({
                    "commitment": hex::encode(c.to_bytes()),
                    "opening": hex::encode(o.to_bytes()),
                })
            })
            .collect();
        let v = self.post(
            "/v1/holder/committed",
            &serde_json::json!({ "items": items }),
        )?;
        indices(&v["log_indices"])
    }

    /// Bank: signs a question for this service (`query-request/v1`) with a fresh nonce, as the
    /// `request` field of a bank route's body; `region`: the partner the service is asked to
    /// forward it to.
    pub fn sign_question(
        &self,
        subject: &Pseudonym,
        policy_hash: &Hash,
        day: u32,
        purpose: &str,
        consent_hash: Option<Hash>,
        region: Option<&str>,
    ) -> Result<serde_json::Value> {
        let request = crate::protocols::query::QueryRequest::new(
            self.origin()?,
            &self.party,
            *subject,
            *policy_hash,
            day,
            purpose,
            consent_hash,
            region,
            &mut rand::rngs::OsRng,
        );
        let signed = request.sign(&self.key);
        Ok(serde_json::json!({
            "nonce": hex::encode(signed.nonce),
            "signature": hex::encode(signed.signature.0),
        }))
    }

    /// Bank: the body of a bank route for `q`, with the bank's signed request: the subject's
    /// pseudonym comes from the consent or from a (logged) lookup, the policy hash from the
    /// service's published list — what the bank's receipt check later compares with the
    /// policy it pinned.
    pub fn signed_question(&self, q: &Question<'_>) -> Result<serde_json::Value> {
        self.signed_question_via(q, None)
    }

    /// Bank: [`Client::signed_question`] for the service to forward to the partner region
    /// `region` (a log origin) when one is given: the region is part of what the bank signs,
    /// and of the body.
    pub fn signed_question_via(
        &self,
        q: &Question<'_>,
        region: Option<&str>,
    ) -> Result<serde_json::Value> {
        let subject = match q.consent {
            Some(c) => c.consent.subject,
            None => self.pseudonym(q.subject)?.0,
        };
        let policy_hash = self
            .policies()?
            .into_iter()
            .find(|(name, ..)| name == q.policy)
            .map(|(_, hash, _)| hash);
        let mut body = serde_json::json!({
            "subject": subject_json(q.subject),
            "policy": q.policy,
            "day": q.day,
            "purpose": q.purpose,
        });
        if let Some(c) = q.consent {
            body["consent"] = hex::encode(c.to_bytes()).into();
        }
        // A policy the service does not publish gets no signature: its answer (404) says so.
        if let Some(policy_hash) = policy_hash {
            body["request"] = self.sign_question(
                &subject,
                &policy_hash,
                q.day,
                q.purpose,
                q.consent.map(|c| c.hash()),
                region,
            )?;
        }
        if let Some(r) = region {
            body["region"] = r.into();
        }
        Ok(body)
    }

    /// Bank: a fresh receipt for a verdict issued to it (when the first one lacked the
    /// witness quorum, or a later checkpoint is wanted).
    pub fn receipt(&self, verdict_hash: &Hash) -> Result<VerdictReceipt> {
        let v = self.get(&format!(
            "/v1/bank/receipt?verdict={}",
            hex::encode(verdict_hash)
        ))?;
        VerdictReceipt::from_bytes(&hex_field(&v, "receipt")?).map_err(answer)
    }

    /// The registrations of `parties` in the log, with inclusion proofs under a cosigned
    /// checkpoint (what a proof package carries so that banks learn holder keys from the log).
    pub fn key_evidence(&self, parties: &[PartyId]) -> Result<(SignedCheckpoint, KeyEvidence)> {
        let list: Vec<&str> = parties.iter().map(|p| p.as_str()).collect();
        let v = self.get(&format!("/v1/audit/keys?parties={}", list.join(",")))?;
        let cp = SignedCheckpoint::parse(
            v["checkpoint"]
                .as_str()
                .ok_or_else(|| answer("checkpoint"))?,
        )
        .map_err(answer)?;
        let keys = KeyEvidence::from_bytes(&hex_field(&v, "evidence")?).map_err(answer)?;
        Ok((cp, keys))
    }

    fn answer_of(v: serde_json::Value) -> Result<Answer> {
        let receipt = VerdictReceipt::from_bytes(&hex_field(&v, "receipt")?).map_err(answer)?;
        Ok(Answer { receipt, json: v })
    }

    /// Bank: asks on the sealed path.
    pub fn query_sealed(&self, q: &Question<'_>) -> Result<Answer> {
        Self::answer_of(self.post("/v1/bank/query", &self.signed_question(q)?)?)
    }

    /// Bank: submits a subject's proof package on the proven path.
    pub fn query_proven(&self, q: &Question<'_>, package: &ProofPackage) -> Result<Answer> {
        let mut body = self.signed_question(q)?;
        body["package"] = hex::encode(package.to_bytes()).into();
        Self::answer_of(self.post("/v1/bank/proof", &body)?)
    }

    /// Subject: its committed records (signed commitment and sealed opening each).
    pub fn subject_records(&self) -> Result<Vec<(SignedAttributeCommitment, SealedOpening)>> {
        let v = self.json("GET", "/v1/subject/records", b"")?;
        let mut out = Vec::new();
        for item in v["committed"]
            .as_array()
            .ok_or_else(|| answer("committed"))?
        {
            let c = SignedAttributeCommitment::from_bytes(&hex_field(item, "commitment")?)
                .map_err(answer)?;
            let o = SealedOpening::from_bytes(&hex_field(item, "opening")?).map_err(answer)?;
            out.push((c, o));
        }
        Ok(out)
    }

    /// Subject: every query and verdict about it.
    pub fn subject_queries(&self) -> Result<serde_json::Value> {
        self.json("GET", "/v1/subject/queries", b"")
    }

    /// The service's trust anchors (compare with what you were given out of band).
    pub fn anchors(&self) -> Result<TrustAnchors> {
        anchors_from_json(&self.anchors_json()?)
    }

    /// The service's trust anchors as it serves them (JSON).
    pub fn anchors_json(&self) -> Result<serde_json::Value> {
        self.json("GET", "/v1/anchors", b"")
    }

    /// Subject: its own pseudonym.
    pub fn subject_pseudonym(&self) -> Result<Pseudonym> {
        let v = self.json("GET", "/v1/subject/records", b"")?;
        v["pseudonym"]
            .as_str()
            .and_then(Pseudonym::from_text)
            .ok_or_else(|| answer("pseudonym"))
    }

    /// Auditor: a signed checkpoint of the current log.
    pub fn checkpoint(&self) -> Result<SignedCheckpoint> {
        let text = self.raw("GET", "/v1/audit/checkpoint", b"")?;
        let text = String::from_utf8(text).map_err(answer)?;
        SignedCheckpoint::parse(&text).map_err(answer)
    }

    /// Log entries `from..to` (at most 1000 per call): in full where the caller may read them
    /// (an auditor: all; others: public entries and those that concern them), else the sealed
    /// leaf.
    pub fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, Entry)>> {
        let v = self.json(
            "GET",
            &format!("/v1/audit/entries?from={from}&to={to}"),
            b"",
        )?;
        let mut out = Vec::new();
        for e in v["entries"].as_array().ok_or_else(|| answer("entries"))? {
            let i = e["index"].as_u64().ok_or_else(|| answer("index"))?;
            let entry = if e["leaf"].is_string() {
                Entry::Leaf(Box::new(
                    LogLeaf::from_bytes(&hex_field(e, "leaf")?).map_err(answer)?,
                ))
            } else {
                Entry::Hidden(
                    SealedLeaf::from_bytes(&hex_field(e, "sealed_leaf")?).map_err(answer)?,
                )
            };
            out.push((i, entry));
        }
        Ok(out)
    }

    /// The entry at `index`, if the caller may read it in full.
    pub fn entry(&self, index: u64) -> Result<Option<LogLeaf>> {
        Ok(self
            .entries(index, index + 1)?
            .pop()
            .and_then(|(_, e)| e.into_leaf()))
    }

    /// Auditor: an inclusion proof of `index` in the tree of `size`.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<InclusionProof> {
        let v = self.json(
            "GET",
            &format!("/v1/audit/proof/inclusion?index={index}&size={size}"),
            b"",
        )?;
        InclusionProof::from_bytes(&hex_field(&v, "proof")?).map_err(answer)
    }

    /// Auditor: a consistency proof between two sizes.
    pub fn consistency(&self, old: u64, new: u64) -> Result<ConsistencyProof> {
        let v = self.json(
            "GET",
            &format!("/v1/audit/proof/consistency?old={old}&new={new}"),
            b"",
        )?;
        ConsistencyProof::from_bytes(&hex_field(&v, "proof")?).map_err(answer)
    }

    /// Auditor: the object the log refers to by hash (`verdict`, `consent`, `submission`).
    pub fn object(&self, kind: &str, hash: &Hash) -> Result<Vec<u8>> {
        let v = self.json(
            "GET",
            &format!("/v1/audit/object?kind={kind}&hash={}", hex::encode(hash)),
            b"",
        )?;
        hex_field(&v, "bytes")
    }

    /// Auditor: every published policy as (name, hash, canonical text).
    pub fn policies(&self) -> Result<Vec<(String, Hash, String)>> {
        let v = self.json("GET", "/v1/audit/policies", b"")?;
        let mut out = Vec::new();
        for p in v["policies"].as_array().ok_or_else(|| answer("policies"))? {
            out.push((
                p["name"]
                    .as_str()
                    .ok_or_else(|| answer("name"))?
                    .to_string(),
                hex_field(p, "hash")?
                    .try_into()
                    .map_err(|_| answer("hash"))?,
                p["text"]
                    .as_str()
                    .ok_or_else(|| answer("text"))?
                    .to_string(),
            ));
        }
        Ok(out)
    }
}

/// Parses the trust anchors JSON that `GET /v1/anchors` serves (and `credence anchors`
/// saves): `{origin, log_key, key_authority_key, witnesses: [verifier keys], witness_quorum}`.
/// The anchors are checked ([`TrustAnchors::check`]); whether they are the right ones is for
/// the party pinning them to compare out of band ([`TrustAnchors::fingerprint`]).
pub fn anchors_from_json(v: &serde_json::Value) -> Result<TrustAnchors> {
    let key = |f: &str, role: Role| -> Result<PublicKey> {
        let b: [u8; 32] = hex_field(v, f)?.try_into().map_err(|_| answer(f))?;
        PublicKey::from_bytes(role, &b).map_err(answer)
    };
    let origin = v["origin"].as_str().ok_or_else(|| answer("origin"))?;
    let log = key("log_key", Role::Log)?;
    let mut witnesses = Vec::new();
    for w in v["witnesses"]
        .as_array()
        .ok_or_else(|| answer("witnesses"))?
    {
        let vkey = w.as_str().ok_or_else(|| answer("witness verifier key"))?;
        let nv = NoteVerifier::from_vkey(vkey).map_err(answer)?;
        if nv.key.role() != Role::Witness {
            return Err(answer("a witness key is not a witness verifier key"));
        }
        witnesses.push(nv);
    }
    let anchors = TrustAnchors {
        log: NoteVerifier::log(origin, log).map_err(answer)?,
        service: log,
        key_authority: key("key_authority_key", Role::KeyAuthority)?,
        witnesses,
        witness_quorum: v["witness_quorum"]
            .as_u64()
            .ok_or_else(|| answer("witness_quorum"))? as usize,
        authorities: match v.get("authorities") {
            None | Some(serde_json::Value::Null) => Default::default(),
            Some(o) => {
                let mut roots = std::collections::BTreeMap::new();
                for (name, k) in o.as_object().ok_or_else(|| answer("authorities"))? {
                    let b: [u8; 32] = k
                        .as_str()
                        .and_then(crate::protocols::request::parse_hex)
                        .ok_or_else(|| answer("authorities: 64 hex digits per root"))?;
                    roots.insert(
                        name.clone(),
                        PublicKey::from_bytes(Role::Authority, &b).map_err(answer)?,
                    );
                }
                roots
            }
        },
    };
    anchors.check().map_err(answer)?;
    Ok(anchors)
}

/// The JSON form of trust anchors ([`anchors_from_json`] reads it back).
pub fn anchors_to_json(a: &TrustAnchors) -> serde_json::Value {
    serde_json::json!({
        "origin": a.log.name,
        "log_key": hex::encode(a.log.key.to_bytes()),
        "key_authority_key": hex::encode(a.key_authority.to_bytes()),
        "witnesses": a.witnesses.iter().map(|w| w.to_vkey()).collect::<Vec<_>>(),
        "witness_quorum": a.witness_quorum,
        "authorities": a.authorities.iter().map(|(n, k)| (n.clone(), serde_json::Value::from(hex::encode(k.to_bytes())))).collect::<serde_json::Map<_, _>>(),
        "fingerprint": hex::encode(a.fingerprint()),
    })
}

fn indices(v: &serde_json::Value) -> Result<Vec<u64>> {
    v.as_array()
        .ok_or_else(|| answer("log_indices"))?
        .iter()
        .map(|i| i.as_u64().ok_or_else(|| answer("log index")))
        .collect()
}
