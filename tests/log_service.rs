//! The log service on the embedded store and on PostgreSQL (when `CREDENCE_TEST_POSTGRES` names
//! a server): roots match an independent in-memory tree, proofs verify against signed
//! checkpoints, appends are atomic with the data they describe, the log survives reopening with
//! a consistency proof across it, and two log services sharing one store keep one tree.

mod common;

use credence::protocols::log::checkpoint::NoteVerifier;
use credence::protocols::log::entry::{LogEntry, LogLeaf};
use credence::protocols::log::tree::MemoryTree;
use credence::protocols::log::Sha3Log;
use credence::protocols::signing::{Role, SigningKey};
use credence::server::log::{CheckpointPolicy, LogService};
use credence::store::embedded::EmbeddedStore;
use credence::store::postgres::{Location, PostgresStore};
use credence::store::{Batch, Store, Table};
use rand::{Rng, SeedableRng};
use std::sync::Arc;

fn entry(i: u64) -> LogEntry {
    LogEntry::PolicyPublished {
        policy: format!("policy-{i}"),
        version: i as u32,
        policy_hash: [i as u8; 32],
    }
}

const POLICY: CheckpointPolicy = CheckpointPolicy {
    every_entries: 100,
    every_seconds: 60,
};

#[test]
fn proofs_checkpoints_atomicity_and_reopening() {
    let dir = std::env::temp_dir().join(format!("credence-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("log.redb");
    story(&|| Arc::new(EmbeddedStore::open(&path).unwrap()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn proofs_checkpoints_atomicity_and_reopening_on_postgres() {
    let Some(url) = common::postgres_database("log_service") else {
        return;
    };
    let location = Location::new(&url, "log").unwrap();
    story(&|| Arc::new(PostgresStore::open(location.clone(), 4).unwrap()));
}

/// Two log services (two service instances, each with its own connection pool) append to one
/// PostgreSQL database at once: every append lands at its own index, the tree is one, and each
/// instance's checkpoints are consistent with the other's. (The embedded file is opened by one
/// process only: redb locks it.)
#[test]
fn two_log_services_on_one_database_keep_one_tree() {
    let Some(url) = common::postgres_database("log_two") else {
        return;
    };
    let l = Location::new(&url, "log").unwrap();
    let a: Arc<dyn Store> = Arc::new(PostgresStore::open(l.clone(), 4).unwrap());
    let b: Arc<dyn Store> = Arc::new(PostgresStore::open(l, 4).unwrap());
    two_writers_on(a, b);
}

fn two_writers_on(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let key = SigningKey::generate(Role::Log, &mut rand::thread_rng());
    let verifier = NoteVerifier::log("credence.test/log", key.public()).unwrap();
    let logs = [
        Arc::new(LogService::open(a.clone(), "credence.test/log", key.clone(), POLICY).unwrap()),
        Arc::new(LogService::open(b, "credence.test/log", key.clone(), POLICY).unwrap()),
    ];
    let per_writer = 60u64;
    let handles: Vec<_> = logs
        .iter()
        .enumerate()
        .map(|(w, log)| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for i in 0..per_writer {
                    let id = (w as u64 + 1) * 10_000 + i;
                    // Each append also writes the data it describes, atomically with it.
                    let mut data = Batch::new();
                    data.insert(Table::Verdicts, id.to_be_bytes().to_vec(), b"d".to_vec());
                    let idx = log.append(&[entry(id)], 1_000 + i, data).unwrap();
                    got.push((idx[0], id));
                    if i % 17 == 0 {
                        log.checkpoint(1_000 + i).unwrap();
                    }
                }
                got
            })
        })
        .collect();
    let mut all: Vec<(u64, u64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    let n = 2 * per_writer;
    // No index used twice, none skipped, and each acknowledged entry is where it was told.
    assert_eq!(
        all.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
    let reader = &logs[0];
    let leaves = reader.entries(0, n, n as usize).unwrap();
    assert_eq!(leaves.len() as u64, n);
    let mut reference = MemoryTree::<Sha3Log>::new();
    for ((index, id), (at, leaf)) in all.iter().zip(&leaves) {
        assert_eq!(at, index);
        assert_eq!(leaf.entry, entry(*id), "entry at {index}");
        reference.append(&leaf.leaf_data());
        assert!(a.get(Table::Verdicts, &id.to_be_bytes()).unwrap().is_some());
    }
    // Checkpoints from either instance, of the whole log, agree and link up.
    let s0 = logs[0].checkpoint(9_000).unwrap();
    let c0 = s0.verify(&verifier).unwrap();
    let s1 = logs[1].checkpoint(9_001).unwrap();
    let c1 = s1.verify(&verifier).unwrap();
    assert_eq!((c0.size, c0.root), (n, reference.root()));
    assert_eq!((c1.size, c1.root), (n, reference.root()));
    for size in [1, n / 3, n - 1] {
        let proof = reader.consistency_proof(size, n).unwrap();
        proof
            .verify::<Sha3Log>(&reference.root_at(size).unwrap(), &c0.root)
            .unwrap();
    }
}

fn story(open: &dyn Fn() -> Arc<dyn Store>) {
    let key = SigningKey::generate(Role::Log, &mut rand::thread_rng());
    let verifier = NoteVerifier::log("credence.test/log", key.public()).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut reference = MemoryTree::<Sha3Log>::new();

    let store: Arc<dyn Store> = open();
    let log = LogService::open(store.clone(), "credence.test/log", key.clone(), POLICY).unwrap();
    let mut next = 0u64;
    let mut checkpoints = Vec::new();
    let mut time = 1_000u64;
    while next < 333 {
        let n = [1u64, 2, 7, 64, 13][rng.gen_range(0..5)];
        let entries: Vec<LogEntry> = (next..next + n).map(entry).collect();
        let indices = log.append(&entries, time, Batch::new()).unwrap();
        assert_eq!(indices, (next..next + n).collect::<Vec<_>>());
        for e in &entries {
            reference.append(
                &LogLeaf {
                    time,
                    entry: e.clone(),
                }
                .to_bytes(),
            );
        }
        next += n;
        assert_eq!(log.size(), next);
        assert_eq!(log.root(next).unwrap(), reference.root(), "root at {next}");
        if let Some(cp) = log.maybe_checkpoint(time).unwrap() {
            let c = cp.verify(&verifier).unwrap();
            assert_eq!(c.size, next);
            checkpoints.push(cp);
        }
        time += 7;
    }
    // A checkpoint at least every 100 entries or 60 s.
    assert!(checkpoints.len() >= 3, "{}", checkpoints.len());

    // Inclusion and consistency proofs against signed checkpoint roots.
    for cp in &checkpoints {
        let c = cp.verify(&verifier).unwrap();
        for _ in 0..20 {
            let i = rng.gen_range(0..c.size);
            let p = log.inclusion_proof(i, c.size).unwrap();
            let leaf = &log.entries(i, i + 1, 1).unwrap()[0].1;
            p.verify::<Sha3Log>(&leaf.hash(), &c.root).unwrap();
            assert_eq!(leaf.entry, entry(i));
        }
    }
    for w in checkpoints.windows(2) {
        let (a, b) = (
            w[0].verify(&verifier).unwrap(),
            w[1].verify(&verifier).unwrap(),
        );
        log.consistency_proof(a.size, b.size)
            .unwrap()
            .verify::<Sha3Log>(&a.root, &b.root)
            .unwrap();
    }
    assert!(log.inclusion_proof(0, next + 1).is_err(), "beyond the log");

    // Data and its log entry commit together: a conflicting write aborts both.
    let mut data = Batch::new();
    data.insert(Table::Submissions, b"tax/1".to_vec(), b"record".to_vec());
    log.append(&[entry(1000)], time, data.clone()).unwrap();
    let before = log.size();
    let err = log.append(&[entry(1001), entry(1002)], time, data);
    assert!(err.is_err());
    assert_eq!(log.size(), before, "nothing appended");
    assert!(log.entries(before, before + 5, 5).unwrap().is_empty());
    let last = log.checkpoint(time).unwrap();
    assert_eq!(last.verify(&verifier).unwrap().size, before);
    drop(log);
    drop(store);

    // Reopen: same size and root, appends continue, and the pre-reopen checkpoint is
    // consistent with a new one.
    let store: Arc<dyn Store> = open();
    let log = LogService::open(store, "credence.test/log", key, POLICY).unwrap();
    assert_eq!(log.size(), before);
    assert_eq!(
        log.latest_checkpoint().unwrap().unwrap().to_text(),
        last.to_text()
    );
    let idx = log.append(&[entry(2000)], time + 1, Batch::new()).unwrap();
    assert_eq!(idx, vec![before]);
    let after = log.checkpoint(time + 2).unwrap();
    let (a, b) = (
        last.verify(&verifier).unwrap(),
        after.verify(&verifier).unwrap(),
    );
    log.consistency_proof(a.size, b.size)
        .unwrap()
        .verify::<Sha3Log>(&a.root, &b.root)
        .unwrap();
}

/// Two log services on one store, as two instances without a working database lock (the
/// memory store's lock is a no-op): an append that adds no entries never moves the stored
/// size back, and an instance that did not append still proves what the other appended.
#[test]
fn a_stale_instance_neither_shrinks_the_log_nor_denies_its_proofs() {
    let store: Arc<dyn Store> = Arc::new(credence::store::memory::MemoryStore::new());
    let key = SigningKey::generate(Role::Log, &mut rand::thread_rng());
    let a = LogService::open(store.clone(), "credence.test/log", key.clone(), POLICY).unwrap();
    let b = LogService::open(store.clone(), "credence.test/log", key, POLICY).unwrap();
    b.append(&[entry(1), entry(2), entry(3)], 10, Batch::new())
        .unwrap();
    // A, opened before, still thinks the log is empty; it proves B's entries all the same.
    a.inclusion_proof(0, 3).unwrap();
    a.consistency_proof(1, 3).unwrap();
    assert_eq!(a.root(3).unwrap(), b.root(3).unwrap());
    // An append of data only (no entries) at a stale view leaves the size alone.
    let mut data = Batch::new();
    data.put(Table::Meta, b"note".to_vec(), b"x".to_vec());
    a.append(&[], 11, data).unwrap();
    assert_eq!(b.size(), 3);
    assert_eq!(b.append(&[entry(4)], 12, Batch::new()).unwrap(), vec![3]);
    assert_eq!(a.append(&[entry(5)], 13, Batch::new()).unwrap(), vec![4]);
}

/// A log written in an earlier leaf format (version 2, before sealed leaves) is refused when
/// the log service opens it, with a message saying which format it holds — not at the first
/// read, as an internal error.
#[test]
fn a_log_in_an_earlier_leaf_format_is_refused_at_open() {
    let store: Arc<dyn Store> = Arc::new(credence::store::memory::MemoryStore::new());
    let key = SigningKey::generate(Role::Log, &mut rand::thread_rng());
    let log = LogService::open(store.clone(), "credence.test/format", key.clone(), POLICY).unwrap();
    log.append(&[entry(1)], 1, Batch::new()).unwrap();
    drop(log);
    // Reopening a format-3 log works.
    assert!(LogService::open(store.clone(), "credence.test/format", key.clone(), POLICY).is_ok());
    let mut old = store
        .get(Table::LogLeaves, &0u64.to_be_bytes())
        .unwrap()
        .unwrap();
    old[0] = 2;
    let mut b = Batch::new();
    b.put(Table::LogLeaves, 0u64.to_be_bytes().to_vec(), old);
    store.commit(&b).unwrap();
    let message = match LogService::open(store, "credence.test/format", key, POLICY) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a format-2 log was opened"),
    };
    assert!(message.contains("format 2"), "{message}");
}
