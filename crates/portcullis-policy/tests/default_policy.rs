//! The default bundle in `policies/` evaluated through `PolicyBundle`, including the
//! fail-closed paths (undefined output, broken bundles).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use portcullis_policy::PolicyBundle;
use portcullis_policy::bench::synthetic_input;
use serde_json::json;

fn bundle_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

fn load() -> PolicyBundle {
    PolicyBundle::load(&bundle_dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// A small document in the server's input shape (the synthetic generator's, with no
/// findings or components) with the given signatures, findings and report count.
fn input(
    status: &str,
    keys: &[&str],
    vulns: serde_json::Value,
    reports: usize,
) -> serde_json::Value {
    let mut doc = synthetic_input(0, 0);
    let report = doc["vulnerability_reports"][0].clone();
    doc["signatures"] = json!({"status": status, "verified_key_ids": keys, "signatures_found": keys.len(), "error": null});
    doc["vulnerability_reports"] = json!(vec![report; reports]);
    let vulns = vulns.as_array().cloned().unwrap_or_default();
    for (i, v) in vulns.iter().enumerate() {
        let severity = v["severity"].as_str().unwrap_or("UNKNOWN");
        if let Some(list) = doc["vulnerability_index"][severity].as_array_mut() {
            list.push(json!(i));
        }
    }
    doc["vulnerabilities"] = json!(
        vulns
            .into_iter()
            .map(|mut v| {
                v["suppressed_by"] = serde_json::Value::Null;
                v
            })
            .collect::<Vec<_>>()
    );
    doc
}

#[test]
fn signed_clean_image_is_allowed_with_two_approvals() {
    let d = load().evaluate(&input("verified", &["k1"], json!([]), 1));
    assert!(d.allow, "{d:?}");
    let req = d
        .required_approvals
        .unwrap_or_else(|| panic!("no approvals"));
    assert_eq!(req.total(), 2);
    assert_eq!(req.groups()[0].group.as_str(), "release-approvers");
}

#[test]
fn each_rule_is_named_in_its_violation() {
    let p = load();
    let cases = [
        (input("unsigned", &[], json!([]), 1), "signature.required"),
        (
            input("untrusted", &[], json!([]), 1),
            "signature.trusted_key",
        ),
        (
            input("fetch_failed", &[], json!([]), 1),
            "signature.fetch_failed",
        ),
        (
            input("verified", &["k"], json!([]), 0),
            "vulnerability.report_required",
        ),
        (
            input(
                "verified",
                &["k"],
                json!([{"id": "CVE-9", "severity": "CRITICAL", "package": "x"}]),
                1,
            ),
            "vulnerability.no_critical",
        ),
    ];
    for (inp, rule) in cases {
        let d = p.evaluate(&inp);
        assert!(!d.allow, "{rule}: {d:?}");
        assert!(
            d.violations.iter().any(|v| v.rule == rule),
            "{rule} missing in {d:?}"
        );
    }
}

#[test]
fn too_many_highs_are_denied_and_few_are_warned() {
    let p = load();
    let highs = |n: usize| {
        json!(
            (0..n)
                .map(|i| json!({"id": format!("CVE-{i}"), "severity": "HIGH", "package": "p"}))
                .collect::<Vec<_>>()
        )
    };
    let many = p.evaluate(&input("verified", &["k"], highs(11), 1));
    assert!(
        many.violations
            .iter()
            .any(|v| v.rule == "vulnerability.max_high"),
        "{many:?}"
    );
    let few = p.evaluate(&input("verified", &["k"], highs(2), 1));
    assert!(few.allow, "{few:?}");
    assert_eq!(few.warnings.len(), 1, "{few:?}");
    assert!(
        few.warnings[0].contains("CVE-0") && few.warnings[0].contains("CVE-1"),
        "{few:?}"
    );
}

#[test]
fn undefined_or_malformed_output_denies() {
    let dir = tempdir("undefined");
    std::fs::write(
        dir.join("p.rego"),
        "package portcullis.promotion\nimport rego.v1\ndecision := x if { x := input.nothing }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let d = PolicyBundle::load(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .evaluate(&json!({}));
    assert!(!d.allow);
    assert_eq!(d.violations[0].rule, "policy.undefined");

    std::fs::write(
        dir.join("p.rego"),
        "package portcullis.promotion\nimport rego.v1\ndecision := {\"allow\": true}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let d = PolicyBundle::load(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .evaluate(&json!({}));
    assert!(!d.allow, "an allow without required_approvals must deny");
    assert_eq!(d.violations[0].rule, "policy.malformed");
}

#[test]
fn a_bundle_that_does_not_parse_fails_to_load() {
    let dir = tempdir("broken");
    std::fs::write(
        dir.join("p.rego"),
        "package portcullis.promotion\ndecision := {{{\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = PolicyBundle::load(&dir)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("does not compile"), "{err}");
}

#[test]
fn digest_changes_with_content() {
    let a = load();
    let dir = tempdir("copy");
    for f in ["promotion.rego", "data.json"] {
        std::fs::copy(bundle_dir().join(f), dir.join(f)).unwrap_or_else(|e| panic!("{e}"));
    }
    let b = PolicyBundle::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        a.digest(),
        b.digest(),
        "test files are not part of the digest"
    );
    std::fs::write(dir.join("data.json"), r#"{"portcullis":{"config":{"min_signatures":2,"max_high":0,"require_bound_report":true,"approvals":{"count":1,"group":"g"}}}}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    let c = PolicyBundle::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(b.digest(), c.digest());
    assert!(c.digest().as_str().starts_with("sha256:"));
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-policy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

#[test]
fn a_missing_threshold_denies_instead_of_disabling_its_check() {
    let dir = tempdir("missing-key");
    std::fs::copy(
        bundle_dir().join("promotion.rego"),
        dir.join("promotion.rego"),
    )
    .unwrap();
    std::fs::write(
        dir.join("data.json"),
        r#"{"portcullis":{"config":{"max_high":0,"require_bound_report":false,"approvals":{"count":2,"group":"g"}}}}"#,
    )
    .unwrap();
    let d = PolicyBundle::load(&dir)
        .unwrap()
        .evaluate(&input("unsigned", &[], json!([]), 1));
    assert!(!d.allow);
    assert_eq!(d.violations[0].rule, "policy.undefined");
}
