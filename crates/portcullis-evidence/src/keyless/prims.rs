//! The adapters between the trust material and the verification primitives: SCTs
//! (`sct.rs`), RFC 3161 timestamps (`timestamp.rs`), inclusion proofs with signed checkpoints
//! (`checkpoint.rs`).

use std::collections::BTreeMap;

use rustls_pki_types::CertificateDer;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

use super::cert::Leaf;
use super::root::{LogKey, TimestampAuthority, TrustMaterial};
use super::tlog::{InclusionProof, LogEntry};
use super::{checkpoint, sct, timestamp};

/// The entry is in the log: its leaf hash leads to the proof's root, and a checkpoint signed
/// by the entry's log commits to that root at that size.
pub(super) fn verify_inclusion(
    entry: &LogEntry,
    proof: &InclusionProof,
    tlogs: &BTreeMap<String, LogKey>,
) -> Result<(), String> {
    let log = tlogs
        .get(&entry.log_id)
        .ok_or_else(|| format!("log entry is from unknown log {}", entry.log_id))?;
    checkpoint::verify_inclusion(
        &entry.body,
        proof.log_index,
        proof.tree_size,
        &proof.root_hash,
        &proof.hashes,
    )?;
    let signed = checkpoint::verify_checkpoint(&proof.checkpoint, &log.key, &log.spki)?;
    if signed.tree_size != proof.tree_size || signed.root_hash != proof.root_hash {
        return Err("the checkpoint does not commit to the inclusion proof's tree".into());
    }
    Ok(())
}

/// An RFC 3161 timestamp over the signature bytes from a trusted TSA; returns its time.
pub(super) fn verify_timestamp(
    token: &[u8],
    signature: &[u8],
    tsas: &[TimestampAuthority],
) -> Result<i64, String> {
    let tsas: Vec<timestamp::Tsa> = tsas
        .iter()
        .map(|t| timestamp::Tsa {
            chain: t.chain.clone(),
            valid_from: t.valid.start.unwrap_or(i64::MIN),
            valid_until: t.valid.end,
        })
        .collect();
    if tsas.is_empty() {
        return Err("an RFC 3161 timestamp, and the trust root has no timestamp authority".into());
    }
    timestamp::verify_rfc3161(token, signature, &tsas)
}

/// The leaf carries an SCT from a trusted CT log, over its precertificate as issued by one
/// of the candidate issuers (the trust root's CAs and the signer's chain).
pub(super) fn verify_sct(
    leaf: &Leaf,
    chain: &[CertificateDer<'static>],
    material: &TrustMaterial,
) -> Result<(), String> {
    if !sct::has_embedded_sct(leaf.der())? {
        return Err("the certificate has no embedded SCT, and require_sct is on".into());
    }
    let logs: Vec<sct::CtLog> = material
        .ctlogs
        .iter()
        .filter_map(|(id, log)| {
            let log_id: [u8; 32] = hex::decode(id).ok()?.try_into().ok()?;
            Some(sct::CtLog {
                log_id,
                key: log.key.clone(),
                valid_from: log.valid.start.unwrap_or(i64::MIN),
                valid_until: log.valid.end,
            })
        })
        .collect();
    let candidates = material
        .cas
        .iter()
        .flat_map(|ca| {
            ca.intermediates
                .iter()
                .map(|c| c.as_ref())
                .chain([ca.root.as_slice()])
        })
        .chain(chain.iter().map(|c| c.as_ref()));
    let mut last = String::from("no candidate issuer certificate");
    for issuer in candidates {
        let Ok(cert) = Certificate::from_der(issuer) else {
            continue;
        };
        let Ok(spki) = cert.tbs_certificate().subject_public_key_info().to_der() else {
            continue;
        };
        match sct::verify_embedded_scts(leaf.der(), &spki, &logs) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(format!("no valid SCT from a trusted CT log: {last}"))
}
