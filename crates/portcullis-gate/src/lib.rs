//! The gate's own key and everything signed or keyed with it.
//!
//! A database row is not proof: whatever must stay true after a database superuser has had a
//! go is signed or MACed with a key that lives outside the database.
//! - [`GateKey`] (ECDSA P-256 or Ed25519, PKCS#8 PEM) signs records: decision statements,
//!   votes, evaluations and audit checkpoints. [`KeyRing`] verifies them with the current key
//!   and any retired public keys.
//! - [`MacKey`]s are derived from the gate key with HKDF, one per purpose (audit events, API
//!   token hashes), so a hash recomputed without the key matches nothing.
//! - Records are encoded canonically ([`canonical`]): versioned JSON with sorted keys, built
//!   field by field, so a record signed today verifies after any refactor of Rust types.

pub mod canonical;
mod checkpoint;
mod dsse;
mod error;
mod key;
mod mac;

pub use checkpoint::{Checkpoint, read_checkpoints};
pub use dsse::{Envelope, EnvelopeSignature, SignedRecord};
pub use error::{Error, Result};
pub use key::{Algorithm, GateKey, KeyRing, PublicKey};
pub use mac::{MacKey, MacPurpose};

/// `sha256:<hex>` of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
