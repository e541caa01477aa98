//! The conformance suite every [`Store`] backend must pass: `run(&mut backend)`.
//!
//! It checks reads of empty tables, overwrite and insert semantics, all-or-nothing batches
//! (a conflicting insert anywhere aborts every write of its batch, in every table), table
//! independence, scans (key order, half-open bounds, limits, prefix ranges at the 0xff edge),
//! binary and large values, concurrent committers (distinct keys all land; the same key is
//! inserted exactly once), and — for durable backends — that committed data survives a reopen
//! and a failed batch leaves nothing behind after one.

use super::{prefix_range, Batch, Store, StoreError, Table};
use std::sync::Arc;

/// What the suite needs from a backend.
pub trait Backend {
    /// A new, empty store.
    fn fresh(&mut self) -> Arc<dyn Store>;
    /// Closes `store` and opens the same data again; `None` for backends that are not durable.
    fn reopen(&mut self, store: Arc<dyn Store>) -> Option<Arc<dyn Store>>;
}

fn be(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

/// Runs every check; panics with a description on the first failure.
pub fn run(backend: &mut dyn Backend) {
    empty_tables(&*backend.fresh());
    put_get_overwrite_delete(&*backend.fresh());
    batches_are_atomic(&*backend.fresh());
    scans(&*backend.fresh());
    values(&*backend.fresh());
    concurrency(backend.fresh());
    durability(backend);
}

fn empty_tables(s: &dyn Store) {
    for t in Table::ALL {
        assert_eq!(s.get(t, b"k").unwrap(), None, "{t:?}");
        assert!(s.scan(t, b"", None, 10).unwrap().is_empty(), "{t:?}");
        assert_eq!(s.count(t).unwrap(), 0, "{t:?}");
    }
}

fn put_get_overwrite_delete(s: &dyn Store) {
    let mut b = Batch::new();
    b.put(Table::Parties, b"court".to_vec(), b"v1".to_vec());
    b.put(Table::Verdicts, b"court".to_vec(), b"other table".to_vec());
    s.commit(&b).unwrap();
    assert_eq!(
        s.get(Table::Parties, b"court").unwrap(),
        Some(b"v1".to_vec())
    );
    assert_eq!(
        s.get(Table::Verdicts, b"court").unwrap(),
        Some(b"other table".to_vec()),
        "tables are independent"
    );
    let mut b = Batch::new();
    b.put(Table::Parties, b"court".to_vec(), b"v2".to_vec());
    s.commit(&b).unwrap();
    // Within one batch, writes apply in order: the last put of a key wins, a delete after a
    // put removes it, a put after a delete restores it.
    let mut b = Batch::new();
    b.put(Table::Meta, b"twice".to_vec(), b"first".to_vec());
    b.put(Table::Meta, b"other".to_vec(), b"x".to_vec());
    b.put(Table::Meta, b"twice".to_vec(), b"second".to_vec());
    b.put(Table::Meta, b"gone".to_vec(), b"x".to_vec());
    b.delete(Table::Meta, b"gone".to_vec());
    b.delete(Table::Meta, b"back".to_vec());
    b.put(Table::Meta, b"back".to_vec(), b"y".to_vec());
    s.commit(&b).unwrap();
    assert_eq!(
        s.get(Table::Meta, b"twice").unwrap(),
        Some(b"second".to_vec())
    );
    assert_eq!(s.get(Table::Meta, b"gone").unwrap(), None);
    assert_eq!(s.get(Table::Meta, b"back").unwrap(), Some(b"y".to_vec()));
    let mut b = Batch::new();
    for t in [b"twice".as_slice(), b"other", b"back"] {
        b.delete(Table::Meta, t.to_vec());
    }
    s.commit(&b).unwrap();
    assert_eq!(
        s.get(Table::Parties, b"court").unwrap(),
        Some(b"v2".to_vec())
    );
    let mut b = Batch::new();
    b.delete(Table::Parties, b"court".to_vec());
    b.delete(Table::Parties, b"never-there".to_vec());
    s.commit(&b).unwrap();
    assert_eq!(s.get(Table::Parties, b"court").unwrap(), None);
    assert_eq!(s.count(Table::Parties).unwrap(), 0);
    assert_eq!(s.count(Table::Verdicts).unwrap(), 1);
    // An empty batch is fine.
    s.commit(&Batch::new()).unwrap();
}

fn batches_are_atomic(s: &dyn Store) {
    let mut b = Batch::new();
    b.insert(Table::Submissions, b"tax/1".to_vec(), b"first".to_vec());
    s.commit(&b).unwrap();

    // A conflicting insert at the end aborts the earlier writes, in every table.
    let mut b = Batch::new();
    b.put(Table::LogLeaves, be(0), b"leaf".to_vec());
    b.put(Table::Meta, b"size".to_vec(), be(1));
    b.delete(Table::Submissions, b"tax/1".to_vec());
    b.insert(Table::Submissions, b"tax/2".to_vec(), b"second".to_vec());
    b.insert(Table::Submissions, b"tax/1".to_vec(), b"again".to_vec());
    // (`tax/1` was deleted earlier in this batch, so this insert is allowed...)
    s.commit(&b).unwrap();
    assert_eq!(
        s.get(Table::Submissions, b"tax/1").unwrap(),
        Some(b"again".to_vec())
    );

    let mut b = Batch::new();
    b.put(Table::LogLeaves, be(1), b"leaf 1".to_vec());
    b.put(Table::Meta, b"size".to_vec(), be(2));
    b.insert(Table::Submissions, b"tax/3".to_vec(), b"third".to_vec());
    b.insert(Table::Submissions, b"tax/2".to_vec(), b"duplicate".to_vec());
    match s.commit(&b) {
        Err(StoreError::Exists { table, .. }) => assert_eq!(table, Table::Submissions),
        other => panic!("a duplicate insert must fail the batch, got {other:?}"),
    }
    assert_eq!(
        s.get(Table::LogLeaves, &be(1)).unwrap(),
        None,
        "aborted batch leaked"
    );
    assert_eq!(s.get(Table::Meta, b"size").unwrap(), Some(be(1)));
    assert_eq!(s.get(Table::Submissions, b"tax/3").unwrap(), None);
    assert_eq!(
        s.get(Table::Submissions, b"tax/2").unwrap(),
        Some(b"second".to_vec())
    );

    // The same key inserted twice inside one batch conflicts too.
    let mut b = Batch::new();
    b.insert(Table::Consents, b"c".to_vec(), b"1".to_vec());
    b.insert(Table::Consents, b"c".to_vec(), b"2".to_vec());
    assert!(matches!(s.commit(&b), Err(StoreError::Exists { .. })));
    assert_eq!(s.count(Table::Consents).unwrap(), 0);
}

fn scans(s: &dyn Store) {
    let mut b = Batch::new();
    // Inserted out of order; big-endian keys sort numerically.
    for i in [5u64, 1, 300, 2, 256, 0, 4, 3] {
        b.put(Table::LogLeaves, be(i), format!("leaf {i}").into_bytes());
    }
    s.commit(&b).unwrap();
    let all = s.scan(Table::LogLeaves, b"", None, 100).unwrap();
    let keys: Vec<u64> = all
        .iter()
        .map(|(k, _)| u64::from_be_bytes(k.as_slice().try_into().unwrap()))
        .collect();
    assert_eq!(keys, vec![0, 1, 2, 3, 4, 5, 256, 300]);
    assert_eq!(all[6].1, b"leaf 256".to_vec());
    // Half-open bounds and limits.
    let r = s.scan(Table::LogLeaves, &be(2), Some(&be(5)), 100).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].0, be(2));
    assert_eq!(r[2].0, be(4));
    assert_eq!(s.scan(Table::LogLeaves, &be(1), None, 2).unwrap().len(), 2);
    assert!(s
        .scan(Table::LogLeaves, &be(5), Some(&be(5)), 10)
        .unwrap()
        .is_empty());
    assert!(s
        .scan(Table::LogLeaves, &be(6), Some(&be(2)), 10)
        .unwrap()
        .is_empty());
    assert!(s
        .scan(Table::LogLeaves, &be(0), None, 0)
        .unwrap()
        .is_empty());
    assert!(s
        .scan(Table::LogLeaves, &be(301), None, 10)
        .unwrap()
        .is_empty());

    // Prefix ranges, including prefixes ending in 0xff.
    let mut b = Batch::new();
    for k in [
        &b"a"[..],
        b"ab",
        b"ab\xff",
        b"ab\xff\xff",
        b"ac",
        b"\xff",
        b"\xff\xff\x01",
    ] {
        b.put(Table::SubjectAttributes, k.to_vec(), k.to_vec());
    }
    s.commit(&b).unwrap();
    let within = |p: &[u8]| -> Vec<Vec<u8>> {
        let (from, to) = prefix_range(p);
        s.scan(Table::SubjectAttributes, &from, to.as_deref(), 100)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(
        within(b"ab"),
        vec![b"ab".to_vec(), b"ab\xff".to_vec(), b"ab\xff\xff".to_vec()]
    );
    assert_eq!(
        within(b"ab\xff"),
        vec![b"ab\xff".to_vec(), b"ab\xff\xff".to_vec()]
    );
    assert_eq!(
        within(b"\xff"),
        vec![b"\xff".to_vec(), b"\xff\xff\x01".to_vec()]
    );
    assert_eq!(within(b"").len(), 7);
}

fn values(s: &dyn Store) {
    let big: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut b = Batch::new();
    b.put(Table::Submissions, vec![0u8, 0xff, 0, 7], Vec::new());
    b.put(Table::Submissions, b"big".to_vec(), big.clone());
    s.commit(&b).unwrap();
    assert_eq!(
        s.get(Table::Submissions, &[0, 0xff, 0, 7]).unwrap(),
        Some(Vec::new())
    );
    assert_eq!(s.get(Table::Submissions, b"big").unwrap(), Some(big));
    assert_eq!(
        s.get(Table::Submissions, &[0, 0xff, 0]).unwrap(),
        None,
        "no prefix match"
    );
}

fn concurrency(s: Arc<dyn Store>) {
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut won = 0;
                for i in 0..25u64 {
                    let mut b = Batch::new();
                    b.insert(Table::Verdicts, [be(t), be(i)].concat(), be(i));
                    s.commit(&b).unwrap();
                    // Everybody races for the same keys; exactly one insert of each may win.
                    let mut b = Batch::new();
                    b.insert(Table::Consents, be(i), be(t));
                    match s.commit(&b) {
                        Ok(()) => won += 1,
                        Err(StoreError::Exists { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                won
            })
        })
        .collect();
    let won: u64 = threads.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(s.count(Table::Verdicts).unwrap(), 200);
    assert_eq!(won, 25, "each contested key inserted exactly once");
    assert_eq!(s.count(Table::Consents).unwrap(), 25);
}

fn durability(backend: &mut dyn Backend) {
    let s = backend.fresh();
    let mut b = Batch::new();
    b.put(Table::Checkpoints, be(7), b"checkpoint".to_vec());
    b.insert(Table::Parties, b"tax".to_vec(), b"key".to_vec());
    s.commit(&b).unwrap();
    let mut bad = Batch::new();
    bad.put(Table::Checkpoints, be(8), b"lost".to_vec());
    bad.insert(Table::Parties, b"tax".to_vec(), b"dup".to_vec());
    assert!(s.commit(&bad).is_err());
    let Some(s) = backend.reopen(s) else {
        return;
    };
    assert_eq!(
        s.get(Table::Checkpoints, &be(7)).unwrap(),
        Some(b"checkpoint".to_vec())
    );
    assert_eq!(
        s.get(Table::Parties, b"tax").unwrap(),
        Some(b"key".to_vec())
    );
    assert_eq!(
        s.get(Table::Checkpoints, &be(8)).unwrap(),
        None,
        "failed batch persisted"
    );
    assert_eq!(s.count(Table::Checkpoints).unwrap(), 1);
}
