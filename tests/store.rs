//! The storage conformance suite on every backend, and the embedded backend's file behaviour.

use credence::store::conformance::{run, Backend};
use credence::store::embedded::EmbeddedStore;
use credence::store::memory::MemoryStore;
use credence::store::{Batch, Store, Table};
use std::path::PathBuf;
use std::sync::Arc;

struct Memory;

impl Backend for Memory {
    fn fresh(&mut self) -> Arc<dyn Store> {
        Arc::new(MemoryStore::new())
    }
    fn reopen(&mut self, _: Arc<dyn Store>) -> Option<Arc<dyn Store>> {
        None
    }
}

struct Embedded {
    dir: PathBuf,
    n: usize,
    current: Option<PathBuf>,
}

impl Embedded {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("credence-store-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Embedded {
            dir,
            n: 0,
            current: None,
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Backend for Embedded {
    fn fresh(&mut self) -> Arc<dyn Store> {
        self.n += 1;
        let path = self.dir.join(format!("store-{}.redb", self.n));
        self.current = Some(path.clone());
        Arc::new(EmbeddedStore::open(&path).unwrap())
    }
    fn reopen(&mut self, store: Arc<dyn Store>) -> Option<Arc<dyn Store>> {
        assert_eq!(
            Arc::strong_count(&store),
            1,
            "the suite holds the only handle"
        );
        drop(store);
        let path = self.current.clone().unwrap();
        Some(Arc::new(EmbeddedStore::open(&path).unwrap()))
    }
}

#[test]
fn memory_backend_conforms() {
    run(&mut Memory);
}

#[test]
fn embedded_backend_conforms() {
    run(&mut Embedded::new("conformance"));
}

#[test]
fn embedded_store_is_one_file_that_survives_reopening() {
    let backend = Embedded::new("file");
    let path = backend.dir.join("credence.redb");
    {
        let s = EmbeddedStore::open(&path).unwrap();
        let mut b = Batch::new();
        for i in 0..1000u64 {
            b.put(
                Table::LogLeaves,
                i.to_be_bytes().to_vec(),
                vec![i as u8; 100],
            );
        }
        s.commit(&b).unwrap();
    }
    let files: Vec<_> = std::fs::read_dir(&backend.dir).unwrap().collect();
    assert_eq!(files.len(), 1, "one file: {files:?}");
    let s = EmbeddedStore::open(&path).unwrap();
    assert_eq!(s.count(Table::LogLeaves).unwrap(), 1000);
    assert_eq!(
        s.get(Table::LogLeaves, &999u64.to_be_bytes()).unwrap(),
        Some(vec![231u8; 100])
    );
    // Oversized keys are refused, and refusing changes nothing.
    let mut b = Batch::new();
    b.put(Table::Meta, b"ok".to_vec(), b"v".to_vec());
    b.put(
        Table::Meta,
        vec![1u8; credence::store::MAX_KEY + 1],
        b"v".to_vec(),
    );
    assert!(s.commit(&b).is_err());
    assert_eq!(s.get(Table::Meta, b"ok").unwrap(), None);
}
