//! A region as three OS processes on loopback — the key authority, the witness and the service,
//! each a `credence` process with its own directory — as the README's sequence starts them.
//! The demo and the three-process bench run on it.
//!
//! ```text
//! DIR/                 the service's directory (no client key, no key-authority seed)
//! DIR/key-authority/   the key authority's (client key, signing seed, its copy of the log)
//! DIR/witness/         the witness's
//! DIR/authorities/     one root key file per catalogue authority (pinned by the service with
//!                      `--authority`; in a real region each authority keeps its own)
//! DIR/*.log            each process's stderr
//! ```

use crate::protocols::verdict::TrustAnchors;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Settings of a region apart.
#[derive(Clone, Debug)]
pub struct ApartOptions {
    /// Days either side of its clock the key authority decides (`--day-window`).
    pub day_window: u32,
    /// The service's `queries_per_subject_per_day`, and the key authority's budget per bank
    /// (five times that per subject); 0: no limit.
    pub queries_per_subject_per_day: u32,
    /// The key authority verifies every input upload again for every decision
    /// (`--verify-uploads-every-decision`).
    pub verify_uploads_every_decision: bool,
    /// Memory for decompressed input blocks in the service and the key authority, MiB (0: off).
    pub block_cache_mib: usize,
    /// The service evaluates and the key authority replays (`--service-evaluates`).
    pub service_evaluates: bool,
}

impl Default for ApartOptions {
    fn default() -> Self {
        ApartOptions {
            day_window: crate::key_authority::DEFAULT_DAY_WINDOW,
            queries_per_subject_per_day: 10,
            verify_uploads_every_decision: false,
            service_evaluates: false,
            block_cache_mib: crate::fhe::engine::DEFAULT_BLOCK_CACHE_BYTES >> 20,
        }
    }
}

/// The three processes; stopped (SIGTERM, then killed) when dropped.
pub struct Apart {
    /// The service's address.
    pub service: String,
    /// The witness's address.
    pub witness: String,
    /// The key authority's address.
    pub key_authority: String,
    /// The anchors a verifier pins (read from the service's `anchors.json`).
    pub anchors: TrustAnchors,
    /// The service's directory.
    pub dir: PathBuf,
    children: Children,
}

/// Child processes, stopped in reverse order (SIGTERM, then killed) when dropped.
struct Children {
    dir: PathBuf,
    running: Vec<(String, Child)>,
}

fn output(exe: &Path, args: &[&str]) -> Result<String, Error> {
    let o = Command::new(exe).args(args).output()?;
    if !o.status.success() {
        return Err(format!(
            "credence {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn path(p: &Path) -> Result<&str, Error> {
    p.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", p.display()).into())
}

impl Apart {
    /// Starts the three from the executable `exe` (`credence`) on `dir`, made on first start:
    /// `key-authority init`, `serve init --fhe-public --key-authority`, `witness init`, then
    /// `witness serve`, `serve` and `key-authority serve`.
    pub fn start(
        exe: &Path,
        dir: &Path,
        options: &ApartOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Apart, Error> {
        std::fs::create_dir_all(dir)?;
        let (ka_dir, wdir) = (dir.join("key-authority"), dir.join("witness"));
        progress("key authority: its TFHE keys and signing key, in its own directory");
        let ka_key = output(exe, &["key-authority", "init", "--dir", path(&ka_dir)?])?;
        let ka_addr = format!("127.0.0.1:{}", free_port()?);
        let config = dir.join("service.toml");
        std::fs::write(
            &config,
            format!(
                "queries_per_subject_per_day = {}\nblock_cache_mib = {}\n",
                options.queries_per_subject_per_day, options.block_cache_mib
            ),
        )?;
        // The authorities' roots, made before `serve init` so that every pinned copy of the
        // anchors carries them.
        let roots_dir = dir.join("authorities");
        std::fs::create_dir_all(&roots_dir)?;
        let mut root_flags = Vec::new();
        let names: std::collections::BTreeSet<String> =
            crate::circuits::catalog::Catalog::builtin()
                .attributes()
                .map(|a| a.holder.clone())
                .collect();
        for name in names {
            let file = roots_dir.join(format!("{name}.party"));
            if !file.exists() {
                let mut seed = zeroize::Zeroizing::new([0u8; 32]);
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
                crate::party::keyfile::write_party(
                    &file,
                    &name,
                    crate::protocols::signing::Role::Authority,
                    &seed,
                    None,
                    None,
                )?;
            }
            let root = crate::party::keyfile::Party::load(&file)?;
            root_flags.push("--authority".to_string());
            root_flags.push(format!(
                "{name}={}",
                hex::encode(root.key.public().to_bytes())
            ));
        }
        let ka_flag = format!("{ka_key}@{ka_addr}");
        let serve = |action: &[&str], extra: &[&str]| -> Result<Vec<String>, Error> {
            let mut a: Vec<String> = ["serve"]
                .iter()
                .chain(action)
                .chain(&[
                    "--config",
                    path(&config)?,
                    "--dir",
                    path(dir)?,
                    "--key-authority",
                    &ka_flag,
                ])
                .map(|s| s.to_string())
                .collect();
            a.extend(extra.iter().map(|s| s.to_string()));
            Ok(a)
        };
        let public = ka_dir.join("keys/public");
        let mut init_extra = vec!["--fhe-public", path(&public)?];
        init_extra.extend(root_flags.iter().map(String::as_str));
        let init = serve(&["init"], &init_extra)?;
        output(exe, &init.iter().map(String::as_str).collect::<Vec<_>>())?;
        let wkey = output(exe, &["witness", "init", "--dir", path(&wdir)?])?;
        let log_vkey = std::fs::read_to_string(dir.join("log.vkey"))?;
        let mut children = Children {
            dir: dir.to_path_buf(),
            running: Vec::new(),
        };
        let witness = children.spawn(
            exe,
            "witness",
            &[
                "witness",
                "serve",
                "--dir",
                path(&wdir)?,
                "--addr",
                "127.0.0.1:0",
                "--log",
                log_vkey.trim(),
            ],
        )?;
        let wflag = format!("{wkey}@{witness}");
        let run = serve(&[], &["--addr", "127.0.0.1:0", "--witness", &wflag])?;
        let service = children.spawn(
            exe,
            "service",
            &run.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
        let window = options.day_window.to_string();
        let per_bank = options.queries_per_subject_per_day.to_string();
        let per_subject = (options.queries_per_subject_per_day.saturating_mul(5)).to_string();
        let anchors_file = dir.join("anchors.json");
        let mut ka_args = vec![
            "key-authority",
            "serve",
            "--dir",
            path(&ka_dir)?,
            "--service",
            &service,
            "--anchors",
            path(&anchors_file)?,
            "--addr",
            &ka_addr,
            "--day-window",
            &window,
            "--per-bank",
            &per_bank,
            "--per-subject",
            &per_subject,
        ];
        if options.verify_uploads_every_decision {
            ka_args.push("--verify-uploads-every-decision");
        }
        if options.service_evaluates {
            ka_args.push("--service-evaluates");
        }
        let cache = options.block_cache_mib.to_string();
        ka_args.extend(["--block-cache-mib", &cache]);
        let key_authority = children.spawn(exe, "key-authority", &ka_args)?;
        let text = std::fs::read_to_string(dir.join("anchors.json"))?;
        let anchors = crate::party::client::anchors_from_json(&serde_json::from_str(&text)?)?;
        progress(&format!(
            "three processes: service {service} (pid {}), key authority {key_authority} (pid {}), witness {witness} (pid {})",
            children.pid("service"),
            children.pid("key-authority"),
            children.pid("witness"),
        ));
        let apart = Apart {
            service,
            witness,
            key_authority,
            anchors,
            dir: dir.to_path_buf(),
            children,
        };
        Ok(apart)
    }

    /// Registers the holder `id` with `key` through `operator`, with the certificate of its
    /// authority's root (from `DIR/authorities/`, as the authority would hand it over).
    pub fn register_holder(
        &self,
        operator: &crate::party::client::Client,
        id: &crate::protocols::names::PartyId,
        key: crate::protocols::signing::PublicKey,
    ) -> Result<u64, Error> {
        let authority = id.as_str().split('.').next().unwrap_or(id.as_str());
        let root = crate::party::keyfile::Party::load(
            &self
                .dir
                .join("authorities")
                .join(format!("{authority}.party")),
        )?;
        let c = crate::party::keyfile::Certificate::issue(&root, id, key)?;
        Ok(operator.register_holder(id, &key, &c.statement.authority, &c.signature)?)
    }

    /// The process id of `service`, `key-authority` or `witness` (0: none such).
    pub fn pid(&self, name: &str) -> u32 {
        self.children.pid(name)
    }

    /// Stops the three (key authority first, the witness last).
    pub fn stop(self) {
        drop(self);
    }
}

impl Children {
    fn pid(&self, name: &str) -> u32 {
        self.running
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.id())
            .unwrap_or(0)
    }

    /// Starts `exe args` (a command that prints `listening on ADDR` first) with its stderr in
    /// `DIR/NAME.log`; returns the address.
    fn spawn(&mut self, exe: &Path, name: &str, args: &[&str]) -> Result<String, Error> {
        let log = self.dir.join(format!("{name}.log"));
        let mut child = Command::new(exe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let line = lines.next().transpose()?.unwrap_or_default();
        std::thread::spawn(move || for _ in lines {});
        self.running.push((name.to_string(), child));
        match line.strip_prefix("listening on ") {
            Some(addr) => Ok(addr.to_string()),
            None => Err(format!(
                "{name} did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default().trim()
            )
            .into()),
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, mut c) in self.running.drain(..).rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            for _ in 0..100 {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
