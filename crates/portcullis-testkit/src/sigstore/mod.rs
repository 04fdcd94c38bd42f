//! A private Sigstore deployment for tests, entirely offline: its own Fulcio CA
//! ([`crate::FakeFulcio`]), CT log ([`FakeCtLog`]), Rekor v1 ([`crate::FakeRekor`]) and v2
//! ([`FakeRekorV2`]) logs and TSA ([`FakeTsa`]), written out as a `trusted_root.json`
//! ([`TrustedRootBuilder`]), signing images the way today's tools do: Sigstore bundles
//! ([`Bundle`], v0.1 – v0.3) pushed as OCI 1.1 referrers, and keyless attestations in cosign's
//! `.att` layout.
//!
//! # Public API (all re-exported here)
//! - [`PrivateSigstore::new`] owns one of each service; [`PrivateSigstore::trusted_root`] /
//!   [`PrivateSigstore::write_trusted_root`] (everything valid from 2000 on), or
//!   [`PrivateSigstore::trusted_root_builder`] to change windows and add other entries.
//! - [`PrivateSigstore::issue`]: a Fulcio leaf **with an embedded SCT** (plain
//!   [`crate::FakeFulcio::issue`] gives one without; [`crate::FakeFulcio::issue_with_sct`]
//!   takes any CT log). [`crate::LeafSpec::extensions`] ([`FulcioExtensions`]) sets the issuer
//!   extensions separately and the GitHub workflow ones; [`crate::SanSubject::OtherName`].
//! - [`PrivateSigstore::sign_image`] (cosign v3: DSSE over an in-toto statement with predicate
//!   [`COSIGN_SIGN_PREDICATE`]), [`PrivateSigstore::attest`] (any predicate),
//!   [`PrivateSigstore::sign_message`] (messageSignature over e.g. the manifest bytes),
//!   [`PrivateSigstore::sign_with_key`] (key-based, publicKey hint), each with [`SignOptions`]
//!   (bundle version, which log, integrated time, RFC 3161 timestamp or none).
//! - [`push_bundle_referrer`] pushes a bundle as a referrer (optionally also in the
//!   `sha256-<hex>` tag-schema index); [`PrivateSigstore::keyless_attestation`] +
//!   [`push_keyless_attestation`] write cosign's `.att` layer with an `intoto` 0.0.1 or `dsse`
//!   0.0.1 entry bound to that exact envelope ([`AttKind`]).
//! - Lower level: [`FakeRekor::log`](crate::FakeRekor::log) / [`FakeRekorV2::log`] return a
//!   [`LogEntry`] with SET (v1 only), [`InclusionProof`] and checkpoint; entry bodies via
//!   `FakeRekor::{intoto_v001_body, intoto_v002_body, dsse_v001_body, hashedrekord_body}` and
//!   `FakeRekorV2::{hashedrekord_body, dsse_body}`; [`FakeTsa::timestamp`] (token) and
//!   [`FakeTsa::timestamp_response`] (what bundles carry); [`merkle`] for hashing.
//! - Windows: [`PrivateSigstore::trusted_root_builder`] lists every service valid from 2000;
//!   to give one service another window (or leave it out), start from
//!   [`TrustedRootBuilder::new`] and add each service with its own [`ValidFor`].
//!
//! The bundles verify with sigstore-python 4.x offline against this trusted root (see
//! `tests/sigstore_python.rs`, ignored unless `SIGSTORE_PYTHON` names the CLI).
//!
//! ```no_run
//! # async fn demo(registry: &str, digest: &str) -> portcullis_testkit::Result<()> {
//! use portcullis_testkit::sigstore::*;
//! use portcullis_testkit::{LeafSpec, SanSubject, unix_now};
//!
//! let sigstore = PrivateSigstore::new()?;
//! sigstore.write_trusted_root(std::path::Path::new("trusted_root.json"))?;
//! let workflow = "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1";
//! let mut spec = LeafSpec::new(
//!     SanSubject::Uri(workflow.into()),
//!     "https://token.actions.githubusercontent.com",
//! );
//! spec.extensions = FulcioExtensions::github_workflow(
//!     "github.com/org/app", "refs/tags/v1", "0123abcd", ".github/workflows/release.yml",
//! );
//! let leaf = sigstore.issue(&spec)?; // embedded SCT
//! // cosign v3 image signature, logged in Rekor v2, timed by the TSA:
//! let bundle = sigstore.sign_image(&leaf, digest, &SignOptions::rekor_v2())?;
//! push_bundle_referrer(registry, "app", digest, &bundle.to_vec()?, BUNDLE_V03_MEDIA_TYPE, true)
//!     .await?;
//! // keyless SLSA attestation in cosign's .att layout, logged as dsse 0.0.1:
//! let predicate = serde_json::json!({"builder": {"id": "https://github.com/org/app"}});
//! let att = sigstore.keyless_attestation(
//!     &leaf, digest, "https://slsa.dev/provenance/v0.2", &predicate, AttKind::DsseV001,
//!     unix_now(),
//! )?;
//! push_keyless_attestation(registry, "app", digest, &att).await?;
//! # Ok(()) }
//! ```

mod bundle;
mod ct;
pub(crate) mod der;
mod entry;
pub(crate) mod fulcio;
pub mod merkle;
mod referrers;
pub(crate) mod rekor;
mod rekor_v2;
mod sign;
mod trusted_root;
mod tsa;

pub use bundle::{
    BUNDLE_V01_MEDIA_TYPE, BUNDLE_V02_MEDIA_TYPE, BUNDLE_V03_MEDIA_TYPE, Bundle, BundleContent,
    BundleVersion, COSIGN_SIGN_PREDICATE, Material, cosign_sign_statement, sign_envelope,
};
pub use ct::{FakeCtLog, SCT_LIST_OID, sct_signed_data};
pub use entry::{LogEntry, canonical_json};
pub use fulcio::{FulcioExtensions, fulcio_oid};
pub use merkle::InclusionProof;
pub use referrers::{AttKind, KeylessAttestation, push_bundle_referrer, push_keyless_attestation};
pub use rekor::REKOR_V1_NAME;
pub use rekor_v2::{ECDSA_P256_KEY_DETAILS, FakeRekorV2};
pub use sign::{PrivateSigstore, SignOptions, TlogChoice};
pub use trusted_root::{TRUSTED_ROOT_MEDIA_TYPE, TrustedRootBuilder, ValidFor, rfc3339};
pub use tsa::{FakeTsa, TSA_POLICY_OID, TST_INFO_OID};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// A DER certificate as PEM (64-column base64).
pub fn pem_certificate(der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}
