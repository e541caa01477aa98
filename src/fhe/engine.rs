//! The compute engine: ingests holders' proven lists (verify, expand, compress) and evaluates
//! policies on stored ciphertexts. It holds the server key only.
//!
//! All FHE work runs on the engine's own rayon pool, each worker started with the server key
//! installed (`tfhe::set_server_key` is per thread); callers on async runtimes hand work to it
//! and never run FHE on their own threads.

use super::determinism::SelfTest;
use super::keys::PublicMaterial;
use super::{SealedRecord, MAX_LIST_BYTES};
use crate::circuits::catalog::Catalog;
use crate::circuits::fhe::exec::{blocks_read, evaluate_plan_on_blocks, LookupKey};
use crate::circuits::fhe::plan::{Plan, PlanCost};
use crate::circuits::fhe::{evaluate_naive, EncryptedInputs, FheOutcome};
use crate::circuits::policy::Policy;
use crate::protocols::log::hash::Hash;
use crate::protocols::names::AttributeId;
use crate::protocols::sealed::SealedSubmission;
use crate::protocols::signing::PublicKey;
use rayon::prelude::*;
use sha3::{Digest, Sha3_256};
use std::collections::BTreeMap;
use tfhe::integer::ciphertext::IntegerCiphertext;
use tfhe::integer::ciphertext::IntegerProvenCompactCiphertextListConformanceParams;
use tfhe::integer::RadixCiphertext;
use tfhe::prelude::*;
use tfhe::safe_serialization::{safe_deserialize, safe_deserialize_conformant, safe_serialize};
use tfhe::shortint::parameters::PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128;
use tfhe::{
    CompressedCiphertextList, CompressedCiphertextListBuilder, FheUint16, FheUint2, FheUint2Id,
    FheUint8, ProvenCompactCiphertextList, ReRandomizationMetadata, Tag,
};

/// Largest stored (compressed) record read back.
pub const MAX_STORED_BYTES: u64 = 1 << 20;
/// Largest output ciphertext (four uncompressed blocks are ≈ 66 KB).
pub const MAX_OUTPUT_BYTES: u64 = 1 << 20;
/// 2-bit blocks per stored value (`FheUint16`).
pub const BLOCKS_PER_VALUE: usize = 8;

/// A stored submission: every value of one holder record compressed together, one list item per
/// 2-bit block, so that an evaluation decompresses only the blocks its plan reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// The attributes, in list order.
    pub attributes: Vec<AttributeId>,
    /// A safe-serialized `CompressedCiphertextList` of `8 × attributes.len()` `FheUint2` blocks.
    pub bytes: Vec<u8>,
}

/// A verified, expanded and compressed submission.
#[derive(Clone, Debug)]
pub struct Ingested {
    /// The holder's submission.
    pub record: SealedRecord,
    /// What is stored.
    pub stored: StoredRecord,
}

/// Why a submission was refused. Nothing is stored on any of these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The holder's signature does not verify.
    #[error("the holder signature on the submission does not verify")]
    BadSignature,
    /// An attribute is unknown or not the holder's.
    #[error("{0}")]
    Catalog(String),
    /// The list is not the one the submission signs.
    #[error("the list's SHA3-256 differs from the signed list hash")]
    ListHashMismatch,
    /// Larger than [`MAX_LIST_BYTES`].
    #[error("the list is {0} bytes; the limit is {MAX_LIST_BYTES}")]
    TooLarge(usize),
    /// Not a well-formed list for these parameters.
    #[error("the list is not a conformant proven compact ciphertext list: {0}")]
    NonConformant(String),
    /// The proof of plaintext knowledge does not verify for this submission's metadata.
    #[error("the proof of plaintext knowledge does not verify (wrong holder, subject, submission or attributes, or a forged list): {0}")]
    ProofInvalid(String),
    /// The list does not hold one 16-bit value per attribute.
    #[error("the list must hold exactly one 16-bit value per attribute: {0}")]
    Shape(String),
    /// Internal failure (compression).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why an evaluation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A stored ciphertext does not decode.
    #[error("stored ciphertext for `{0}` is unreadable")]
    Stored(String),
    /// The policy cannot be compiled.
    #[error("{0}")]
    Plan(String),
}

/// A decompressed input block: `((input, digit), block)`.
type FetchedBlock = ((u16, u8), tfhe::shortint::Ciphertext);

/// A policy evaluated on ciphertexts.
pub struct Evaluation {
    /// The plan it ran.
    pub plan: Plan,
    /// The policy attributes the inputs carried (the verdict's coverage).
    pub coverage: Vec<AttributeId>,
    /// The output ciphertext (safe-serialized `FheUint8`).
    pub output: Vec<u8>,
    /// SHA3-256 of `output`.
    pub output_hash: Hash,
    /// SHA3-256 of each stored record given, in order.
    pub input_hashes: Vec<Hash>,
}

/// The compute engine.
pub struct Engine {
    pool: rayon::ThreadPool,
    queued: std::sync::atomic::AtomicU64,
    running: std::sync::atomic::AtomicU64,
    lookup: LookupKey,
    public: PublicMaterial,
    list_params: IntegerProvenCompactCiphertextListConformanceParams,
    blocks: std::sync::Mutex<BlockCache>,
}

use super::block_cache::BlockCache;
pub use super::block_cache::{BlockCacheStats, DEFAULT_BLOCK_CACHE_BYTES};

/// SHA3-256.
pub fn sha3(bytes: &[u8]) -> Hash {
    Sha3_256::digest(bytes).into()
}

impl Engine {
    /// An engine on `threads` workers (0: one per core), each with the server key installed.
    ///
    /// It runs the replay self-test ([`crate::fhe::determinism`]) on its pool first and
    /// refuses to exist if this build does not reproduce the key generator's digest.
    pub fn new(public: PublicMaterial, threads: usize) -> Result<Self, String> {
        crate::fhe::determinism::pin_fft_plans();
        let lookup = LookupKey::new(&public.server_key).map_err(|e| e.to_string())?;
        let sk = public.server_key.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("credence-fhe-{i}"))
            .start_handler(move |_| tfhe::set_server_key(sk.clone()))
            .build()
            .map_err(|e| e.to_string())?;
        let list_params =
            IntegerProvenCompactCiphertextListConformanceParams::from_crs_and_parameters(
                PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
                &public.crs,
            );
        let got = pool.install(|| SelfTest::compute(&public.selftest.list))?;
        public.selftest.check(&got)?;
        Ok(Engine {
            pool,
            queued: Default::default(),
            running: Default::default(),
            lookup,
            public,
            list_params,
            blocks: Default::default(),
        })
    }

    fn block_cache(&self) -> std::sync::MutexGuard<'_, BlockCache> {
        self.blocks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the memory budget of the decompressed-block cache (0, a new engine's: off; 0 also
    /// empties it).
    pub fn set_block_cache(&self, bytes: usize) {
        self.block_cache().set_budget(bytes);
    }

    /// The decompressed-block cache's budget, contents and hit counts.
    pub fn block_cache_stats(&self) -> BlockCacheStats {
        self.block_cache().stats()
    }

    /// The public key material.
    pub fn public(&self) -> &PublicMaterial {
        &self.public
    }

    /// Runs `f` on the engine's pool (the server key is installed there), counted as queued
    /// until a worker takes it and running until it returns.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        use std::sync::atomic::Ordering;
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.pool.install(|| {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.running.fetch_add(1, Ordering::Relaxed);
            let _done = Done(&self.running);
            f()
        })
    }

    /// Whether the engine can evaluate: its key material is loaded (at construction) and its
    /// pool has workers.
    pub fn ready(&self) -> bool {
        self.pool.current_num_threads() > 0
    }

    /// Jobs waiting for a worker of the engine's pool, and jobs running on it.
    pub fn load(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (
            self.queued.load(Ordering::Relaxed),
            self.running.load(Ordering::Relaxed),
        )
    }

    /// Checks and stores-ready a holder's sealed record: signature (first: cheapest), catalogue
    /// ownership, list hash, size, conformance, proof of plaintext knowledge against the
    /// submission's metadata; then expands and compresses every value.
    pub fn ingest(
        &self,
        record: &SealedRecord,
        holder_key: &PublicKey,
        catalog: &Catalog,
    ) -> Result<Ingested, IngestError> {
        self.ingest_with(record, holder_key, catalog, true)
    }

    /// [`Engine::ingest`] without filling the block cache: for a verification made while
    /// deciding (so that answering never adds blocks, whatever the cache holds).
    pub fn ingest_cold(
        &self,
        record: &SealedRecord,
        holder_key: &PublicKey,
        catalog: &Catalog,
    ) -> Result<Ingested, IngestError> {
        self.ingest_with(record, holder_key, catalog, false)
    }

    fn ingest_with(
        &self,
        record: &SealedRecord,
        holder_key: &PublicKey,
        catalog: &Catalog,
        warm: bool,
    ) -> Result<Ingested, IngestError> {
        let s = &record.submission.submission;
        record
            .submission
            .verify(holder_key)
            .map_err(|_| IngestError::BadSignature)?;
        for a in &s.attributes {
            let attr = catalog
                .get(a.as_str())
                .map_err(|e| IngestError::Catalog(e.to_string()))?;
            if !attr.owned_by(s.holder.as_str()) {
                return Err(IngestError::Catalog(format!(
                    "attribute `{a}` is not held by `{}`",
                    s.holder
                )));
            }
        }
        if record.list.len() as u64 > MAX_LIST_BYTES {
            return Err(IngestError::TooLarge(record.list.len()));
        }
        if SealedSubmission::hash_list(&record.list) != s.list_hash {
            return Err(IngestError::ListHashMismatch);
        }
        let maxima: Vec<u64> = s
            .attributes
            .iter()
            .map(|a| catalog.get(a.as_str()).map(|e| e.max).unwrap_or(u64::MAX))
            .collect();
        let stored = self.install(|| self.expand_and_compress(record, &maxima, warm))?;
        Ok(Ingested {
            record: record.clone(),
            stored,
        })
    }

    /// Verifies the proof of plaintext knowledge, expands, **clamps** every value to its
    /// catalogue maximum (`min(v, max)`, homomorphically, once per upload) and compresses.
    ///
    /// The proof bounds only each 2-bit block, so a holder could encrypt any 16-bit value;
    /// every plan is compiled for values inside their catalogue range. Clamping at ingest means
    /// an out-of-range value acts exactly as the holder's own in-range extreme would, and can
    /// never reach a lookup outside its table (where it could change the effect of *other*
    /// holders' attributes). Attributes whose range is the full 16 bits need no clamp.
    fn expand_and_compress(
        &self,
        record: &SealedRecord,
        maxima: &[u64],
        warm: bool,
    ) -> Result<StoredRecord, IngestError> {
        let s = &record.submission.submission;
        let list: ProvenCompactCiphertextList =
            safe_deserialize_conformant(record.list.as_slice(), MAX_LIST_BYTES, &self.list_params)
                .map_err(IngestError::NonConformant)?;
        if list.len() != s.attributes.len() {
            return Err(IngestError::Shape(format!(
                "{} values for {} attributes",
                list.len(),
                s.attributes.len()
            )));
        }
        let expander = list
            .verify_and_expand(
                &self.public.crs,
                &self.public.public_key,
                &s.proof_metadata(),
            )
            .map_err(|e| IngestError::ProofInvalid(e.to_string()))?;
        let mut builder = CompressedCiphertextListBuilder::new();
        for i in 0..s.attributes.len() {
            let v: FheUint16 = expander
                .get(i)
                .map_err(|e| IngestError::Shape(e.to_string()))?
                .ok_or_else(|| IngestError::Shape(format!("value {i} missing")))?;
            let v = match maxima.get(i) {
                Some(&max) if max < u64::from(u16::MAX) => v.min(max as u16),
                _ => v,
            };
            let (radix, ..) = v.into_raw_parts();
            for block in radix.blocks() {
                builder.push(FheUint2::from_raw_parts(
                    RadixCiphertext::from(vec![block.clone()]),
                    FheUint2Id,
                    Tag::default(),
                    ReRandomizationMetadata::default(),
                ));
            }
        }
        let compressed = builder
            .build()
            .map_err(|e| IngestError::Internal(e.to_string()))?;
        let mut bytes = Vec::new();
        safe_serialize(&compressed, &mut bytes, MAX_STORED_BYTES)
            .map_err(|e| IngestError::Internal(e.to_string()))?;
        if warm {
            self.warm(&compressed, &bytes, maxima);
        }
        Ok(StoredRecord {
            attributes: s.attributes.clone(),
            bytes,
        })
    }

    /// Decompresses into the block cache every block a plan may read of a record just
    /// ingested (the digits its catalogue maximum allows), where the cache is on. On the
    /// engine's pool (called from it).
    fn warm(&self, compressed: &CompressedCiphertextList, bytes: &[u8], maxima: &[u64]) {
        if self.block_cache().budget == 0 {
            return;
        }
        let hash = sha3(bytes);
        let positions: Vec<usize> = maxima
            .iter()
            .enumerate()
            .flat_map(|(i, max)| {
                let digits = (64 - max.leading_zeros()).div_ceil(2) as usize;
                (0..digits.min(BLOCKS_PER_VALUE)).map(move |d| i * BLOCKS_PER_VALUE + d)
            })
            .collect();
        let blocks: Vec<(usize, tfhe::shortint::Ciphertext)> = positions
            .par_iter()
            .filter_map(|&k| {
                let v: FheUint2 = compressed.get(k).ok()??;
                let (radix, ..) = v.into_raw_parts();
                Some((k, radix.blocks().first()?.clone()))
            })
            .collect();
        let mut c = self.block_cache();
        for (k, b) in blocks {
            c.put((hash, k), b);
        }
    }

    /// Where each attribute lives: `(record, position)`. Records are given in log order
    /// (oldest first) and an attribute in several records is read from the **latest** one: the
    /// rule "latest record per (subject, attribute)" (`protocols/log.md`), so a holder's later
    /// record of another attribute never hides an earlier listing.
    fn locate(
        records: &[StoredRecord],
        wanted: impl Fn(&AttributeId) -> bool,
    ) -> Result<BTreeMap<AttributeId, (usize, usize)>, EvalError> {
        let mut at = BTreeMap::new();
        for (r, rec) in records.iter().enumerate() {
            for (i, a) in rec.attributes.iter().enumerate() {
                if wanted(a) {
                    at.insert(a.clone(), (r, i));
                }
            }
        }
        Ok(at)
    }

    /// The attributes of `policy` that the records carry (sorted): the verdict's coverage.
    pub fn coverage(policy: &Policy, records: &[StoredRecord]) -> Vec<AttributeId> {
        let mut c: Vec<AttributeId> = records
            .iter()
            .flat_map(|r| r.attributes.iter())
            .filter(|a| policy.reads.iter().any(|r| &r.0 == *a))
            .cloned()
            .collect();
        c.sort();
        c.dedup();
        c
    }

    fn parse(records: &[StoredRecord]) -> Result<Vec<CompressedCiphertextList>, EvalError> {
        records
            .iter()
            .map(|r| {
                safe_deserialize(r.bytes.as_slice(), MAX_STORED_BYTES).map_err(|_| {
                    EvalError::Stored(
                        r.attributes
                            .first()
                            .map(|a| a.to_string())
                            .unwrap_or_default(),
                    )
                })
            })
            .collect()
    }

    fn block(
        lists: &[CompressedCiphertextList],
        at: (usize, usize),
        digit: usize,
        attribute: &AttributeId,
    ) -> Result<tfhe::shortint::Ciphertext, EvalError> {
        let bad = || EvalError::Stored(attribute.to_string());
        let v: FheUint2 = lists[at.0]
            .get(at.1 * BLOCKS_PER_VALUE + digit)
            .map_err(|_| bad())?
            .ok_or_else(bad)?;
        let (radix, ..) = v.into_raw_parts();
        radix.blocks().first().cloned().ok_or_else(bad)
    }

    /// Decompresses every value of the records, whole (the naive lowering needs whole values).
    pub fn decompress(&self, records: &[StoredRecord]) -> Result<EncryptedInputs, EvalError> {
        let at = Self::locate(records, |_| true)?;
        let lists = Self::parse(records)?;
        self.install(|| {
            let values: Vec<Result<(AttributeId, FheUint16), EvalError>> = at
                .par_iter()
                .map(|(a, pos)| {
                    let blocks = (0..BLOCKS_PER_VALUE)
                        .map(|d| Self::block(&lists, *pos, d, a))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((
                        a.clone(),
                        FheUint16::from_raw_parts(
                            RadixCiphertext::from(blocks),
                            tfhe::FheUint16Id,
                            Tag::default(),
                            ReRandomizationMetadata::default(),
                        ),
                    ))
                })
                .collect();
            let mut out = EncryptedInputs::new();
            for v in values {
                let (a, v) = v?;
                out.insert(a.as_str(), v);
            }
            Ok(out)
        })
    }

    /// Evaluates `policy` for `day` on stored records with the optimised lowering: compile
    /// (specialised to the day and to which attributes are present), decompress only the blocks
    /// the plan reads, run.
    pub fn evaluate(
        &self,
        policy: &Policy,
        day: u32,
        records: &[StoredRecord],
    ) -> Result<Evaluation, EvalError> {
        let (plan, at) = Self::plan_located(policy, day, records)?;
        let lists = Self::parse(records)?;
        let needed = blocks_read(&plan);
        let record_hashes: Vec<Hash> = records.iter().map(|r| sha3(&r.bytes)).collect();
        let key = |input: u16, digit: u8| -> (Hash, usize) {
            let (r, i) = at[&plan.inputs[usize::from(input)].attribute];
            (record_hashes[r], i * BLOCKS_PER_VALUE + usize::from(digit))
        };
        // Blocks decompressed when their record was ingested are taken from the cache.
        let cached: Vec<Option<tfhe::shortint::Ciphertext>> = {
            let mut c = self.block_cache();
            let got: Vec<_> = needed
                .iter()
                .map(|&(input, digit)| {
                    if c.budget == 0 {
                        None
                    } else {
                        c.get(&key(input, digit))
                    }
                })
                .collect();
            let hits = got.iter().filter(|b| b.is_some()).count() as u64;
            c.hits += hits;
            c.misses += needed.len() as u64 - hits;
            got
        };
        let output = self.install(|| {
            let fetched: Vec<Result<FetchedBlock, EvalError>> = needed
                .par_iter()
                .zip(cached)
                .map(|(&(input, digit), hit)| {
                    if let Some(b) = hit {
                        return Ok(((input, digit), b));
                    }
                    let a = &plan.inputs[usize::from(input)].attribute;
                    let pos = at[a];
                    let b = Self::block(&lists, pos, usize::from(digit), a)?;
                    Ok(((input, digit), b))
                })
                .collect();
            let mut blocks: Vec<Vec<Option<tfhe::shortint::Ciphertext>>> = plan
                .inputs
                .iter()
                .map(|i| vec![None; usize::from(i.digits)])
                .collect();
            for f in fetched {
                let ((input, digit), b) = f?;
                blocks[usize::from(input)][usize::from(digit)] = Some(b);
            }
            evaluate_plan_on_blocks(&plan, &blocks, &self.lookup)
                .map_err(|e| EvalError::Plan(e.to_string()))
        })?;
        let mut bytes = Vec::new();
        safe_serialize(&output.value, &mut bytes, MAX_OUTPUT_BYTES)
            .map_err(|e| EvalError::Plan(e.to_string()))?;
        Ok(Evaluation {
            coverage: Self::coverage(policy, records),
            output_hash: sha3(&bytes),
            input_hashes: record_hashes,
            plan,
            output: bytes,
        })
    }

    /// The plan [`Engine::evaluate`] runs for `policy` on `day` over `records` (compiled for the
    /// attributes they carry), without running it.
    pub fn plan_for(
        policy: &Policy,
        day: u32,
        records: &[StoredRecord],
    ) -> Result<Plan, EvalError> {
        Self::plan_located(policy, day, records).map(|(p, _)| p)
    }

    #[allow(clippy::type_complexity)]
    fn plan_located(
        policy: &Policy,
        day: u32,
        records: &[StoredRecord],
    ) -> Result<(Plan, BTreeMap<AttributeId, (usize, usize)>), EvalError> {
        let at = Self::locate(records, |a| policy.reads.iter().any(|r| &r.0 == a))?;
        let present: Vec<&str> = at.keys().map(|a| a.as_str()).collect();
        let plan =
            Plan::compile(policy, day, &present).map_err(|e| EvalError::Plan(e.to_string()))?;
        Ok((plan, at))
    }

    /// The naive lowering on already decompressed inputs (benchmarks and cross-checks).
    pub fn evaluate_naive(
        &self,
        policy: &Policy,
        day: u32,
        inputs: &EncryptedInputs,
    ) -> Result<FheOutcome, EvalError> {
        self.install(|| evaluate_naive(policy, inputs, day))
            .map_err(|e| EvalError::Plan(e.to_string()))
    }

    /// Cost of the optimised plan for `policy` on `day` with every read attribute present.
    pub fn plan_cost(policy: &Policy, day: u32) -> Result<PlanCost, String> {
        let all: Vec<&str> = policy.reads.iter().map(|r| r.0.as_str()).collect();
        Plan::compile(policy, day, &all)
            .map(|p| p.cost())
            .map_err(|e| e.to_string())
    }
}

/// Reads an output ciphertext: size-limited, conformance-checked as an `FheUint8` for the
/// engine's parameters. A raw attribute ciphertext (an `FheUint16`) or anything else fails.
pub fn read_output(bytes: &[u8], public: &PublicMaterial) -> Result<FheUint8, String> {
    let params = tfhe::FheUint8ConformanceParams::from(&public.server_key);
    safe_deserialize_conformant(bytes, MAX_OUTPUT_BYTES, &params)
}

/// Decrements the running count when a pool job ends (also when it panics).
struct Done<'a>(&'a std::sync::atomic::AtomicU64);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}
