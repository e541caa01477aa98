//! FHE lowerings of a policy: evaluating it on TFHE ciphertexts (`tfhe` high-level API).
//!
//! Every attribute a policy reads arrives as an [`tfhe::FheUint16`] (the catalogue bounds every value
//! by 65535). [`evaluate_naive`] is the **naive lowering**: the policy written straight on the
//! high-level API, one comparison or arithmetic operator per node, sums in [`tfhe::FheUint16`] (or
//! [`tfhe::FheUint32`] when a sum's span needs it). It is
//! the baseline the optimised lowering is measured against (bootstrap counts and time), and a
//! second oracle, checked against the plaintext evaluator on every shipped policy.
//!
//! The caller must have installed the server key on the evaluating thread
//! ([`tfhe::set_server_key`]); the service does that on a dedicated rayon pool.

#[cfg(feature = "fhe")]
pub mod exec;
#[cfg(feature = "fhe")]
mod naive;
#[cfg(feature = "fhe")]
pub mod packed;
pub mod plan;

#[cfg(feature = "fhe")]
pub use naive::*;
