//! A minimal blocking client for the service's signed API: one HTTP/1.1 request per
//! connection, signed as `protocols::request` describes. Used by the CLI roles, the crash test
//! and the load run.

use crate::fhe::holder::SealedRecord;
use crate::protocols::commitment::SignedAttributeCommitment;
use crate::protocols::consent::{ProofPackage, SignedConsent};
use crate::protocols::identifiers::SubjectId;
use crate::protocols::log::checkpoint::{NoteVerifier, SignedCheckpoint};
use crate::protocols::log::entry::LogLeaf;
use crate::protocols::log::hash::Hash;
use crate::protocols::log::proof::ConsistencyProof;
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::request::RequestStatement;
use crate::protocols::seal::{SealedOpening, SealingPublicKey};
use crate::protocols::signing::{PublicKey, Role, SigningKey};
use crate::protocols::verdict::{TrustAnchors, VerdictReceipt};
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

/// A typed client for one party: every call signed with its key.
pub struct Client {
    addr: String,
    party: PartyId,
    key: SigningKey,
}

impl Client {
    /// A client at `addr` (`host:port`) acting as `party` with `key`.
    pub fn new(addr: &str, party: PartyId, key: SigningKey) -> Self {
        Client {
            addr: addr.to_string(),
            party,
            key,
        }
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
        let (status, out) = call(&self.addr, method, path, body, &self.key, &self.party)?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<serde_json::Value>(&out)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&out).into_owned());
            return Err(ClientError::Status { status, message });
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
        let body = crate::service::encode_sealed_upload(record);
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

    fn question_json(q: &Question<'_>) -> serde_json::Value {
        let mut body = serde_json::json!({
            "subject": subject_json(q.subject),
            "policy": q.policy,
            "day": q.day,
            "purpose": q.purpose,
        });
        if let Some(c) = q.consent {
            body["consent"] = hex::encode(c.to_bytes()).into();
        }
        body
    }

    fn answer_of(v: serde_json::Value) -> Result<Answer> {
        let receipt = VerdictReceipt::from_bytes(&hex_field(&v, "receipt")?).map_err(answer)?;
        Ok(Answer { receipt, json: v })
    }

    /// Bank: asks on the sealed path.
    pub fn query_sealed(&self, q: &Question<'_>) -> Result<Answer> {
        Self::answer_of(self.post("/v1/bank/query", &Self::question_json(q))?)
    }

    /// Bank: submits a subject's proof package on the proven path.
    pub fn query_proven(&self, q: &Question<'_>, package: &ProofPackage) -> Result<Answer> {
        let mut body = Self::question_json(q);
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

    /// Auditor: log entries `from..to` (at most 1000 per call).
    pub fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, LogLeaf)>> {
        let v = self.json(
            "GET",
            &format!("/v1/audit/entries?from={from}&to={to}"),
            b"",
        )?;
        let mut out = Vec::new();
        for e in v["entries"].as_array().ok_or_else(|| answer("entries"))? {
            let i = e["index"].as_u64().ok_or_else(|| answer("index"))?;
            out.push((
                i,
                LogLeaf::from_bytes(&hex_field(e, "leaf")?).map_err(answer)?,
            ));
        }
        Ok(out)
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

/// Parses the trust anchors JSON that `GET /v1/anchors` serves (and `credence anchors` saves).
pub fn anchors_from_json(v: &serde_json::Value) -> Result<TrustAnchors> {
    let key = |f: &str, role: Role| -> Result<PublicKey> {
        let b: [u8; 32] = hex_field(v, f)?.try_into().map_err(|_| answer(f))?;
        PublicKey::from_bytes(role, &b).map_err(answer)
    };
    let origin = v["origin"].as_str().ok_or_else(|| answer("origin"))?;
    let log = key("log_key", Role::Log)?;
    let mut holders = Vec::new();
    for h in v["holders"].as_array().ok_or_else(|| answer("holders"))? {
        let party = h["party"]
            .as_str()
            .and_then(|p| PartyId::new(p).ok())
            .ok_or_else(|| answer("holder party"))?;
        let b: [u8; 32] = hex_field(h, "key")?
            .try_into()
            .map_err(|_| answer("holder key"))?;
        holders.push((
            party,
            PublicKey::from_bytes(Role::Holder, &b).map_err(answer)?,
        ));
    }
    Ok(TrustAnchors {
        log: NoteVerifier::log(origin, log).map_err(answer)?,
        service: log,
        key_authority: key("key_authority_key", Role::KeyAuthority)?,
        holders,
        witnesses: vec![],
        witness_quorum: 0,
    })
}

fn indices(v: &serde_json::Value) -> Result<Vec<u64>> {
    v.as_array()
        .ok_or_else(|| answer("log_indices"))?
        .iter()
        .map(|i| i.as_u64().ok_or_else(|| answer("log index")))
        .collect()
}
