//! Evidence documents and request bodies shared by the evidence tests (`vex.rs`,
//! `licences.rs`, `attestations.rs`, `keyless_signers.rs`, `evidence_formats.rs`,
//! `verification_cache.rs`).

use serde_json::{Value, json};

use crate::support::ROUTE;

/// SLSA provenance v1.
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
/// OpenVEX v0.2.0.
pub const OPENVEX: &str = "https://openvex.dev/ns/v0.2.0";

/// A fixture document: ours from the evidence crate, third-party ones in place.
pub fn fixture(name: &str) -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // Third-party fixtures are read where they lie, in ../shared/fixtures beside the
    // repository; our own documents live in tests/fixtures.
    let own = root
        .join("crates/portcullis-evidence/tests/fixtures")
        .join(name);
    let path = if own.exists() {
        own
    } else {
        root.join("../shared/fixtures").join(name)
    };
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A promotion request body for `source` with these evidence documents.
pub fn body(source: &str, evidence: Vec<(&str, Value)>, dry_run: bool) -> Value {
    let evidence: Vec<Value> = evidence
        .into_iter()
        .map(|(format, document)| json!({"format": format, "document": document}))
        .collect();
    json!({"source": source, "route": ROUTE, "tag": "v1", "evidence": evidence, "dry_run": dry_run})
}

/// An OpenVEX document saying `cve` does not affect the image `digest`.
pub fn openvex_not_affected(digest: &str, cve: &str) -> Value {
    json!({
        "@context": OPENVEX,
        "@id": "https://vex.example/app/2026-1",
        "author": "security@example.com",
        "timestamp": "2026-11-01T00:00:00Z",
        "version": 1,
        "statements": [{
            "vulnerability": {"name": cve},
            "products": [{"@id": format!("pkg:oci/app@{}", digest.replace(':', "%3A"))}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
            "impact_statement": "the vulnerable function is never called"
        }]
    })
}

/// The rules of the violations in a promotion or dry-run view.
pub fn rules(p: &Value) -> Vec<String> {
    p["decision"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap().to_owned())
        .collect()
}
