//! `portcullis verify IMAGE`: every signature and attestation found on an image, where it was
//! found, and how it verified or why it did not, with the gate's own trust configuration:
//! what `cosign verify` and `cosign tree` tell, for all the formats the gate reads.

use std::process::ExitCode;

use portcullis_core::{
    AttestationEvidence, Digest, ImageRef, Reference, SignatureEvidence, SignatureStatus, Signer,
};
use serde::Serialize;

use crate::app::{StartError, registry_client, verifiers};
use crate::config::Config;

/// What `verify --json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The image, pinned to its digest.
    pub image: String,
    /// The signatures found.
    pub signatures: SignatureEvidence,
    /// The attestations found.
    pub attestations: AttestationEvidence,
}

/// Why `verify` could not answer.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The trust configuration or registry settings could not be loaded.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The tag could not be resolved.
    #[error("resolving {image}: {reason}")]
    Resolve {
        /// The image asked about.
        image: String,
        /// Why.
        reason: String,
    },
    /// The registry could not be read; nothing was judged.
    #[error("{0}")]
    Fetch(String),
}

/// Looks up and verifies what the registry holds about `image`.
pub async fn verify(config: &Config, image: &ImageRef) -> Result<Report, VerifyError> {
    let registry = registry_client(config)?;
    let (signatures, attestations, _) = verifiers(config, &registry)?;
    let digest: Digest = match &image.reference {
        Reference::Digest(d) => d.clone(),
        Reference::Tag(_) => registry
            .resolve(image)
            .await
            .map_err(|e| VerifyError::Resolve {
                image: image.to_string(),
                reason: e.to_string(),
            })?,
    };
    let pinned = image.with_digest(digest.clone());
    let (signatures, (attestations, _)) = tokio::join!(
        signatures.verify(&pinned, &digest),
        attestations.collect(&pinned, &digest)
    );
    if let Some(error) = signatures.error.as_ref().or(attestations.error.as_ref()) {
        return Err(VerifyError::Fetch(error.clone()));
    }
    Ok(Report {
        image: pinned.to_string(),
        signatures,
        attestations,
    })
}

/// Exit 0 when at least one trusted signature verified, else 1.
pub fn exit_code(report: &Report) -> ExitCode {
    if report.signatures.status == SignatureStatus::Verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn describe(signer: &Signer) -> String {
    let mut text = format!(
        "issuer {}, subject {}",
        signer.issuer.as_deref().unwrap_or("(none)"),
        signer.subject
    );
    if let Some(repo) = &signer.source_repository_uri {
        text.push_str(&format!(", source {repo}"));
        if let Some(r) = &signer.source_repository_ref {
            text.push_str(&format!(" {r}"));
        }
    }
    text
}

/// The report as people read it.
pub fn render(report: &Report) -> String {
    let mut out = format!("{}\n", report.image);
    let s = &report.signatures;
    let verified = s.items.iter().filter(|i| i.rejected.is_none()).count();
    out.push_str(&format!(
        "signatures: {} found, {verified} verified\n",
        s.items.len()
    ));
    for item in &s.items {
        match &item.rejected {
            None => {
                out.push_str(&format!(
                    "  ok   {}: verified by {}",
                    item.location,
                    item.verified_ids.join(", ")
                ));
                if let Some(signer) = &item.signer {
                    out.push_str(&format!(" ({})", describe(signer)));
                }
                out.push('\n');
            }
            Some(reason) => out.push_str(&format!("  FAIL {}: {reason}\n", item.location)),
        }
    }
    let a = &report.attestations;
    out.push_str(&format!(
        "attestations: {} found, {} verified\n",
        a.found, a.verified
    ));
    for item in &a.accepted {
        out.push_str(&format!(
            "  ok   {}: {} verified by {}",
            item.location,
            item.predicate_type,
            item.key_ids.join(", ")
        ));
        if let Some(signer) = &item.signer {
            out.push_str(&format!(" ({})", describe(signer)));
        }
        out.push('\n');
    }
    for item in &a.rejected {
        out.push_str(&format!("  FAIL {}: {}\n", item.location, item.reason));
    }
    out
}
