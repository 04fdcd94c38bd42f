//! A small OCI distribution client (`RegistryClient`) and a digest-preserving copy engine
//! (`copy_image`) for promoting images between registries. Manifests travel as the exact
//! bytes fetched; blobs stream from source to destination without being buffered.
//!
//! Layering: `copy` (phases `plan`, `put`, `tag`) uses the client operations in
//! `manifest_ops` and `blobs`, which share the HTTP core in `client` (sending in
//! `client::send`, retry decisions in `retry`); `response` checks answers for all of them,
//! including the token flow in `auth`; `auth` and `manifest` are otherwise pure parsing.
//! Errors of a copy carry the end that failed (`Role`). `retag` re-points a tag at content
//! already in the repository (a rollback) after checking every piece of it is there.
//!
//! Why an own client on reqwest rather than `oci-client` (0.18, already in the graph for the
//! test kit): what the gate needs of a copy is not there. Read from its source:
//! - no retries: a 429/502/503/504 or a dropped connection fails the operation, and
//!   `Retry-After` is not read (here: `RetryPolicy`, whole-transfer restarts of streamed
//!   blobs);
//! - timeouts are reqwest's connect/read timeouts only: nothing bounds the wait for response
//!   headers after a streamed upload, and no progress clock tells a slow copy from a stalled
//!   one (here: `Timeouts`, `Activity`, which the copier's lease renewal reads);
//! - `mount_blob` treats a declined mount (202 with an upload session) as an error instead
//!   of uploading into the session offered;
//! - no limit on requests in flight per registry across operations (only per pull/push);
//! - its errors carry the registry's response body and the request URL (upload URLs hold
//!   session state), which the gate must never store or show (here: OCI error codes only);
//! - no digest-preserving copy: a caller composes pull and push itself.
//!
//! It does stream blobs, fall back to the referrers tag schema and mount within a registry.
//! Measured with `examples/oci_client_compare.rs` (release, local `docker-registry`, 2 busy
//! cores, one run): a manifest HEAD round trip 1.6 ms here against 3.4 ms with oci-client
//! (mean of 200); a 100 MiB, 5-layer copy to a fresh registry 0.92 s here against 0.75 s for
//! a hand-written oci-client copy that checks no tag, fetches no signatures or referrers and
//! hashes nothing itself. Speed is not the reason; the list above is.

mod attach;
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
mod retag;
mod retry;
#[cfg(feature = "testing")]
pub mod testing;

pub use attach::{Attachment, KEEP_OF_A_KIND, MAX_ATT_LAYERS, PreparedLayer, Subject};
pub use auth::{BearerChallenge, DEFAULT_MAX_CONCURRENT_REQUESTS, RegistryAuthConfig};
pub use client::RegistryClient;
pub use copy::{
    CopyOptions, CopyPlan, CopyReport, PLAN_FRESH_FOR, PlannedCopy, Progress, copy_image,
    copy_image_planned, copy_image_with_progress, plan_copy,
};
pub use error::{Error, Result, Role};
pub use liveness::{Activity, Timeouts};
pub use manifest::{
    ACCEPT_MANIFESTS, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, MAX_MANIFEST_BYTES,
    ManifestContents, OCI_INDEX, OCI_MANIFEST, RawManifest, is_supported,
};
pub use referrers::{MAX_REFERRERS, Referrer, parse_referrers, referrers_tag};
/// The URL type of `RegistryAuthConfig::token_realms`.
pub use reqwest::Url;
pub use retag::{InPlace, MAX_IN_PLACE_MANIFESTS};
pub use retry::{MAX_RETRY_AFTER, RetryPolicy};
