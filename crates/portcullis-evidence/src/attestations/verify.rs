//! Verifying one envelope: a trusted key, or keyless when the layer carries a certificate;
//! then the in-toto statement, its subject and its predicate.

use portcullis_core::{Digest, EvidenceItems, EvidenceOrigin};
use portcullis_registry::Descriptor;

use super::{Accepted, AttestationVerifier};
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::keyless::KeylessHandle;
use crate::statement::Statement;

impl AttestationVerifier {
    /// Verifies one envelope layer: trusted signature (a trusted key, or keyless when the
    /// layer carries a certificate), in-toto payload, subject, predicate.
    pub(super) fn verify(
        &self,
        bytes: &[u8],
        layer: &Descriptor,
        digest: &Digest,
    ) -> Result<(Accepted, EvidenceItems), String> {
        let envelope = Envelope::parse(bytes)?;
        let accepted = if layer
            .annotations
            .contains_key(crate::keyless::CERTIFICATE_ANNOTATION)
        {
            // A certificate-bearing layer is keyless: it never counts for a plain key.
            let trust = self.keyless.as_ref().map(KeylessHandle::current).ok_or(
                "a keyless attestation, and keyless signing is not configured (trust.keyless)",
            )?;
            let verified = trust.verify_envelope_layer(&layer.annotations, bytes, &envelope)?;
            Accepted {
                predicate_type: String::new(),
                key_ids: verified.ids,
                signer: Some(verified.signer),
            }
        } else {
            let key_ids = envelope.verified_key_ids(&self.keys);
            if key_ids.is_empty() {
                let hinted = envelope.hinted_key_ids(&self.keys);
                if hinted.is_empty() {
                    return Err("no trusted signature".into());
                }
                return Err(format!(
                    "signature names trusted key {} but does not verify: payload or signature altered",
                    hinted.join(", ")
                ));
            }
            Accepted {
                predicate_type: String::new(),
                key_ids,
                signer: None,
            }
        };
        if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(format!(
                "payload type {:?} is not {IN_TOTO_PAYLOAD_TYPE}",
                envelope.payload_type
            ));
        }
        let predicate_type = Statement::decode(&envelope.payload)?.predicate_type;
        let accepted = Accepted {
            predicate_type,
            ..accepted
        };
        let items = statement_items(&envelope.payload, digest, &accepted)?;
        Ok((accepted, items))
    }
}

/// The evidence items of a verified statement about `digest`.
pub(super) fn statement_items(
    payload: &[u8],
    digest: &Digest,
    accepted: &Accepted,
) -> Result<EvidenceItems, String> {
    let statement = Statement::decode(payload)?;
    statement.check_subject(digest)?;
    let origin = EvidenceOrigin::SignedAttestation {
        key_ids: accepted.key_ids.clone(),
        predicate_type: statement.predicate_type.clone(),
    };
    statement.items(origin)
}
