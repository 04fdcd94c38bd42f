//! A small OCI distribution client (`RegistryClient`) and a digest-preserving copy engine
//! (`copy_image`) for promoting images between registries. Manifests travel as the exact
//! bytes fetched; blobs stream from source to destination without being buffered.
//!
//! Layering: `copy` uses the client operations in `manifest_ops` and `blobs`, which share
//! the HTTP/auth core in `client`; `auth` and `manifest` are pure parsing.

mod auth;
mod blobs;
mod client;
mod copy;
mod error;
mod liveness;
mod manifest;
mod manifest_ops;
mod referrers;
mod response;
mod retry;
#[cfg(feature = "testing")]
pub mod testing;

pub use auth::{BearerChallenge, DEFAULT_MAX_CONCURRENT_REQUESTS, RegistryAuthConfig};
pub use client::RegistryClient;
pub use copy::{CopyOptions, CopyPlan, CopyReport, Progress, copy_image, copy_image_with_progress};
pub use error::{Error, Result, Role};
pub use liveness::{Activity, Timeouts};
pub use manifest::{
    ACCEPT_MANIFESTS, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, MAX_MANIFEST_BYTES,
    ManifestContents, OCI_INDEX, OCI_MANIFEST, RawManifest, is_supported,
};
pub use referrers::{MAX_REFERRERS, Referrer, parse_referrers, referrers_tag};
/// The URL type of `RegistryAuthConfig::token_realms`.
pub use reqwest::Url;
pub use retry::{MAX_RETRY_AFTER, RetryPolicy};
