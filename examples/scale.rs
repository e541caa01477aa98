//! The store at city scale, embedded vs PostgreSQL side by side, in one run:
//!
//! ```sh
//! cargo run --example scale -- [SUBJECTS] [postgres://user@host:port/db]
//! ```
//!
//! (the URL defaults to `$CREDENCE_TEST_POSTGRES`; without one only the embedded store is
//! measured). For `SUBJECTS` subjects (default 100 000) it loads, in batches of 1 000 subjects,
//! what the proven path stores per subject — the subject row, the index of its latest
//! commitment and the holder's signed commitment with its range certificate (real ones: 64 are
//! made and reused, so values have the real size) — then measures, per backend:
//!
//! * ingest throughput (subjects per second, batched);
//! * the proven path's store reads for one subject (subject row, prefix scan of its latest
//!   commitments, the commitment itself), p50 and p99 over 2 000 random subjects;
//! * log append throughput (one entry per durable commit, the service's unit of work) over
//!   1 000 appends, after loading a log of `SUBJECTS` entries in batches;
//! * inclusion proof latency at that log size, p50 and p99 over 1 000 random leaves;
//! * bytes on disk per subject (the redb file; the schema's tables and indexes).
//!
//! Proof verification itself is CPU work independent of the backend (see `benches/proofs.rs`).

use credence::protocols::commitment::{
    AttributeCommitment, AttributeContext, Opening, SignedAttributeCommitment,
    ATTRIBUTE_TRANSCRIPT_LABEL,
};
use credence::protocols::identifiers::SubjectKind;
use credence::protocols::log::entry::LogEntry;
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::pseudonym::Pseudonym;
use credence::protocols::signing::{Role, SigningKey};
use credence::server::log::{CheckpointPolicy, LogService};
use credence::store::postgres::{Location, PostgresStore};
use credence::store::{prefix_range, Batch, Store, Table};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: u64 = 1_000;

fn pseudonym(i: u64) -> Vec<u8> {
    let mut k = vec![1u8];
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&i.to_be_bytes());
    // Spread subjects over the key space as keyed-hash pseudonyms are.
    b[8..16].copy_from_slice(&(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes());
    b.swap(0, 15);
    k.extend_from_slice(&b);
    k
}

fn submission_key(i: u64) -> Vec<u8> {
    let mut k = b"court.beijing".to_vec();
    k.push(0);
    k.extend_from_slice(&i.to_be_bytes());
    k
}

fn index_key(i: u64) -> Vec<u8> {
    let mut k = pseudonym(i);
    k.push(b'c');
    k.extend_from_slice(b"court.dishonest_debtor");
    k
}

fn commitments() -> Vec<Vec<u8>> {
    let mut rng = rand::thread_rng();
    let holder = SigningKey::generate(Role::Holder, &mut rng);
    (0..64u64)
        .map(|i| {
            let context = AttributeContext {
                holder: PartyId::new("court.beijing").unwrap(),
                attribute: AttributeId::new("court.dishonest_debtor").unwrap(),
                subject: Pseudonym {
                    kind: SubjectKind::Enterprise,
                    bytes: [i as u8; 32],
                },
                submission: i,
            };
            let o = Opening::random(i % 2, &mut rng);
            let t = &mut merlin::Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL);
            let c = AttributeCommitment::create(t, context, &o, 65_535, &mut rng).unwrap();
            SignedAttributeCommitment::sign(c, &holder).to_bytes()
        })
        .collect()
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1e3
}

struct Row {
    backend: &'static str,
    ingest: f64,
    read_p50: f64,
    read_p99: f64,
    append: f64,
    incl_p50: f64,
    incl_p99: f64,
    bytes_per_subject: f64,
}

fn measure(
    backend: &'static str,
    store: Arc<dyn Store>,
    n: u64,
    values: &[Vec<u8>],
    size: &dyn Fn() -> u64,
) -> Row {
    eprintln!("{backend}: loading {n} subjects");
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let mut b = Batch::new();
        for j in i..(i + BATCH).min(n) {
            b.put(Table::Subjects, pseudonym(j), Vec::new());
            b.put(Table::SubjectAttributes, index_key(j), submission_key(j));
            b.put(
                Table::Submissions,
                submission_key(j),
                values[(j % values.len() as u64) as usize].clone(),
            );
        }
        store.commit(&b).unwrap();
        i += BATCH;
    }
    let ingest = n as f64 / t.elapsed().as_secs_f64();

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut reads = Vec::new();
    for _ in 0..2_000 {
        let j = rng.gen_range(0..n);
        let t = Instant::now();
        assert!(store.get(Table::Subjects, &pseudonym(j)).unwrap().is_some());
        let (from, to) = prefix_range(&pseudonym(j));
        let idx = store
            .scan(Table::SubjectAttributes, &from, to.as_deref(), 64)
            .unwrap();
        assert_eq!(idx.len(), 1);
        let c = store.get(Table::Submissions, &idx[0].1).unwrap().unwrap();
        assert!(!c.is_empty());
        reads.push(t.elapsed());
    }

    eprintln!("{backend}: loading a log of {n} entries");
    let key = SigningKey::generate(Role::Log, &mut rand::thread_rng());
    let log = LogService::open(
        store.clone(),
        "credence.scale/log",
        key,
        CheckpointPolicy {
            every_entries: u64::MAX,
            every_seconds: u64::MAX,
        },
    )
    .unwrap();
    let entry = |k: u64| LogEntry::PolicyPublished {
        policy: format!("policy-{k}"),
        version: 1,
        policy_hash: [k as u8; 32],
    };
    let mut k = 0;
    while k < n {
        let entries: Vec<LogEntry> = (k..(k + BATCH).min(n)).map(entry).collect();
        log.append(&entries, 1, Batch::new()).unwrap();
        k += BATCH;
    }
    let appends = 1_000u64;
    let t = Instant::now();
    for a in 0..appends {
        log.append(&[entry(n + a)], 2, Batch::new()).unwrap();
    }
    let append = appends as f64 / t.elapsed().as_secs_f64();
    let total = log.size();
    let mut incl = Vec::new();
    for _ in 0..1_000 {
        let leaf = rng.gen_range(0..total);
        let t = Instant::now();
        log.inclusion_proof(leaf, total).unwrap();
        incl.push(t.elapsed());
    }
    drop(log);
    let bytes = size();
    Row {
        backend,
        ingest,
        read_p50: pct(reads.clone(), 0.5),
        read_p99: pct(reads, 0.99),
        append,
        incl_p50: pct(incl.clone(), 0.5),
        incl_p99: pct(incl, 0.99),
        bytes_per_subject: bytes as f64 / n as f64,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map(|a| a.parse().expect("SUBJECTS is a number"))
        .unwrap_or(100_000);
    let url = args
        .next()
        .or_else(|| std::env::var("CREDENCE_TEST_POSTGRES").ok());
    let values = commitments();
    eprintln!(
        "{n} subjects; a signed commitment with its range certificate is {} bytes",
        values[0].len()
    );
    let mut rows = Vec::new();

    let dir = std::env::temp_dir().join(format!("credence-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("credence.redb");
    let store: Arc<dyn Store> =
        Arc::new(credence::store::embedded::EmbeddedStore::open(&path).unwrap());
    rows.push(measure("embedded (redb)", store, n, &values, &|| {
        std::fs::metadata(&path).unwrap().len()
    }));
    std::fs::remove_dir_all(&dir).unwrap();

    if let Some(url) = url {
        let schema = format!("scale_{}", std::process::id());
        let location = Location::new(&url, &schema).unwrap();
        let pg = Arc::new(PostgresStore::open(location, 8).unwrap());
        let sizer = pg.clone();
        rows.push(measure("PostgreSQL 15", pg.clone(), n, &values, &|| {
            sizer.size_on_disk().unwrap()
        }));
        drop(sizer);
        if let Ok(pg) = Arc::try_unwrap(pg) {
            pg.drop_schema().unwrap();
        }
    } else {
        eprintln!("no PostgreSQL URL (argument or CREDENCE_TEST_POSTGRES): embedded only");
    }

    println!(
        "\n| backend | subjects | ingest (subjects/s, batches of {BATCH}) | proven-path reads p50 / p99 (ms) | log appends/s (1 entry per commit) | inclusion proof at {} entries p50 / p99 (ms) | bytes on disk per subject (+1 log entry) |",
        n
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {n} | {:.0} | {:.3} / {:.3} | {:.0} | {:.3} / {:.3} | {:.0} |",
            r.backend,
            r.ingest,
            r.read_p50,
            r.read_p99,
            r.append,
            r.incl_p50,
            r.incl_p99,
            r.bytes_per_subject
        );
    }
    if rows.len() == 2 {
        println!(
            "\nPostgreSQL / embedded: ingest {:.2}×, read p50 {:.2}×, appends {:.2}×, inclusion p50 {:.2}×, bytes {:.2}×",
            rows[1].ingest / rows[0].ingest,
            rows[1].read_p50 / rows[0].read_p50,
            rows[1].append / rows[0].append,
            rows[1].incl_p50 / rows[0].incl_p50,
            rows[1].bytes_per_subject / rows[0].bytes_per_subject
        );
    }
}
