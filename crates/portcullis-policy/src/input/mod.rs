//! The policy input document (`policies/input.schema.json`) as typed structs, one per
//! section, borrowing from the evidence they describe.
//!
//! Every struct lists its fields in key order, so the JSON text serde writes is the
//! document's canonical text (sorted keys, no spaces): what `input_hash` hashes and what a
//! dry run answers. [`Input::to_value`] (in `value.rs`) builds the engine's value from
//! the same structs without going through JSON.

use std::collections::BTreeMap;

use portcullis_core::{
    AttestationEvidence, Digest, EvidenceOrigin, EvidenceSet, ImageRef, RejectedAttestation,
    Severity, SignatureEvidence, SignatureStatus, VexStatement, Vulnerability, WaiverKind,
    WaiverScope,
};
use serde::Serialize;

mod assemble;
mod entries;
mod part;
mod sections;
mod value;

pub use assemble::{Assembled, Head, assemble};
pub use part::DocumentPart;

pub use sections::{
    ComponentEntry, Counts, Finding, LicenceView, ProvenanceEntry, ReportEntry, SbomEntry,
    Suppressed, VexEntry,
};

/// Severities in the order of `vulnerability_index`'s keys as the schema lists them.
pub const SEVERITIES: [Severity; 6] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Negligible,
    Severity::Unknown,
];

/// The promotion request as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestInfo {
    /// Destination repository, `host/repo`.
    pub destination: String,
    /// Whether this is a dry run.
    pub dry_run: bool,
    /// `promotion`, or `rollback` for a channel tag moved back to an earlier promoted digest.
    pub kind: portcullis_core::PromotionKind,
    /// The caller's subject.
    pub requested_by: String,
    /// The route's name.
    pub route: String,
    /// The production tag asked for, if any.
    pub tag: Option<String>,
}

/// `waivers[]`: an active, unexpired waiver whose scope covers the image, keys in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverEntry {
    /// When it stops applying (RFC 3339, UTC).
    pub expires_at: String,
    /// The waiver's id (a UUID).
    pub id: String,
    /// What it waives.
    pub kind: WaiverKind,
    /// The vulnerability id (or alias) or licence term it waives.
    #[serde(rename = "match")]
    pub matched: String,
    /// `{repository_prefix}` or `{digest}`.
    pub scope: WaiverScope,
}

/// The whole input document.
#[derive(Debug, Serialize)]
pub struct Input<'a> {
    /// The image, pinned to its digest.
    pub artifact: Artifact<'a>,
    /// Attestations found for the digest.
    pub attestations: Attestations<'a>,
    /// Every SBOM component, in SBOM order.
    pub components: Vec<ComponentEntry<'a>>,
    /// Licence term → positions in `components`.
    pub licence_index: BTreeMap<&'a str, Vec<usize>>,
    /// Build provenance.
    pub provenance: Vec<ProvenanceEntry<'a>>,
    /// The request.
    pub request: &'a RequestInfo,
    /// One entry per SBOM.
    pub sboms: Vec<SbomEntry<'a>>,
    /// Cosign signatures of the digest.
    pub signatures: Signatures<'a>,
    /// Positions in `vulnerabilities` of findings a VEX statement suppresses.
    pub suppressed_index: Vec<usize>,
    /// Every VEX statement.
    pub vex: Vec<VexEntry<'a>>,
    /// Every finding of every report.
    pub vulnerabilities: Vec<Finding<'a>>,
    /// Severity → positions in `vulnerabilities`; every severity is present.
    pub vulnerability_index: BTreeMap<&'static str, Vec<usize>>,
    /// One entry per vulnerability report.
    pub vulnerability_reports: Vec<ReportEntry<'a>>,
    /// The active, unexpired waivers whose scope covers the image.
    pub waivers: &'a [WaiverEntry],
}

/// `artifact`.
#[derive(Debug, Serialize)]
pub struct Artifact<'a> {
    /// The manifest digest.
    pub digest: &'a Digest,
    /// The registry host.
    pub registry: &'a str,
    /// The repository.
    pub repository: &'a str,
    /// `registry/repository@digest`.
    pub source: String,
}

/// `signatures`.
#[derive(Debug, Serialize)]
pub struct Signatures<'a> {
    /// Why fetching failed, when it did.
    pub error: &'a Option<String>,
    /// Signature layers found.
    pub signatures_found: usize,
    /// The keyless signers of the verified signatures.
    pub signers: Vec<SignerView<'a>>,
    /// Overall status.
    pub status: SignatureStatus,
    /// Keys and identities that verified a signature.
    pub verified_key_ids: &'a [String],
}

/// A keyless signer, keys in order: the Fulcio certificate's identity and build facts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SignerView<'a> {
    /// The build configuration (OID 1.18).
    pub build_config_uri: &'a Option<String>,
    /// The OIDC issuer.
    pub issuer: &'a Option<String>,
    /// The run that built it (OID 1.21).
    pub run_invocation_uri: &'a Option<String>,
    /// The source commit (OID 1.13).
    pub source_repository_digest: &'a Option<String>,
    /// The source ref (OID 1.14).
    pub source_repository_ref: &'a Option<String>,
    /// The source repository (OID 1.12).
    pub source_repository_uri: &'a Option<String>,
    /// The certificate's email, URI or otherName SAN.
    pub subject: &'a str,
}

impl<'a> SignerView<'a> {
    /// The view of `s`.
    pub fn of(s: &'a portcullis_core::Signer) -> Self {
        Self {
            build_config_uri: &s.build_config_uri,
            issuer: &s.issuer,
            run_invocation_uri: &s.run_invocation_uri,
            source_repository_digest: &s.source_repository_digest,
            source_repository_ref: &s.source_repository_ref,
            source_repository_uri: &s.source_repository_uri,
            subject: &s.subject,
        }
    }
}

/// A verified keyless attestation's signer, keys in order.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AttestedBy<'a> {
    /// What it attests.
    pub predicate_type: &'a str,
    /// Who signed it.
    pub signer: SignerView<'a>,
}

/// `attestations`.
#[derive(Debug, Serialize)]
pub struct Attestations<'a> {
    /// Why they could not be fetched, when they could not.
    pub error: &'a Option<String>,
    /// Envelopes found.
    pub found: usize,
    /// Predicate types of the verified statements.
    pub predicate_types: &'a [String],
    /// Envelopes rejected, with the reason (`location`, `reason`: already in key order).
    pub rejected: &'a [RejectedAttestation],
    /// The keyless signers of the verified attestations.
    pub signers: Vec<AttestedBy<'a>>,
    /// Envelopes verified.
    pub verified: usize,
}

/// An item's `origin`, keys in order.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum Origin<'a> {
    /// Supplied by CI.
    Ci {
        /// The document format.
        format: &'a str,
        /// `ci_supplied`.
        kind: &'static str,
    },
    /// From a verified attestation.
    Signed {
        /// Keys and identities that verified the envelope.
        key_ids: &'a [String],
        /// `signed_attestation`.
        kind: &'static str,
        /// The statement's predicate type.
        predicate_type: &'a str,
    },
}

impl<'a> Origin<'a> {
    /// The view of `origin`.
    pub fn of(origin: &'a EvidenceOrigin) -> Self {
        match origin {
            EvidenceOrigin::CiSupplied { format } => Self::Ci {
                format: format.as_str(),
                kind: "ci_supplied",
            },
            EvidenceOrigin::SignedAttestation {
                key_ids,
                predicate_type,
            } => Self::Signed {
                key_ids,
                kind: "signed_attestation",
                predicate_type,
            },
        }
    }

    /// Whether the item came from a verified attestation.
    pub fn signed(&self) -> bool {
        matches!(self, Self::Signed { .. })
    }

    /// A short label: `ci:trivy-json` or `attestation:key-a,key-b`.
    pub fn label(&self) -> String {
        match self {
            Self::Ci { format, .. } => format!("ci:{format}"),
            Self::Signed { key_ids, .. } => format!("attestation:{}", key_ids.join(",")),
        }
    }
}

impl<'a> Input<'a> {
    /// The input for `source` pinned to `digest` over `evidence`. `governing` names the VEX
    /// statement that governs a finding, if any (the evidence crate matches them); only a
    /// suppressing one is recorded in `suppressed_by`.
    pub fn new(
        source: &'a ImageRef,
        digest: &'a Digest,
        evidence: &'a EvidenceSet,
        request: &'a RequestInfo,
        governing: impl Fn(&Vulnerability) -> Option<&'a VexStatement>,
    ) -> Self {
        let items = &evidence.items;
        let mut input = Input {
            artifact: Artifact::of(source, digest),
            attestations: Attestations::of(&evidence.attestations),
            components: Vec::new(),
            licence_index: BTreeMap::new(),
            provenance: items.provenance.iter().map(ProvenanceEntry::of).collect(),
            request,
            sboms: items.sboms.iter().map(SbomEntry::of).collect(),
            signatures: Signatures::of(&evidence.signatures),
            suppressed_index: Vec::new(),
            vex: items.vex.iter().map(VexEntry::of).collect(),
            vulnerabilities: Vec::new(),
            vulnerability_index: SEVERITIES
                .iter()
                .map(|s| (severity_name(*s), Vec::new()))
                .collect(),
            vulnerability_reports: Vec::new(),
            waivers: &[],
        };
        entries::findings(&mut input, items, governing);
        entries::components(&mut input, items);
        input
    }

    /// The same input with `waivers`.
    pub fn with_waivers(mut self, waivers: &'a [WaiverEntry]) -> Self {
        self.waivers = waivers;
        self
    }
}

impl<'a> Artifact<'a> {
    /// The view of `source` pinned to `digest`.
    pub fn of(source: &'a ImageRef, digest: &'a Digest) -> Self {
        Self {
            digest,
            registry: source.registry.as_str(),
            repository: source.repository.as_str(),
            source: source.to_string(),
        }
    }
}

impl<'a> Signatures<'a> {
    /// The view of `s`.
    pub fn of(s: &'a SignatureEvidence) -> Self {
        Self {
            error: &s.error,
            signatures_found: s.signatures_found,
            signers: s.signers.iter().map(SignerView::of).collect(),
            status: s.status,
            verified_key_ids: &s.verified_key_ids,
        }
    }
}

impl<'a> Attestations<'a> {
    /// The view of `a`.
    pub fn of(a: &'a AttestationEvidence) -> Self {
        Self {
            error: &a.error,
            found: a.found,
            predicate_types: &a.predicate_types,
            rejected: &a.rejected,
            signers: a
                .accepted
                .iter()
                .filter_map(|acc| {
                    acc.signer.as_ref().map(|s| AttestedBy {
                        predicate_type: &acc.predicate_type,
                        signer: SignerView::of(s),
                    })
                })
                .collect(),
            verified: a.verified,
        }
    }
}

/// The text of a severity, as a static string.
pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
        Severity::Negligible => "NEGLIGIBLE",
        Severity::Unknown => "UNKNOWN",
    }
}

impl Input<'_> {
    /// The document's JSON text (keys in order, no spaces), written once, and the SHA-256 of
    /// that text: the `input_hash` a decision records.
    pub fn to_json(&self) -> serde_json::Result<(Vec<u8>, Digest)> {
        let text = serde_json::to_vec(self)?;
        let hash = Digest::sha256_of(&text);
        Ok((text, hash))
    }
}
