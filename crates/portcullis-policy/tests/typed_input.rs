//! The typed input document: its JSON text is canonical (keys in order, no spaces), so
//! `input_hash` keeps meaning the SHA-256 of the document's JSON text, and the engine value
//! built straight from the structs equals parsing that text.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_policy::bench::{Synthetic, synthetic, synthetic_rich};

fn rich() -> Synthetic {
    synthetic_rich().unwrap()
}

#[test]
fn the_json_text_is_canonical_and_its_hash_is_sha256_of_it() {
    for case in [
        rich(),
        synthetic(500, 300).unwrap(),
        synthetic(0, 0).unwrap(),
    ] {
        let (text, hash) = case.input().to_json().unwrap();
        // serde_json's Value keeps keys sorted: re-printing it gives the canonical text.
        let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(
            String::from_utf8(text.clone()).unwrap(),
            value.to_string(),
            "keys out of order or not compact"
        );
        assert_eq!(hash, portcullis_core::Digest::sha256_of(&text));
    }
}

#[test]
fn the_engine_value_equals_parsing_the_json_text() {
    for case in [
        rich(),
        synthetic(500, 300).unwrap(),
        synthetic(0, 0).unwrap(),
    ] {
        let input = case.input();
        let (text, _) = input.to_json().unwrap();
        let parsed = regorus::Value::from_json_str(std::str::from_utf8(&text).unwrap()).unwrap();
        assert_eq!(input.to_value(), parsed);
    }
}

#[test]
fn suppressions_and_indexes_point_at_the_right_findings() {
    let case = rich();
    let (text, _) = case.input().to_json().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let vulns = doc["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), 70);
    let suppressed: Vec<usize> = doc["suppressed_index"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as usize)
        .collect();
    assert!(!suppressed.is_empty());
    for (i, v) in vulns.iter().enumerate() {
        assert_eq!(
            suppressed.contains(&i),
            !v["suppressed_by"].is_null(),
            "{i}"
        );
    }
    // The signed, `fixed` statement: its source names both keys.
    assert_eq!(
        vulns[3]["suppressed_by"]["source"],
        "attestation:key-a,key-b"
    );
    assert_eq!(vulns[3]["suppressed_by"]["status"], "fixed");
    assert_eq!(vulns[3]["suppressed_by"]["signed"], true);
    let reports = doc["vulnerability_reports"].as_array().unwrap();
    assert_eq!(reports[1]["signed"], true);
    assert_eq!(vulns[60]["scanner"], "grype");
    for (severity, positions) in doc["vulnerability_index"].as_object().unwrap() {
        for p in positions.as_array().unwrap() {
            assert_eq!(vulns[p.as_u64().unwrap() as usize]["severity"], *severity);
        }
    }
    let components = doc["components"].as_array().unwrap();
    for (term, positions) in doc["licence_index"].as_object().unwrap() {
        for p in positions.as_array().unwrap() {
            let terms = &components[p.as_u64().unwrap() as usize]["licence"]["terms"];
            assert!(terms.as_array().unwrap().iter().any(|t| t == term));
        }
    }
}

#[test]
fn typed_evaluation_decides_like_the_json_path() {
    let bundle = portcullis_policy::PolicyBundle::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies"),
    )
    .unwrap();
    for case in [rich(), synthetic(500, 300).unwrap()] {
        let input = case.input();
        let (text, _) = input.to_json().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(bundle.evaluate_input(&input), bundle.evaluate(&json));
    }
}
