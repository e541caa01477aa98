//! TFHE key material: generation (with a progress display), the file layout, loading.
//!
//! Two stores, never mixed:
//!
//! - the **public store** (`<dir>/public/`): the compressed server key, the compact public key
//!   holders encrypt with, and the CRS of the proofs of plaintext knowledge. The service, its
//!   compute engine and holders read it.
//! - the **key authority store** (`<dir>/authority/`): the client (secret) key, written with
//!   owner-only permissions, read only by [`crate::key_authority`].

use super::determinism::{pin_fft_plans, SelfTest};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tfhe::safe_serialization::{safe_deserialize, safe_serialize};
use tfhe::shortint::parameters::{
    COMP_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_KEYSWITCH_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
};
use tfhe::zk::CompactPkeCrs;
use tfhe::{ClientKey, CompactPublicKey, CompressedServerKey, Config, ConfigBuilder, ServerKey};

/// Most bits one proven list may carry: 16 attributes of 16 bits.
pub const CRS_MAX_BITS: usize = 16 * 16;
/// The tfhe version and parameter set every key and ciphertext of this build belongs to.
pub const PARAMETERS: &str = "tfhe 1.8 PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 + COMP_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128";
/// Most attributes one sealed submission may carry (one list, one proof).
pub const MAX_LIST_ATTRIBUTES: usize = CRS_MAX_BITS / 16;

const KEY_FILE_LIMIT: u64 = 1 << 31;

/// The tfhe configuration of every Credence key: `PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128`
/// for computation (2-bit blocks, the parameters the optimised lowering is built for), dedicated
/// compact-public-key parameters with a casting key (holders' proven lists), and compression
/// (stored ciphertexts).
pub fn config() -> Config {
    ConfigBuilder::with_custom_parameters(PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128)
        .use_dedicated_compact_public_key_parameters((
            PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
            PARAM_KEYSWITCH_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
        ))
        .enable_compression(COMP_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128)
        .build()
}

/// What everybody but the key authority holds.
#[derive(Clone)]
pub struct PublicMaterial {
    /// The server key (evaluation, expansion, compression).
    pub server_key: ServerKey,
    /// The compressed server key as stored (what is shipped to compute nodes).
    pub compressed_server_key: CompressedServerKey,
    /// Holders encrypt with it.
    pub public_key: CompactPublicKey,
    /// Parameters of the proofs of plaintext knowledge.
    pub crs: CompactPkeCrs,
    /// The replay self-test made with these keys (checked by every engine at start-up).
    pub selftest: SelfTest,
}

/// The client key: held by the key authority alone. Not `Debug`, not `Clone`.
pub struct SecretMaterial {
    pub(crate) client_key: ClientKey,
}

/// Key files could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// File system.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// (De)serialization.
    #[error("key file {path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// tfhe refused the parameters.
    #[error("key generation: {0}")]
    Generation(String),
}

/// Generates all key material, reporting each step to `progress` (step, elapsed).
pub fn generate(
    progress: &mut dyn FnMut(&str, Duration),
) -> Result<(SecretMaterial, PublicMaterial), KeyError> {
    pin_fft_plans();
    let cfg = config();
    let t = Instant::now();
    let client_key = ClientKey::generate(cfg);
    progress("client key", t.elapsed());
    let t = Instant::now();
    let compressed_server_key = CompressedServerKey::new(&client_key);
    progress("compressed server key", t.elapsed());
    let t = Instant::now();
    let server_key = compressed_server_key.decompress();
    progress("server key (decompressed)", t.elapsed());
    let t = Instant::now();
    let public_key =
        CompactPublicKey::try_new(&client_key).map_err(|e| KeyError::Generation(e.to_string()))?;
    progress("compact public key", t.elapsed());
    let t = Instant::now();
    let crs = CompactPkeCrs::from_config(cfg, CRS_MAX_BITS)
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    progress("proof CRS", t.elapsed());
    let t = Instant::now();
    let selftest = SelfTest::make(&client_key, &server_key).map_err(KeyError::Generation)?;
    progress("replay self-test", t.elapsed());
    Ok((
        SecretMaterial { client_key },
        PublicMaterial {
            server_key,
            compressed_server_key,
            public_key,
            crs,
            selftest,
        },
    ))
}

/// The 32-byte seed in `path`, made (owner-only, from the OS's randomness) on first use.
pub fn seed_file(path: &Path) -> Result<[u8; 32], KeyError> {
    if let Ok(b) = fs::read(path) {
        return b.as_slice().try_into().map_err(|_| KeyError::Format {
            path: path.to_path_buf(),
            reason: "not a 32-byte seed".into(),
        });
    }
    let mut s = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut s);
    write_file(path, &s, true)?;
    Ok(s)
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename); owner-only when `secret`.
pub fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

fn ser<T: serde::Serialize + tfhe::Versionize + tfhe::named::Named>(
    path: &Path,
    v: &T,
) -> Result<Vec<u8>, KeyError> {
    let mut out = Vec::new();
    safe_serialize(v, &mut out, KEY_FILE_LIMIT).map_err(|e| KeyError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(out)
}

fn de<T: serde::de::DeserializeOwned + tfhe::Unversionize + tfhe::named::Named>(
    path: &Path,
) -> Result<T, KeyError> {
    let bytes = fs::read(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    safe_deserialize(bytes.as_slice(), KEY_FILE_LIMIT).map_err(|reason| KeyError::Format {
        path: path.to_path_buf(),
        reason,
    })
}

/// File names under a key directory.
pub struct KeyPaths {
    /// `<dir>/public/server.key`
    pub server_key: PathBuf,
    /// `<dir>/public/public.key`
    pub public_key: PathBuf,
    /// `<dir>/public/crs.bin`
    pub crs: PathBuf,
    /// `<dir>/public/selftest.bin`: the replay self-test's ciphertext
    pub selftest: PathBuf,
    /// `<dir>/public/selftest.digest`: its expected digest (hex)
    pub selftest_digest: PathBuf,
    /// `<dir>/authority/client.key` (mode 0600)
    pub client_key: PathBuf,
}

impl KeyPaths {
    /// The layout under `dir`.
    pub fn new(dir: &Path) -> Self {
        KeyPaths {
            server_key: dir.join("public/server.key"),
            public_key: dir.join("public/public.key"),
            crs: dir.join("public/crs.bin"),
            selftest: dir.join("public/selftest.bin"),
            selftest_digest: dir.join("public/selftest.digest"),
            client_key: dir.join("authority/client.key"),
        }
    }
}

impl PublicMaterial {
    /// Writes the public store.
    pub fn save(&self, dir: &Path) -> Result<(), KeyError> {
        let p = KeyPaths::new(dir);
        write_file(
            &p.server_key,
            &ser(&p.server_key, &self.compressed_server_key)?,
            false,
        )?;
        write_file(&p.public_key, &ser(&p.public_key, &self.public_key)?, false)?;
        write_file(&p.crs, &ser(&p.crs, &self.crs)?, false)?;
        write_file(&p.selftest, &self.selftest.list, false)?;
        write_file(
            &p.selftest_digest,
            format!("{}\n", hex::encode(self.selftest.digest)).as_bytes(),
            false,
        )
    }

    /// Reads the public store.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        pin_fft_plans();
        let p = KeyPaths::new(dir);
        let compressed_server_key: CompressedServerKey = de(&p.server_key)?;
        Ok(PublicMaterial {
            server_key: compressed_server_key.decompress(),
            compressed_server_key,
            public_key: de(&p.public_key)?,
            crs: de(&p.crs)?,
            selftest: load_selftest(&p)?,
        })
    }
}

fn load_selftest(p: &KeyPaths) -> Result<SelfTest, KeyError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError::Io { path, source }
    };
    let list = fs::read(&p.selftest).map_err(io(&p.selftest))?;
    let text = fs::read_to_string(&p.selftest_digest).map_err(io(&p.selftest_digest))?;
    let digest = hex::decode(text.trim())
        .ok()
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .ok_or_else(|| KeyError::Format {
            path: p.selftest_digest.clone(),
            reason: "expected 64 hex digits".into(),
        })?;
    Ok(SelfTest { list, digest })
}

/// What a holder needs to encrypt: the compact public key and the proof CRS (not the 100 MB
/// server key). Served at `GET /v1/fhe/public`, fetched by `credence keys fetch`.
#[derive(Clone)]
pub struct EncryptionMaterial {
    /// The compact public key.
    pub public_key: CompactPublicKey,
    /// The CRS for proofs of plaintext knowledge.
    pub crs: CompactPkeCrs,
}

/// The serialized parts of the encryption material: `(name, bytes)`, as the files
/// `public/public.key` and `public/crs.bin` hold them.
pub fn encryption_parts(public: &PublicMaterial) -> Result<Vec<(&'static str, Vec<u8>)>, KeyError> {
    let p = KeyPaths::new(Path::new("."));
    Ok(vec![
        ("public_key", ser(&p.public_key, &public.public_key)?),
        ("crs", ser(&p.crs, &public.crs)?),
    ])
}

impl EncryptionMaterial {
    /// Reads `public/public.key` and `public/crs.bin` under `dir`.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        pin_fft_plans();
        let p = KeyPaths::new(dir);
        Ok(EncryptionMaterial {
            public_key: de(&p.public_key)?,
            crs: de(&p.crs)?,
        })
    }

    /// Checks and writes fetched parts under `dir` (each must deserialize: nothing is written
    /// otherwise).
    pub fn save_parts(dir: &Path, public_key: &[u8], crs: &[u8]) -> Result<Self, KeyError> {
        let p = KeyPaths::new(dir);
        let format = |path: &Path, reason: String| KeyError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let m = EncryptionMaterial {
            public_key: safe_deserialize(public_key, KEY_FILE_LIMIT)
                .map_err(|e| format(&p.public_key, e))?,
            crs: safe_deserialize(crs, KEY_FILE_LIMIT).map_err(|e| format(&p.crs, e))?,
        };
        write_file(&p.public_key, public_key, false)?;
        write_file(&p.crs, crs, false)?;
        Ok(m)
    }
}

impl SecretMaterial {
    /// Writes the key authority store (owner-only permissions).
    pub fn save(&self, dir: &Path) -> Result<(), KeyError> {
        let p = KeyPaths::new(dir);
        write_file(&p.client_key, &ser(&p.client_key, &self.client_key)?, true)
    }

    /// Reads the key authority store.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        pin_fft_plans();
        Ok(SecretMaterial {
            client_key: de(&KeyPaths::new(dir).client_key)?,
        })
    }
}

/// The parameters part of the logged engine configuration: the parameter set, the FFT plan and
/// the plan compiler's digest ([`crate::circuits::fhe::plan::compiler_digest`]) — a replay
/// reproduces a logged output only with the same compiler.
pub fn engine_parameters() -> String {
    format!(
        "{}; FFT {}; plan compiler {}",
        PARAMETERS,
        super::determinism::FFT_PLAN,
        hex::encode(crate::circuits::fhe::plan::compiler_digest())
    )
}
