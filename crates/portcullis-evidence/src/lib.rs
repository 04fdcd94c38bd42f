//! Evidence about a digest: cosign signatures verified with the sigstore crate against the
//! trusted keys, and CI-supplied scanner reports parsed into the evidence model. The policy
//! only ever sees what this crate verified or normalised.

mod error;
mod signatures;
mod trivy;

pub use error::{Error, Result};
pub use signatures::{SignatureVerifier, TrustedKey};
pub use trivy::parse_trivy;

use portcullis_core::VulnerabilityReport;

/// The CI-supplied report formats understood today.
pub const REPORT_FORMATS: &[&str] = &["trivy-json"];

/// Parses a CI-supplied report of `format`.
pub fn parse_report(format: &str, document: &serde_json::Value) -> Result<VulnerabilityReport> {
    match format {
        "trivy-json" => parse_trivy(document),
        other => Err(Error::UnknownFormat(other.to_owned())),
    }
}
