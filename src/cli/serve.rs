//! `credence keygen`, `credence serve`, `credence witness`.

use super::args::Result;

/// `credence keygen --dir DIR`.
pub fn keygen(dir: &std::path::Path) -> Result<()> {
    use crate::fhe::keys::{generate, KeyPaths};
    let paths = KeyPaths::new(dir);
    if paths.client_key.exists() || paths.server_key.exists() {
        return Err(format!(
            "{} already holds keys; refusing to overwrite them (move them away first)",
            dir.display()
        )
        .into());
    }
    let steps = 5;
    let mut n = 0;
    eprintln!("generating TFHE keys (PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128, compact public key, compression, proof CRS)");
    let progress = super::progress::Progress::new(steps, "keygen");
    progress.running("client and server keys");
    let (secret, public) = generate(&mut |step, took| {
        n += 1;
        progress.step(&format!(
            "  [{n}/{steps}] {step:<28} {:>6.1} s",
            took.as_secs_f64()
        ));
    })?;
    progress.finish();
    public.save(dir)?;
    secret.save(dir)?;
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!(
        "public store   {}: server key {:.1} MB, public key {:.1} KB, CRS {:.1} MB",
        dir.join("public").display(),
        size(&paths.server_key) as f64 / 1e6,
        size(&paths.public_key) as f64 / 1e3,
        size(&paths.crs) as f64 / 1e6
    );
    println!(
        "authority store {}: client key (owner-only) — give it to the key authority alone",
        dir.join("authority").display()
    );
    Ok(())
}

/// `credence serve [init]`: flags override `$CREDENCE_DIR`/`$CREDENCE_ADDR`, which override the
/// configuration file.
pub fn serve(a: super::args::ServeArgs) -> Result<()> {
    use crate::server::process::{Config, WitnessConfig};
    let mut config = match &a.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(d) = a.dir {
        config.dir = d;
    }
    if let Some(addr) = a.addr {
        config.addr = addr;
    }
    if let Some(store) = a.store {
        config.store = Some(crate::server::config::StoreUrl(store));
    }
    for w in &a.witness {
        config.witnesses.push(WitnessConfig::parse(w)?);
    }
    if let Some(q) = a.witness_quorum {
        config.witness_quorum = Some(q);
    }
    if let Some(k) = &a.key_authority {
        config.key_authority = Some(crate::server::decider::KeyAuthorityConfig::parse(k)?);
    }
    for r in &a.authority {
        let (name, key) = crate::server::roots::parse_flag(r)?;
        config.authorities.insert(name, key);
    }
    if let Some(f) = a.fhe_public {
        config.fhe_public = Some(f);
    }
    if let Some(f) = a.log_format {
        config.log_format = f;
    }
    if a.tls.tls_cert.is_some() {
        config.tls_cert = a.tls.tls_cert;
        config.tls_key = a.tls.tls_key;
    }
    if a.tls.allow_plain_http {
        config.allow_plain_http = true;
    }
    crate::server::process::init_tracing(&config.log_format)?;
    if a.action == Some(super::args::ServeAction::Init) {
        crate::server::process::init(&config)?;
    } else {
        crate::server::process::run(&config)?;
    }
    Ok(())
}

/// `credence keys fetch`: downloads the encryption material, checks each part's hash against
/// the listing (and each against the published hash when given: `--expect-public-key`, `--expect-crs`) and that it deserializes, then
/// writes it under `out/public/`.
pub fn fetch_keys(
    server: &str,
    out: &std::path::Path,
    expect_public_key: Option<&str>,
    expect_crs: Option<&str>,
) -> Result<()> {
    use crate::party::client::{error_message, http};
    use sha3::Digest;
    let (status, _, body) = http(server, "GET", "/v1/fhe/public", &[], b"")?;
    if status != 200 {
        return Err(format!(
            "GET /v1/fhe/public: HTTP {status}: {}",
            error_message(&body)
        )
        .into());
    }
    let listing: serde_json::Value = serde_json::from_slice(&body)?;
    let mut parts = Vec::new();
    for name in ["public_key", "crs"] {
        let want = listing["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["part"] == name)
            .and_then(|p| p["sha3_256"].as_str())
            .ok_or_else(|| format!("the service lists no `{name}`"))?
            .to_string();
        let expected = if name == "crs" {
            expect_crs
        } else {
            expect_public_key
        };
        match expected {
            Some(e) if !e.trim().eq_ignore_ascii_case(&want) => {
                return Err(format!(
                    "the service's {name} hash {want} is not the published {}: refusing it",
                    e.trim()
                )
                .into())
            }
            Some(_) => {}
            None => eprintln!(
                "warning: {name} not pinned (pass --expect-{}): compare its hash with the one the operator published",
                name.replace('_', "-")
            ),
        }
        let (status, _, bytes) = http(
            server,
            "GET",
            &format!("/v1/fhe/public?part={name}"),
            &[],
            b"",
        )?;
        if status != 200 {
            return Err(format!("GET {name}: HTTP {status}: {}", error_message(&bytes)).into());
        }
        let got = hex::encode(sha3::Sha3_256::digest(&bytes));
        if got != want {
            return Err(format!("{name}: SHA3-256 {got}, listed {want}").into());
        }
        println!("{name:<11} {:>9} bytes  sha3-256 {got}", bytes.len());
        parts.push(bytes);
    }
    crate::fhe::keys::EncryptionMaterial::save_parts(out, &parts[0], &parts[1])?;
    println!(
        "written to {} ({}); use it with `holder submit --keys {}`",
        out.join("public").display(),
        listing["parameters"].as_str().unwrap_or("?"),
        out.display()
    );
    Ok(())
}
