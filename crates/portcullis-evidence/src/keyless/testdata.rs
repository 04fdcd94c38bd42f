//! Test helpers: the third-party Sigstore artifacts in `shared/realworld`, read where they lie.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The bytes of `shared/realworld/<rel>`.
pub(super) fn realworld(rel: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../../shared/realworld/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A JSON file of `shared/realworld`.
pub(super) fn json(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&realworld(rel)).unwrap()
}

/// The base64 string at `pointer` in `value`, decoded.
pub(super) fn b64_at(value: &serde_json::Value, pointer: &str) -> Vec<u8> {
    let text = value.pointer(pointer).and_then(|v| v.as_str());
    BASE64
        .decode(text.unwrap_or_else(|| panic!("no string at {pointer}")))
        .unwrap()
}

/// The DER of the single PEM block of `shared/realworld/<rel>` (or its `index`th block).
pub(super) fn pem_der(rel: &str, index: usize) -> Vec<u8> {
    let blocks = pem::parse_many(realworld(rel)).unwrap();
    blocks[index].contents().to_vec()
}

/// The v0.3 kubewarden-controller bundle: DSSE, SCT-bearing leaf, RFC 3161 timestamp.
pub(super) const KUBEWARDEN: &str =
    "attestations/bundles/sigstore-rs-kubewarden-controller-v1.34.0.sigstore.json";
/// The public-good trusted root.
pub(super) const TRUSTED_ROOT: &str = "trust/public-good/trusted_root.json";
