//! Evidence about a digest: cosign signatures verified with the sigstore crate against the
//! trusted keys, signed in-toto attestations, and CI-supplied scanner reports, SBOMs and VEX
//! documents, all parsed into the one evidence model. The policy only ever sees what this
//! crate verified or normalised.

mod attestations;
mod bundles;
mod cache;
mod collector;
mod cyclonedx;
mod de;
mod dsse;
mod error;
mod grype;
mod keyless;
mod keys;
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
pub use keyless::bundle::{
    BUNDLE_MEDIA_TYPES, BundleReport, COSIGN_SIGN_PREDICATE, MAX_BUNDLE_BYTES, verify_bundle,
};
pub use keyless::{KeylessConfig, KeylessHandle, KeylessIdentity, KeylessTrust};
pub use keys::TrustedKey;
pub use licence::{MAX_ALTERNATIVES, parse_licence, parse_licence_entries};
pub use limits::{Budget, LimitExceeded, Limits, Tally, VEX_PAIRS_PER_STATEMENT};
pub use openvex::parse_openvex_with_origin;
pub use provenance::{SLSA_PROVENANCE_V1, SLSA_PROVENANCE_V02};
pub use purl::{PackageUrl, image_digest};
pub use signatures::SignatureVerifier;
pub use spdx::parse_spdx_with_origin;
pub use statement::COSIGN_VULN_V1;
pub use trivy::{parse_trivy, parse_trivy_with_origin};
pub use vex::{VexIndex, governing_statement};

use portcullis_core::{EvidenceFormat, EvidenceItems, EvidenceOrigin};

/// Parses a CI-supplied document of `format` from its JSON text.
pub fn parse_report(format: EvidenceFormat, text: &str) -> Result<EvidenceItems> {
    parse_report_within(format, text, &Budget::unlimited())
}

/// Parses a CI-supplied document of `format`, refusing it (`Error::TooLarge`) before its
/// items are built when what it holds breaks `budget`.
pub fn parse_report_within(
    format: EvidenceFormat,
    text: &str,
    budget: &Budget,
) -> Result<EvidenceItems> {
    parse_bounded(format, text, EvidenceOrigin::ci(format), budget)
}

/// Parses a document of `format`, recording `origin` on every item (attestation predicates
/// go through here with a signed origin).
pub fn parse_with_origin(
    format: EvidenceFormat,
    text: &str,
    origin: EvidenceOrigin,
) -> Result<EvidenceItems> {
    parse_bounded(format, text, origin, &Budget::unlimited())
}

fn parse_bounded(
    format: EvidenceFormat,
    text: &str,
    origin: EvidenceOrigin,
    budget: &Budget,
) -> Result<EvidenceItems> {
    let mut items = EvidenceItems::default();
    match format {
        EvidenceFormat::TrivyJson => items
            .vulnerability_reports
            .push(trivy::parse_bounded(text, origin, budget)?),
        EvidenceFormat::GrypeJson => items
            .vulnerability_reports
            .push(parse_grype_with_origin(text, origin)?),
        EvidenceFormat::CycloneDxJson => {
            items.extend(cyclonedx::parse_bounded(text, origin, budget)?);
        }
        EvidenceFormat::SpdxJson => items.sboms.push(spdx::parse_bounded(text, origin, budget)?),
        EvidenceFormat::OpenVex => items.vex = openvex::parse_bounded(text, origin, budget)?,
    }
    Ok(items)
}
