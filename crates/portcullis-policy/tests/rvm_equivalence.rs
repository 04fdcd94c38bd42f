//! The compiled RVM path must decide exactly as the interpreter does, over the default
//! bundle and a spread of inputs that trip every family of rules, and over small bundles
//! that exercise the fail-closed paths.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use portcullis_policy::bench::synthetic_input;
use portcullis_policy::{EvalPath, PolicyBundle, input_value};
use serde_json::{Value, json};

fn load(dir: &Path) -> PolicyBundle {
    PolicyBundle::load(dir).unwrap_or_else(|e| panic!("{e}"))
}

fn default_bundle() -> PolicyBundle {
    load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies"))
}

/// `base` with the JSON pointer `path` replaced by `value`.
fn with(mut base: Value, path: &str, value: Value) -> Value {
    *base.pointer_mut(path).unwrap_or_else(|| panic!("{path}")) = value;
    base
}

/// Inputs that allow, deny on each rule family, or break the input contract.
fn inputs() -> Vec<(&'static str, Value)> {
    let base = synthetic_input(500, 300);
    let small = synthetic_input(20, 10);
    let critical = with(
        base.clone(),
        "/vulnerabilities/4/severity",
        json!("CRITICAL"),
    );
    let critical = with(critical, "/vulnerability_index/CRITICAL", json!([4]));
    let highs: Vec<usize> = (0..12).collect();
    let many_high = with(base.clone(), "/vulnerability_index/HIGH", json!(highs));
    let gpl = json!({"declared": "GPL-3.0-only", "expression": "GPL-3.0-only", "terms": ["GPL-3.0-only"],
                     "alternatives": [["GPL-3.0-only"]], "unknown": []});
    let odd_licence = json!({"declared": "Custom", "expression": null, "terms": [],
                             "alternatives": [], "unknown": ["Custom"]});
    let mut no_index = base.clone();
    if let Some(o) = no_index.as_object_mut() {
        o.remove("suppressed_index");
    }
    vec![
        ("synthetic 500/300", base.clone()),
        ("synthetic 20/10", small.clone()),
        ("one critical", critical),
        ("too many high", many_high),
        (
            "unsigned",
            with(small.clone(), "/signatures/status", json!("unsigned")),
        ),
        (
            "fetch failed",
            with(small.clone(), "/signatures/status", json!("fetch_failed")),
        ),
        (
            "no trusted key",
            with(small.clone(), "/signatures/verified_key_ids", json!([])),
        ),
        (
            "no reports",
            with(small.clone(), "/vulnerability_reports", json!([])),
        ),
        (
            "report for another digest",
            with(
                small.clone(),
                "/vulnerability_reports/0/subject_digests",
                json!(["sha256:00"]),
            ),
        ),
        (
            "unbound report",
            with(
                small.clone(),
                "/vulnerability_reports/0/subject_digests",
                json!([]),
            ),
        ),
        (
            "attestation error",
            with(small.clone(), "/attestations/error", json!("boom")),
        ),
        (
            "rejected attestation",
            with(
                small.clone(),
                "/attestations/rejected",
                json!([{"location": "l", "reason": "r"}]),
            ),
        ),
        (
            "gpl only component",
            with(small.clone(), "/components/3/licence", gpl),
        ),
        (
            "unknown licence",
            with(small.clone(), "/components/4/licence", odd_licence),
        ),
        (
            "unversioned component",
            with(small.clone(), "/components/5/version", Value::Null),
        ),
        (
            "no provenance",
            with(small.clone(), "/provenance", json!([])),
        ),
        ("missing suppressed_index", no_index),
        (
            "index does not cover findings",
            with(small, "/vulnerability_index/LOW", json!([])),
        ),
        ("empty object", json!({})),
        ("not an object", json!([1, 2, 3])),
    ]
}

#[test]
fn rvm_and_interpreter_decide_identically_on_the_default_bundle() {
    let bundle = default_bundle();
    assert!(
        bundle.is_compiled(),
        "the default bundle must compile to the RVM"
    );
    let mut allowed = 0;
    for (name, input) in inputs() {
        let rvm = bundle.evaluate(&input);
        let reference = bundle.evaluate_interpreted(&input);
        assert_eq!(rvm, reference, "{name}");
        let direct = bundle.evaluate_value(EvalPath::Interpreter, input_value(&input));
        assert_eq!(direct, reference, "{name}: direct input");
        allowed += usize::from(reference.allow);
    }
    assert!(
        allowed >= 1,
        "no input was allowed; the comparison covers only denies"
    );
}

#[test]
fn synthetic_input_is_allowed_with_warnings_and_suppressions() {
    let d = default_bundle().evaluate(&synthetic_input(500, 300));
    assert!(!d.suppressions.is_empty(), "{d:?}");
    assert!(d.suppressions.iter().all(|s| s.status == "not_affected"
        && s.source == "ci:openvex"
        && s.justification.as_deref() == Some("vulnerable_code_not_present")));
}

#[test]
fn bundle_is_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<PolicyBundle>();
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-rvm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn bundle_of(name: &str, rego: &str) -> PolicyBundle {
    let dir = tempdir(name);
    std::fs::write(dir.join("p.rego"), rego).unwrap_or_else(|e| panic!("{e}"));
    load(&dir)
}

const HEAD: &str = "package portcullis.promotion\nimport rego.v1\n";

#[test]
fn fail_closed_paths_agree_between_rvm_and_interpreter() {
    let cases = [
        (
            "undefined",
            "decision := x if { x := input.nothing }",
            "policy.undefined",
        ),
        (
            "no-approvals",
            r#"decision := {"allow": true}"#,
            "policy.malformed",
        ),
        (
            "unknown-field",
            r#"decision := {"allow": false, "extra": 1}"#,
            "policy.malformed",
        ),
        (
            "wrong-type",
            r#"decision := {"allow": "yes"}"#,
            "policy.malformed",
        ),
        (
            "conflict",
            "decision := {\"allow\": false} if input.a == 1\ndecision := {\"allow\": true} if input.a == 1",
            "policy.error",
        ),
    ];
    for (name, body, rule) in cases {
        let bundle = bundle_of(name, &format!("{HEAD}{body}\n"));
        let input = json!({"a": 1});
        let rvm = bundle.evaluate(&input);
        let reference = bundle.evaluate_interpreted(&input);
        assert!(!rvm.allow, "{name}: {rvm:?}");
        assert_eq!(reference.violations[0].rule, rule, "{name}: {reference:?}");
        assert_eq!(rvm.violations[0].rule, rule, "{name}: {rvm:?}");
    }
}

#[test]
fn remediation_and_suppressions_are_read_from_the_policy() {
    let bundle = bundle_of(
        "mapping",
        &format!(
            "{HEAD}{}",
            r#"decision := {
  "allow": true,
  "required_approvals": {"count": 1, "group": "release-approvers"},
  "violations": [
    {"rule": "b.rule", "message": "m", "severity": "low", "remediation": "upgrade it"},
    {"rule": "a.rule", "message": "m"},
  ],
  "suppressions": [
    {"vulnerability": "CVE-2", "package": "p", "status": "fixed", "source": "ci:openvex"},
    {"vulnerability": "CVE-1", "package": "q", "status": "not_affected",
     "justification": "inline_mitigations_already_exist", "source": "attestation:k1"},
  ],
}
"#
        ),
    );
    let d = bundle.evaluate(&json!({}));
    assert_eq!(d, bundle.evaluate_interpreted(&json!({})));
    assert!(!d.allow, "an allow with violations is a deny");
    assert_eq!(d.violations[0].rule, "a.rule");
    assert_eq!(d.violations[0].remediation, "");
    assert_eq!(d.violations[0].severity, "high");
    assert_eq!(d.violations[1].remediation, "upgrade it");
    assert_eq!(d.suppressions.len(), 2);
    assert_eq!(d.suppressions[0].vulnerability, "CVE-1");
    assert_eq!(
        d.suppressions[0].justification.as_deref(),
        Some("inline_mitigations_already_exist")
    );
    assert_eq!(d.suppressions[0].source, "attestation:k1");
    assert_eq!(d.suppressions[1].justification, None);
    assert_eq!(d.suppressions[1].status, "fixed");
}

/// Pins the known semantic gap (see `EvalPath::Rvm`) so a regorus upgrade that closes it,
/// or widens it, is noticed: where a complete helper rule yields conflicting values, the
/// interpreter errors (a deny) while the RVM keeps the first value of a single body, or makes
/// the rule undefined when two definitions disagree.
#[test]
fn known_gap_conflicting_helper_values_error_interpreted_but_not_on_the_rvm() {
    let decide = r#"
decision := {"allow": false, "violations": [{"rule": "r", "message": "owner"}]} if owner
decision := {"allow": false, "violations": [{"rule": "r", "message": "no owner"}]} if not owner
"#;
    let cases = [
        (
            "one-body",
            "owner := o if { some o in input.owners }",
            "owner",
        ),
        (
            "two-definitions",
            "owner := input.owners[0] if input.owners\nowner := input.owners[1] if input.owners",
            "no owner",
        ),
    ];
    let input = json!({"owners": ["a", "b"]});
    for (name, helper, rvm_message) in cases {
        let bundle = bundle_of(name, &format!("{HEAD}{helper}\n{decide}"));
        let reference = bundle.evaluate_interpreted(&input);
        assert_eq!(reference.violations[0].rule, "policy.error", "{name}");
        let rvm = bundle.evaluate(&input);
        assert_eq!(rvm.violations[0].message, rvm_message, "{name}: {rvm:?}");
    }
}
