//! Bit-exact evaluation: the same inputs give the same output bytes in every process, on every
//! thread count, so the key authority and auditors can compare a logged output with their own
//! replay instead of trusting it.
//!
//! Two things make TFHE evaluation differ between processes, and both are fixed here:
//!
//! - **FFT plans.** tfhe picks the FFT algorithm of each polynomial size by timing the
//!   candidates at first use (`Method::Measure`), so two processes may round the low bits of a
//!   bootstrap differently. [`pin_fft_plans`] installs one fixed plan (radix-4 DIF on a base of
//!   `min(n, 2^10)` points, the largest base `tfhe-fft` allows) for every polynomial size from
//!   2^6 to 2^14 before any key is generated, loaded or decompressed. (tfhe's
//!   `experimental-force_fft_algo_dif4` feature is not used: it passes the whole Fourier size
//!   as the base, which panics above 2^10.) Credence's parameters use N = 2048 (Fourier size
//!   1024) for computation, for the decompression's blind rotation and for the casting
//!   key-switch's bootstrap, so that one is a plain radix-4 transform.
//! - **Thread-count dependent algorithms.** Some integer operations (carry propagation in
//!   additions and subtractions) choose their algorithm from `rayon::current_num_threads()`.
//!   The engine uses none of them: lookups and bivariate lookups on blocks (the optimised
//!   lowering), `min` against a scalar (the ingest clamp: comparisons and one bivariate lookup
//!   per block), expansion, compression and decompression.
//!
//! [`SelfTest`] proves it at start-up: the key generator stores one compressed ciphertext and
//! the digest of a fixed computation on it (decompress, clamp, compress: the operations an
//! upload and an evaluation go through); the service and the key authority recompute it on
//! their own pools and refuse to start on a mismatch. What this still assumes (same CPU
//! architecture family, same tfhe version) is in `SECURITY.md`.

use crate::protocols::log::hash::Hash;
use std::sync::Once;
use tfhe::core_crypto::fft_impl::fft64::math::fft::{setup_custom_fft_plan, FftAlgo, Method, Plan};
use tfhe::prelude::*;
use tfhe::safe_serialization::{safe_deserialize, safe_serialize};
use tfhe::{ClientKey, CompressedCiphertextList, CompressedCiphertextListBuilder, FheUint16};

/// The tfhe version this build evaluates with (recorded in the log with the parameters).
pub const TFHE_VERSION: &str = "1.8.2";
/// The FFT plan every polynomial size uses.
pub const FFT_PLAN: &str = "radix-4 DIF, base min(n, 1024)";

const SELFTEST_LIMIT: u64 = 1 << 20;
const SELFTEST_VALUE: u16 = 40_961;
const SELFTEST_CLAMP: u16 = 1_234;

static PINNED: Once = Once::new();

/// Installs the fixed FFT plans (once per process; later calls do nothing). Call before any
/// key is generated, loaded or decompressed: a key converted to the Fourier domain under one
/// plan is wrong under another.
pub fn pin_fft_plans() {
    PINNED.call_once(|| {
        for log_n in 6..=14u32 {
            let fourier = (1usize << log_n) / 2;
            let base_n = fourier.min(1 << 10);
            setup_custom_fft_plan(Plan::new(
                fourier,
                Method::UserProvided {
                    base_algo: FftAlgo::Dif4,
                    base_n,
                },
            ));
        }
    });
}

/// A fixed ciphertext and the digest of the fixed computation on it, made with the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfTest {
    /// A safe-serialized `CompressedCiphertextList` holding one `FheUint16`.
    pub list: Vec<u8>,
    /// SHA3-256 of the computation's output bytes.
    pub digest: Hash,
}

impl SelfTest {
    /// Makes the self-test with freshly generated keys (the server key is installed on the
    /// calling thread for the duration).
    pub fn make(client_key: &ClientKey, server_key: &tfhe::ServerKey) -> Result<Self, String> {
        pin_fft_plans();
        let v = FheUint16::encrypt(SELFTEST_VALUE, client_key);
        let mut builder = CompressedCiphertextListBuilder::new();
        builder.push(v);
        let compressed = {
            tfhe::set_server_key(server_key.clone());
            let c = builder.build().map_err(|e| e.to_string());
            tfhe::unset_server_key();
            c?
        };
        let mut list = Vec::new();
        safe_serialize(&compressed, &mut list, SELFTEST_LIMIT).map_err(|e| e.to_string())?;
        tfhe::set_server_key(server_key.clone());
        let digest = Self::compute(&list);
        tfhe::unset_server_key();
        Ok(SelfTest {
            list,
            digest: digest?,
        })
    }

    /// Runs the computation (on a thread where the server key is installed) and returns the
    /// digest of its output.
    pub fn compute(list: &[u8]) -> Result<Hash, String> {
        let list: CompressedCiphertextList =
            safe_deserialize(list, SELFTEST_LIMIT).map_err(|e| format!("self-test list: {e}"))?;
        let v: FheUint16 = list
            .get(0)
            .map_err(|e| e.to_string())?
            .ok_or("self-test list is empty")?;
        let clamped = v.min(SELFTEST_CLAMP);
        let mut builder = CompressedCiphertextListBuilder::new();
        builder.push(clamped);
        let out = builder.build().map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        safe_serialize(&out, &mut bytes, SELFTEST_LIMIT).map_err(|e| e.to_string())?;
        Ok(
            sha3::Digest::finalize(<sha3::Sha3_256 as sha3::Digest>::new_with_prefix(&bytes))
                .into(),
        )
    }

    /// Checks that `got` (from [`SelfTest::compute`]) is the stored digest.
    pub fn check(&self, got: &Hash) -> Result<(), String> {
        if bool::from(subtle::ConstantTimeEq::ct_eq(&got[..], &self.digest[..])) {
            Ok(())
        } else {
            Err(format!(
                "FHE replay self-test failed: this build evaluates the stored test ciphertext to \
                 digest {} where the key generator got {} (another tfhe version, CPU family or \
                 FFT plan); outputs would not be reproducible, so nothing is started",
                hex::encode(got),
                hex::encode(self.digest)
            ))
        }
    }

    /// The clamped value the self-test computes (what a decryption of its output gives).
    pub fn expected_value() -> u16 {
        SELFTEST_VALUE.min(SELFTEST_CLAMP)
    }

    /// The self-test's input value (for tests with the client key).
    pub fn input_value() -> u16 {
        SELFTEST_VALUE
    }
}
