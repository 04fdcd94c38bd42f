//! The private Sigstore deployment checked with independent code: x509-cert/der parse and
//! re-encode certificates and tokens, sigstore's verification keys check the signatures, and
//! the Merkle proof is recomputed with RFC 9162's iterative algorithm (not the recursive one
//! the testkit uses to build it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_testkit::sigstore::{
    FulcioExtensions, InclusionProof, PrivateSigstore, SCT_LIST_OID, SignOptions, fulcio_oid,
};
use portcullis_testkit::{LeafSpec, SanSubject};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sigstore::crypto::{CosignVerificationKey, Signature};
use x509_cert::Certificate;
use x509_cert::der::{Any, Decode as _, Encode as _, Reader as _, SliceReader, Tagged as _};
use x509_cert::ext::Extension;

const GITHUB: &str = "https://token.actions.githubusercontent.com";

fn leaf_spec() -> LeafSpec {
    let mut spec = LeafSpec::new(
        SanSubject::Uri(
            "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1".into(),
        ),
        GITHUB,
    );
    spec.extensions = FulcioExtensions::github_workflow(
        "github.com/org/app",
        "refs/tags/v1",
        "abc123",
        ".github/workflows/release.yml",
    );
    spec
}

fn verify(spki_der: &[u8], signature: &[u8], message: &[u8]) -> bool {
    CosignVerificationKey::try_from_der(spki_der)
        .expect("key")
        .verify_signature(Signature::Raw(signature), message)
        .is_ok()
}

fn spki_of(cert_der: &[u8]) -> Vec<u8> {
    let cert = Certificate::from_der(cert_der).expect("cert");
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .expect("spki")
}

/// The items inside a constructed DER value.
fn items(value: &[u8]) -> Vec<Any> {
    let mut reader = SliceReader::new(value).expect("reader");
    let mut out = Vec::new();
    while !reader.is_finished() {
        out.push(reader.decode::<Any>().expect("item"));
    }
    out
}

fn tls_u16(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]))
}

#[path = "sigstore/bundles.rs"]
mod bundles;
#[path = "sigstore/certs.rs"]
mod certs;
#[path = "sigstore/logs.rs"]
mod logs;
#[path = "sigstore/tsa.rs"]
mod tsa;
