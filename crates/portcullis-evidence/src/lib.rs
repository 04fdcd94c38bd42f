//! Evidence about a digest: cosign signatures verified with the sigstore crate against the
//! trusted keys, signed in-toto attestations, and CI-supplied scanner reports, SBOMs and VEX
//! documents, all parsed into the one evidence model. The policy only ever sees what this
//! crate verified or normalised.

mod attestations;
mod cache;
mod collector;
mod cyclonedx;
mod dsse;
mod error;
mod fields;
mod grype;
mod keyless;
mod licence;
mod limits;
mod openvex;
mod provenance;
mod purl;
mod signatures;
mod spdx;
mod statement;
mod trivy;
mod vex;

pub use attestations::{AttestationVerifier, MAX_ATTESTATION_REFERRERS, MAX_ENVELOPES};
pub use cache::{CacheOutcome, CacheStats, VerificationCache};
pub use collector::{EvidenceCollector, Verified};
pub use cyclonedx::parse_cyclonedx_with_origin;
pub use dsse::{DSSE_MEDIA_TYPE, Envelope, EnvelopeSignature, IN_TOTO_PAYLOAD_TYPE, pae};
pub use error::{Error, Result};
pub use grype::parse_grype_with_origin;
pub use keyless::{KeylessConfig, KeylessIdentity, KeylessTrust};
pub use licence::{MAX_ALTERNATIVES, parse_licence, parse_licence_entries};
pub use limits::{LimitExceeded, Limits, Tally, VEX_PAIRS_PER_STATEMENT};
pub use openvex::parse_openvex_with_origin;
pub use provenance::{SLSA_PROVENANCE_V1, SLSA_PROVENANCE_V02};
pub use purl::{PackageUrl, image_digest};
pub use signatures::{SignatureVerifier, TrustedKey};
pub use spdx::parse_spdx_with_origin;
pub use statement::COSIGN_VULN_V1;
pub use trivy::{parse_trivy, parse_trivy_with_origin};
pub use vex::{VexIndex, governing_statement};

use portcullis_core::{EvidenceItems, EvidenceOrigin};

/// The CI-supplied evidence formats understood.
pub const REPORT_FORMATS: &[&str] = &[
    "trivy-json",
    "grype-json",
    "cyclonedx-json",
    "spdx-json",
    "openvex",
];

/// Parses a CI-supplied document of `format`.
pub fn parse_report(format: &str, document: &serde_json::Value) -> Result<EvidenceItems> {
    parse_with_origin(format, document, EvidenceOrigin::ci(format))
}

/// Parses a document of `format`, recording `origin` on every item (attestation predicates
/// go through here with a signed origin).
pub fn parse_with_origin(
    format: &str,
    document: &serde_json::Value,
    origin: EvidenceOrigin,
) -> Result<EvidenceItems> {
    let mut items = EvidenceItems::default();
    match format {
        "trivy-json" => items
            .vulnerability_reports
            .push(parse_trivy_with_origin(document, origin)?),
        "grype-json" => items
            .vulnerability_reports
            .push(parse_grype_with_origin(document, origin)?),
        "cyclonedx-json" => items.extend(parse_cyclonedx_with_origin(document, origin)?),
        "spdx-json" => items.sboms.push(parse_spdx_with_origin(document, origin)?),
        "openvex" => items.vex = parse_openvex_with_origin(document, origin)?,
        other => return Err(Error::UnknownFormat(other.to_owned())),
    }
    Ok(items)
}
