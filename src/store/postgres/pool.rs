//! The PostgreSQL store's connections: where the database is ([`Location`], never printed with
//! its password), and the pool of dedicated threads that own one blocking connection each
//! (a `postgres::Client` must neither run nor be dropped on a thread driving async tasks).

use crate::store::StoreError;
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A database URL and schema, never printed with its password.
#[derive(Clone)]
pub struct Location {
    url: String,
    pub(super) schema: String,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (schema {})", redact(&self.url), self.schema)
    }
}

/// What may be printed of a store URL: user, hosts, ports and database — built from the parsed
/// configuration, so a password in any of libpq's forms (`user:pw@`, `?password=`,
/// `password='…'`) is never part of it.
pub fn redact(url: &str) -> String {
    match url.parse::<postgres::Config>() {
        Ok(c) => {
            let hosts: Vec<String> = c
                .get_hosts()
                .iter()
                .zip(c.get_ports().iter().chain(std::iter::repeat(&5432)))
                .map(|(h, p)| match h {
                    postgres::config::Host::Tcp(h) => format!("{h}:{p}"),
                    #[cfg(unix)]
                    postgres::config::Host::Unix(path) => format!("{}:{p}", path.display()),
                })
                .collect();
            format!(
                "postgres://{}{}/{}",
                c.get_user().map(|u| format!("{u}@")).unwrap_or_default(),
                hosts.join(","),
                c.get_dbname().unwrap_or("")
            )
        }
        Err(_) => "<a store URL that does not parse>".into(),
    }
}

impl Location {
    /// A location: `url` as libpq takes it (`postgres://user@host:port/db` or `host=… dbname=…`)
    /// and the schema the tables live in (letters, digits and `_`, starting with a letter or
    /// `_`, at most 63 bytes).
    pub fn new(url: &str, schema: &str) -> Result<Self, StoreError> {
        let ok = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.as_bytes()[0].is_ascii_digit()
            && schema != "public"
            && !schema.starts_with("pg_");
        if !ok {
            return Err(StoreError::Backend(format!(
                "store schema {schema:?}: use lower-case letters, digits and _ (at most 63, not starting with a digit; not `public` or `pg_…`: the store owns its schema)"
            )));
        }
        url.parse::<postgres::Config>()
            .map_err(|e| StoreError::Backend(format!("store URL {}: {e}", redact(url))))?;
        Ok(Location {
            url: url.to_string(),
            schema: schema.to_string(),
        })
    }

    pub(super) fn connect(&self) -> Result<Conn, StoreError> {
        let mut config: postgres::Config = self.url.parse().map_err(backend)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        config.application_name("credence");
        let mut client = config
            .connect(NoTls)
            .map_err(|e| StoreError::Backend(format!("connecting to {self:?}: {e}")))?;
        // Durable on acknowledgement whatever the database's default; one schema of ours.
        client
            .batch_execute(&format!(
                "SET synchronous_commit = on; SET lock_timeout = '30s'; SET client_min_messages = warning; SET search_path TO \"{}\"",
                self.schema
            ))
            .map_err(backend)?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }
}

pub(super) struct Conn {
    pub(super) client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    pub(super) fn statement(&mut self, sql: String) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(&sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }
}

pub(super) type Job = Box<dyn FnOnce(&mut Option<Conn>, &Location) + Send>;

pub(super) fn spawn_worker(
    name: String,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    location: Location,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let mut conn: Option<Conn> = None;
            loop {
                let job = {
                    let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
                    rx.recv()
                };
                let Ok(job) = job else { return };
                if conn.as_ref().is_some_and(|c| c.client.is_closed()) {
                    conn = None;
                }
                job(&mut conn, &location);
            }
        })
        .map_err(backend)
}

/// Runs `f` on a connection of the pool fed by `jobs` and waits for its answer. A connection
/// that failed is dropped, and the next job on that thread connects afresh.
pub(super) fn run_on<T: Send + 'static>(
    jobs: &Mutex<Option<mpsc::Sender<Job>>>,
    f: impl FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move |conn: &mut Option<Conn>, location: &Location| {
        let result = (|| {
            if conn.is_none() {
                *conn = Some(location.connect()?);
            }
            let c = conn.as_mut().expect("connected above");
            let r = f(c);
            if r.is_err() && c.client.is_closed() {
                *conn = None;
            }
            r
        })();
        let _ = tx.send(result);
    });
    {
        let jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
        let sender = jobs
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the store is closed".into()))?;
        sender
            .send(job)
            .map_err(|_| StoreError::Backend("the store's connection pool stopped".into()))?;
    }
    rx.recv()
        .map_err(|_| StoreError::Backend("a store connection thread stopped".into()))?
}

/// Releases the log-head lock on the connection that took it.
pub(super) struct HeadGuard {
    pub(super) jobs: mpsc::Sender<Job>,
    pub(super) key: i64,
}

impl Drop for HeadGuard {
    fn drop(&mut self) {
        let key = self.key;
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn: &mut Option<Conn>, _: &Location| {
            if let Some(c) = conn.as_mut() {
                if c.client
                    .execute("SELECT pg_advisory_unlock($1)", &[&key])
                    .is_err()
                {
                    // A broken session holds no lock any more; start afresh.
                    *conn = None;
                }
            }
            let _ = tx.send(());
        });
        if self.jobs.send(job).is_ok() {
            let _ = rx.recv();
        }
    }
}

/// Runs `f` on a fresh OS thread (no async runtime there) and waits for it.
pub(super) fn off_runtime<T: Send>(
    f: impl FnOnce() -> Result<T, StoreError> + Send,
) -> Result<T, StoreError> {
    std::thread::scope(|scope| {
        scope
            .spawn(f)
            .join()
            .unwrap_or_else(|_| Err(StoreError::Backend("a store thread panicked".into())))
    })
}
