//! The log service on the embedded store: roots match an independent in-memory tree, proofs
//! verify against signed checkpoints, appends are atomic with the data they describe, and the
//! log survives reopening with a consistency proof across it.

use credence::protocols::log::checkpoint::NoteVerifier;
use credence::protocols::log::entry::{LogEntry, LogLeaf};
use credence::protocols::log::tree::MemoryTree;
use credence::protocols::log::{LogHasher, Sha3Log};
use credence::protocols::signing::{Role, SigningKey};
use credence::server::log::{CheckpointPolicy, LogService};
use credence::store::embedded::EmbeddedStore;
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
    let key = SigningKey::generate(Role::Log, &mut rand::thread_rng());
    let verifier = NoteVerifier::log("credence.test/log", key.public()).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut reference = MemoryTree::<Sha3Log>::new();

    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&path).unwrap());
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
            p.verify::<Sha3Log>(&Sha3Log::hash_leaf(&leaf.to_bytes()), &c.root)
                .unwrap();
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
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&path).unwrap());
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
    std::fs::remove_dir_all(&dir).unwrap();
}
