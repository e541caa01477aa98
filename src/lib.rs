//! # credence
//!
//! The Credence service: privacy-preserving credit computation. Data holders submit credit
//! attributes encrypted (TFHE) or committed (Pedersen); banks ask eligibility questions and get
//! verdicts backed by homomorphic evaluation or zero-knowledge proofs, recorded in a
//! tamper-evident log that privacy auditors verify.
//!
//! Everything a verifier needs lives in [`credence_protocols`]; policies live in
//! [`credence_circuits`]. This crate is the service around them: the HTTP API ([`service`]) on
//! a storage trait ([`store`]) with the log ([`log_service`]), request authentication
//! ([`auth`]), the FHE engine ([`fhe`]), the key authority ([`key_authority`]), the typed client
//! ([`client`]), what each party does on its own machine ([`roles`], [`cli`]), the auditor
//! ([`audit`]), witnessing ([`witness`]), `credence serve` ([`serve`]) and `credence demo`
//! ([`demo`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod auth;
pub mod cli;
pub mod client;
pub mod demo;
pub mod fhe;
pub mod key_authority;
pub mod log_service;
pub mod roles;
pub mod serve;
pub mod service;
pub mod store;
pub mod witness;

pub use credence_circuits as circuits;
pub use credence_protocols as protocols;
