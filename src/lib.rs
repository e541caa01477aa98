//! # credence
//!
//! The Credence service: privacy-preserving credit computation. Data holders submit credit
//! attributes encrypted (TFHE) or committed (Pedersen); banks ask eligibility questions and get
//! verdicts backed by homomorphic evaluation or zero-knowledge proofs, recorded in a
//! tamper-evident log that privacy auditors verify.
//!
//! Everything a verifier needs lives in [`credence_protocols`]; policies live in
//! [`credence_circuits`]. This crate is laid out by who runs the code:
//!
//! | module | who runs it |
//! |---|---|
//! | [`server`] | the service process: HTTP API, log, compute engine, storage schema |
//! | [`key_authority`] | the key authority (client key, decryption, its signing key) |
//! | [`witness`] | an independent witness that cosigns checkpoints |
//! | [`party`] | holders, subjects, banks and auditors, on their own machines (never imports `server`) |
//! | [`fhe`] | TFHE keys and the engine, shared by the server, the key authority and the auditor |
//! | [`store`] | the storage trait and its backends |
//! | [`tls`] | TLS for the service's listener and every party's connection |
//! | [`cli`] | the `credence` command |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod fhe;
pub mod key_authority;
pub mod party;
pub mod server;
pub mod store;
pub mod tls;
pub mod witness;

pub use credence_circuits as circuits;
pub use credence_protocols as protocols;
