//! Synthetic evidence documents for benchmarks and load tests: the shape the server builds,
//! with realistic proportions, generated deterministically so runs are comparable.

use std::collections::BTreeMap;

use serde_json::{Value, json};

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const SOURCE: &str = "staging.example/team/app:1.0";
const COMMIT: &str = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad";

/// Licences of the generated components; index 0, dual-licensed GPL (allowed because MIT
/// may be chosen), is used every 50th component.
const LICENCES: [&str; 5] = [
    "GPL-2.0-or-later OR MIT",
    "MIT",
    "Apache-2.0",
    "MIT OR Apache-2.0",
    "BSD-3-Clause",
];

/// An evidence document with `vulns` findings and `components` SBOM components, in the
/// shape the server hands to the policy (`policies/input.schema.json`).
///
/// Proportions: no CRITICAL, 3 HIGH, about 40 % MEDIUM, the rest LOW with a sprinkling of
/// NEGLIGIBLE and UNKNOWN; every 25th finding suppressed by a VEX `not_affected` statement;
/// every 50th component dual-licensed `GPL-2.0-or-later OR MIT` and every 20th without a
/// licence. The signature and provenance are good and no licence is denied, so the default
/// policy allows it after evaluating every rule.
pub fn synthetic_input(vulns: usize, components: usize) -> Value {
    let vulnerabilities: Vec<Value> = (0..vulns).map(vulnerability).collect();
    let vulnerability_index = index_by(&vulnerabilities, |v| v["severity"].as_str());
    let count = |sev: &str| vulnerability_index.get(sev).map_or(0, Vec::len);
    let comps: Vec<Value> = (0..components).map(component).collect();
    let mut licence_index: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in comps.iter().enumerate() {
        for term in c["licence"]["terms"].as_array().into_iter().flatten() {
            if let Some(t) = term.as_str() {
                licence_index.entry(t.to_owned()).or_default().push(i);
            }
        }
    }
    let suppressed_index: Vec<usize> = (0..vulnerabilities.len())
        .filter(|&i| !vulnerabilities[i]["suppressed_by"].is_null())
        .collect();
    let vex: Vec<Value> = vulnerabilities
        .iter()
        .filter(|v| !v["suppressed_by"].is_null())
        .map(|v| {
            json!({
                "vulnerability": v["id"], "aliases": v["aliases"], "status": "not_affected",
                "justification": "vulnerable_code_not_present",
                "products": [{"id": format!("pkg:oci/app@{DIGEST}"), "subcomponents": []}],
                "timestamp": "2025-01-01T00:00:00Z",
                "signed": false, "origin": ci_origin("openvex"),
            })
        })
        .collect();
    json!({
        "artifact": {"digest": DIGEST, "registry": "staging.example", "repository": "team/app", "source": SOURCE},
        "request": {"route": "staging-to-prod", "destination": "prod", "tag": "1.0", "requested_by": "ci", "dry_run": false},
        "signatures": {"status": "verified", "verified_key_ids": ["release-key"], "signatures_found": 1, "error": null},
        "attestations": {"found": 2, "verified": 2, "predicate_types": ["https://slsa.dev/provenance/v1"], "rejected": [], "error": null},
        "vulnerability_reports": [{
            "scanner": "trivy", "signed": false, "origin": ci_origin("trivy-json"),
            "artifact_name": SOURCE, "subject_digests": [DIGEST],
            "counts": {"critical": count("CRITICAL"), "high": count("HIGH"), "medium": count("MEDIUM"), "low": count("LOW")},
        }],
        "vulnerabilities": vulnerabilities,
        "vulnerability_index": vulnerability_index,
        "suppressed_index": suppressed_index,
        "sboms": [{"format": "cyclonedx", "spec_version": "1.5", "signed": false, "origin": ci_origin("cyclonedx"), "subject_digests": [], "component_count": components}],
        "components": comps,
        "licence_index": licence_index,
        "provenance": [{
            "predicate_type": "https://slsa.dev/provenance/v1", "builder_id": "https://github.com/actions/runner",
            "build_type": "https://actions.github.io/buildtypes/workflow/v1",
            "source_repository": "https://github.com/org/app", "source_ref": "refs/heads/main", "source_commit": COMMIT,
            "signed": true,
            "origin": {"kind": "signed_attestation", "key_ids": ["release-key"], "predicate_type": "https://slsa.dev/provenance/v1"},
            "subject_digests": [DIGEST],
        }],
        "vex": vex,
    })
}

fn ci_origin(format: &str) -> Value {
    json!({"kind": "ci_supplied", "format": format})
}

fn severity(i: usize) -> &'static str {
    match i {
        _ if i % 167 == 7 => "HIGH",
        _ if i % 97 == 11 => "NEGLIGIBLE",
        _ if i % 89 == 13 => "UNKNOWN",
        _ if i % 5 < 2 => "MEDIUM",
        _ => "LOW",
    }
}

fn vulnerability(i: usize) -> Value {
    let package = format!("lib{}", i % 120);
    let suppressed_by = if i % 25 == 3 {
        json!({"status": "not_affected", "justification": "vulnerable_code_not_present", "impact_statement": null, "source": "ci:openvex", "signed": false})
    } else {
        Value::Null
    };
    json!({
        "id": format!("CVE-{}-{:05}", 2019 + i % 6, 10_000 + i * 37 % 90_000),
        "severity": severity(i),
        "package": package,
        "installed_version": format!("1.{}.{}", i % 7, i % 13),
        "fixed_version": if i.is_multiple_of(3) { Value::Null } else { json!(format!("1.{}.{}", i % 7, i % 13 + 1)) },
        "title": format!("{package}: out-of-bounds read in parser (finding {i})"),
        "purl": format!("pkg:deb/debian/{package}@1.{}.{}", i % 7, i % 13),
        "scanner": "trivy",
        "aliases": if i.is_multiple_of(4) { json!([format!("GHSA-{i:04}-abcd-efgh")]) } else { json!([]) },
        "signed": false,
        "origin": ci_origin("trivy-json"),
        "suppressed_by": suppressed_by,
    })
}

fn component(i: usize) -> Value {
    let name = format!("component-{i}");
    let licence = if i % 20 == 19 {
        Value::Null
    } else {
        let declared = LICENCES[if i % 50 == 10 { 0 } else { 1 + i % 4 }];
        let terms: Vec<&str> = {
            let mut t: Vec<&str> = declared.split(" OR ").collect();
            t.sort_unstable();
            t
        };
        let alternatives: Vec<Vec<&str>> = terms.iter().map(|t| vec![*t]).collect();
        json!({"declared": declared, "expression": declared, "terms": terms, "alternatives": alternatives, "unknown": []})
    };
    json!({
        "name": name,
        "version": format!("{}.{}.{}", i % 4, i % 10, i % 3),
        "purl": format!("pkg:cargo/{name}@{}.{}.{}", i % 4, i % 10, i % 3),
        "sbom_format": "cyclonedx",
        "signed": false,
        "origin": ci_origin("cyclonedx"),
        "licence": licence,
    })
}

/// Indices of `items` grouped by the key `key` extracts (every severity bucket is present).
fn index_by(items: &[Value], key: impl Fn(&Value) -> Option<&str>) -> BTreeMap<String, Vec<usize>> {
    let mut index: BTreeMap<String, Vec<usize>> =
        ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN"]
            .into_iter()
            .map(|s| (s.to_owned(), Vec::new()))
            .collect();
    for (i, item) in items.iter().enumerate() {
        if let Some(k) = key(item) {
            index.entry(k.to_owned()).or_default().push(i);
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_input_has_the_requested_sizes_and_proportions() {
        let doc = synthetic_input(500, 300);
        let vulns = doc["vulnerabilities"].as_array().map_or(0, Vec::len);
        assert_eq!(vulns, 500);
        assert_eq!(doc["components"].as_array().map_or(0, Vec::len), 300);
        let idx = |s: &str| doc["vulnerability_index"][s].as_array().map_or(0, Vec::len);
        assert_eq!(idx("CRITICAL"), 0);
        assert!((1..=10).contains(&idx("HIGH")), "{}", idx("HIGH"));
        assert!(idx("LOW") + idx("MEDIUM") > 450);
        assert!(
            doc["licence_index"]["GPL-2.0-or-later"]
                .as_array()
                .map_or(0, Vec::len)
                > 0
        );
        assert_eq!(doc["vex"].as_array().map_or(0, Vec::len), 20);
        assert_eq!(doc["suppressed_index"].as_array().map_or(0, Vec::len), 20);
    }
}
