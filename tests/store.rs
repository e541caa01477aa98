//! The storage conformance suite on every backend (PostgreSQL when `CREDENCE_TEST_POSTGRES`
//! names a server), and the embedded and PostgreSQL backends' own behaviour.

mod common;

use credence::store::conformance::{run, Backend};
use credence::store::embedded::EmbeddedStore;
use credence::store::memory::MemoryStore;
use credence::store::postgres::{Location, PostgresStore};
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

/// Each fresh store is a schema of its own in one test database; reopening opens the same
/// schema with new connections.
struct Postgres {
    url: String,
    n: usize,
    current: Option<String>,
}

impl Backend for Postgres {
    fn fresh(&mut self) -> Arc<dyn Store> {
        self.n += 1;
        let schema = format!("conformance_{}", self.n);
        self.current = Some(schema.clone());
        Arc::new(PostgresStore::open(Location::new(&self.url, &schema).unwrap(), 4).unwrap())
    }
    fn reopen(&mut self, store: Arc<dyn Store>) -> Option<Arc<dyn Store>> {
        assert_eq!(
            Arc::strong_count(&store),
            1,
            "the suite holds the only handle"
        );
        drop(store);
        let schema = self.current.clone().unwrap();
        Some(Arc::new(
            PostgresStore::open(Location::new(&self.url, &schema).unwrap(), 4).unwrap(),
        ))
    }
}

#[test]
fn postgres_backend_conforms() {
    let Some(url) = common::postgres_database("conformance") else {
        return;
    };
    run(&mut Postgres {
        url,
        n: 0,
        current: None,
    });
}

#[test]
fn postgres_schema_is_versioned_and_a_newer_one_is_refused() {
    let Some(url) = common::postgres_database("schema") else {
        return;
    };
    let location = Location::new(&url, "versioned").unwrap();
    // Two instances starting at once both migrate safely (the advisory lock) and agree.
    let a = std::thread::spawn({
        let l = location.clone();
        move || PostgresStore::open(l, 1).map(|_| ())
    });
    let b = std::thread::spawn({
        let l = location.clone();
        move || PostgresStore::open(l, 1).map(|_| ())
    });
    a.join().unwrap().unwrap();
    b.join().unwrap().unwrap();
    let s = PostgresStore::open(location.clone(), 2).unwrap();
    let mut b = Batch::new();
    b.put(Table::Meta, b"kept".to_vec(), b"v".to_vec());
    s.commit(&b).unwrap();
    drop(s);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let v: i32 = client
        .query_one("SELECT version FROM versioned.credence_schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, credence::store::postgres::SCHEMA_VERSION);
    // A schema from a newer credence is refused, and refusing changes nothing.
    client
        .batch_execute("UPDATE versioned.credence_schema_version SET version = version + 1")
        .unwrap();
    let err = PostgresStore::open(location.clone(), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("newer credence"), "{err}");
    client
        .batch_execute("UPDATE versioned.credence_schema_version SET version = version - 1")
        .unwrap();
    let s = PostgresStore::open(location, 1).unwrap();
    assert_eq!(s.get(Table::Meta, b"kept").unwrap(), Some(b"v".to_vec()));
    // Oversized keys are refused before reaching the database; nothing of the batch lands.
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

#[test]
fn postgres_unreachable_is_a_clear_error() {
    // A port nothing listens on: opening fails with the address, never the password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://credence:s3cret@127.0.0.1:{port}/credence?connect_timeout=2");
    let err = PostgresStore::open(Location::new(&url, "credence").unwrap(), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("connecting to"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    let err = Location::new("postgres://x@localhost/db", "Bobby; DROP")
        .unwrap_err()
        .to_string();
    assert!(err.contains("schema"), "{err}");
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
