//! Portcullis domain types: checked references and digests, the evidence model and the
//! policy decision. Everything here is parsed once at the edge and cannot hold an invalid
//! value; no I/O happens in this crate.

mod audit;
mod decision;
mod digest;
mod docker;
mod error;
mod evidence;
mod format;
mod kind;
mod platform;
mod reference;
mod request_id;
mod role;
mod subject;
mod text;
mod waiver;

pub use audit::AuditAction;
pub use decision::{
    Decision, GroupRequirement, MAX_APPROVAL_GROUPS, MAX_APPROVAL_SLOTS, PromotionState,
    RequiredApprovals, Suppression, Verdict, Violation, Waived,
};
pub use digest::Digest;
pub use docker::{DOCKER_HUB, parse_docker_reference};
pub use error::{Error, Result};
pub use evidence::{
    AcceptedAttestation, AttestationEvidence, Component, EvidenceItems, EvidenceOrigin,
    EvidenceSet, Licence, Provenance, RejectedAttestation, Sbom, Severity, SignatureEvidence,
    SignatureItem, SignatureStatus, Signer, VexProduct, VexStatement, VexStatus, Vulnerability,
    VulnerabilityReport,
};
pub use format::EvidenceFormat;
pub use kind::PromotionKind;
pub use platform::PlatformSpec;
pub use reference::{ImageRef, Reference, RegistryHost, RepoPath, Tag, repository_name};
pub use request_id::{MAX_REQUEST_ID_LEN, RequestId};
pub use role::{GroupName, Role};
pub use subject::Subject;
pub use text::{TextError, TextKind, check_text, is_forbidden};
pub use waiver::{MAX_WAIVER_MATCH, WaiverKind, WaiverMatch, WaiverScope, WaiverState};
