//! Evidence through the whole server: CI-supplied SBOMs, scanner reports and VEX, signed
//! attestations in the registry (and forged ones that must not count), the input document
//! against its JSON Schema, and the verification cache.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ROUTE, TestApp, trivy};

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const OPENVEX: &str = "https://openvex.dev/ns/v0.2.0";

fn fixture(name: &str) -> Value {
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
fn body(source: &str, evidence: Vec<(&str, Value)>, dry_run: bool) -> Value {
    let evidence: Vec<Value> = evidence
        .into_iter()
        .map(|(format, document)| json!({"format": format, "document": document}))
        .collect();
    json!({"source": source, "route": ROUTE, "tag": "v1", "evidence": evidence, "dry_run": dry_run})
}

fn openvex_not_affected(digest: &str, cve: &str) -> Value {
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

fn rules(p: &Value) -> Vec<String> {
    p["decision"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vex_suppressed_critical_is_allowed_and_the_suppression_shown() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "vex").await;
    let source = app.source("team/app", &digest);
    let report = trivy(&[("CVE-2026-0001", "CRITICAL"), ("CVE-2026-0002", "LOW")]);

    // Without the VEX document the critical denies.
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&source, vec![("trivy-json", report.clone())], true),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(rules(&p), ["vulnerability.no_critical"]);

    // A VEX statement for another digest changes nothing.
    let other = format!("sha256:{}", "e".repeat(64));
    let (_, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(
                &source,
                vec![
                    ("trivy-json", report.clone()),
                    ("openvex", openvex_not_affected(&other, "CVE-2026-0001")),
                ],
                true,
            ),
        )
        .await;
    assert_eq!(rules(&p), ["vulnerability.no_critical"]);

    let evidence = vec![
        ("trivy-json", report),
        ("openvex", openvex_not_affected(&digest, "CVE-2026-0001")),
    ];
    let (_, dry) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&source, evidence.clone(), true),
        )
        .await;
    let vulns = dry["evidence"]["vulnerabilities"].as_array().unwrap();
    let low = vulns.iter().find(|v| v["id"] == "CVE-2026-0002").unwrap();
    assert!(
        low["suppressed_by"].is_null(),
        "only the named CVE is suppressed"
    );
    let critical = vulns.iter().find(|v| v["id"] == "CVE-2026-0001").unwrap();
    assert_eq!(critical["suppressed_by"]["status"], "not_affected");
    assert_eq!(dry["evidence"]["suppressed_index"], json!([0]));

    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&source, evidence, false),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "pending_approval", "{p}");
    assert_eq!(
        p["decision"]["suppressions"],
        json!([{
            "vulnerability": "CVE-2026-0001",
            "package": "openssl",
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
            "source": "ci:openvex"
        }])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpl3_component_is_denied_and_named() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "gpl").await;
    let sbom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": [
            {"type": "library", "name": "zlib", "version": "1.3", "purl": "pkg:deb/debian/zlib@1.3",
             "licenses": [{"license": {"id": "Zlib"}}]},
            {"type": "library", "name": "readline", "version": "8.2", "purl": "pkg:deb/debian/readline@8.2",
             "licenses": [{"license": {"id": "GPL-3.0-only"}}]},
            {"type": "library", "name": "dual", "version": "2.0",
             "licenses": [{"expression": "MIT OR GPL-3.0-only"}]},
            {"type": "library", "name": "jre", "version": "17",
             "licenses": [{"expression": "GPL-2.0-only WITH Classpath-exception-2.0"}]},
            {"type": "library", "name": "bash", "version": "5.2",
             "licenses": [{"license": {"name": "GPLv3+"}}]}
        ]
    });
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(
                &app.source("team/app", &digest),
                vec![("trivy-json", trivy(&[])), ("cyclonedx-json", sbom)],
                true,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["decision"]["allow"], false);
    let licence: Vec<&Value> = p["decision"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["rule"] == "licence.denied")
        .collect();
    let messages: Vec<&str> = licence
        .iter()
        .map(|v| v["message"].as_str().unwrap())
        .collect();
    // readline (GPL-3.0-only) and bash (GPLv3+ mapped to GPL-3.0-or-later) are denied; the
    // dual-licensed component can be taken under MIT; the Classpath exception is its own term.
    assert_eq!(licence.len(), 2, "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("readline@8.2") && m.contains("GPL-3.0-only")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("bash@5.2") && m.contains("GPL-3.0-or-later")),
        "{messages:?}"
    );
    assert!(
        !messages
            .iter()
            .any(|m| m.contains("dual") || m.contains("jre"))
    );
    assert!(
        licence
            .iter()
            .all(|v| v["remediation"].as_str().unwrap().contains("replace"))
    );
    let components = p["evidence"]["components"].as_array().unwrap();
    let dual = components.iter().find(|c| c["name"] == "dual").unwrap();
    assert_eq!(
        dual["licence"]["alternatives"],
        json!([["GPL-3.0-only"], ["MIT"]])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_attestations_reach_the_policy_and_forgeries_do_not() {
    use portcullis_testkit::{Forgery, Placement, attest, forged_envelope, push_envelope};

    let app = TestApp::spawn().await;
    let registry = app.staging.host.as_str().to_owned();
    let digest = app.push_signed("team/app", "attested").await;
    let other = app.push_image("team/app", "other").await;
    let provenance = json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"ref": "refs/heads/main", "repository": "https://github.com/org/app", "path": ".github/workflows/release.yml"}},
            "resolvedDependencies": [{"uri": "git+https://github.com/org/app@refs/heads/main", "digest": {"gitCommit": "a".repeat(40)}}]
        },
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}, "metadata": {"invocationId": "1"}}
    });
    attest(
        &registry,
        "team/app",
        &digest,
        SLSA_V1,
        &provenance,
        &[&app.key],
        Placement::Cosign,
    )
    .await
    .unwrap();
    // A signed VEX statement as an OCI 1.1 referrer (the registry has no referrers API, so
    // this goes through the tag-schema fallback).
    attest(
        &registry,
        "team/app",
        &digest,
        OPENVEX,
        &openvex_not_affected(&digest, "CVE-2026-0009"),
        &[&app.key],
        Placement::Referrer,
    )
    .await
    .unwrap();
    for forgery in [
        Forgery::UntrustedKey(&app.rogue_key),
        Forgery::OtherSubject(&other),
        Forgery::TamperedPayload,
    ] {
        let mut forged_predicate = provenance.clone();
        forged_predicate["runDetails"]["builder"]["id"] = json!("https://evil.example/builder");
        let envelope =
            forged_envelope(&digest, SLSA_V1, &forged_predicate, &app.key, forgery).unwrap();
        push_envelope(
            &registry,
            "team/app",
            &digest,
            SLSA_V1,
            &envelope,
            Placement::Cosign,
        )
        .await
        .unwrap();
    }

    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(
                &app.source("team/app", &digest),
                vec![("trivy-json", trivy(&[("CVE-2026-0009", "CRITICAL")]))],
                true,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let evidence = &p["evidence"];
    assert_eq!(
        evidence["attestations"]["found"], 5,
        "{}",
        evidence["attestations"]
    );
    assert_eq!(evidence["attestations"]["verified"], 2);
    assert!(evidence["attestations"]["error"].is_null());
    let rejected = evidence["attestations"]["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    let reasons: std::collections::BTreeSet<&str> = rejected
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 3, "three distinct reasons: {reasons:?}");

    // Only the genuine provenance reached the policy.
    let provenance = evidence["provenance"].as_array().unwrap();
    assert_eq!(provenance.len(), 1, "{provenance:?}");
    assert_eq!(
        provenance[0]["builder_id"],
        "https://github.com/actions/runner/github-hosted"
    );
    assert_eq!(
        provenance[0]["source_repository"],
        "https://github.com/org/app"
    );
    assert_eq!(provenance[0]["source_commit"], "a".repeat(40));
    assert_eq!(provenance[0]["signed"], true);
    assert_eq!(provenance[0]["origin"]["key_ids"], json!(["release-key"]));
    assert!(
        !p.to_string().contains("evil.example"),
        "forged content leaked"
    );

    // The signed VEX suppressed the critical, and says it was signed.
    assert_eq!(p["decision"]["allow"], true, "{}", p["decision"]);
    assert_eq!(
        p["decision"]["suppressions"][0]["source"],
        "attestation:release-key"
    );
    let warnings = p["decision"]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .filter(|w| w.as_str().unwrap().starts_with("attestation "))
            .count()
            == 3,
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_format_is_accepted_and_the_input_matches_its_schema() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "schema").await;
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(
                &app.source("team/app", &digest),
                vec![
                    ("trivy-json", fixture("trivy-vuln-alpine-310.json")),
                    ("grype-json", fixture("grype-vuln-debian-10.json")),
                    ("cyclonedx-json", fixture("cyclonedx-centos-7.json")),
                    ("spdx-json", fixture("spdx-centos-7.json")),
                    ("openvex", fixture("openvex-v0.2.0.json")),
                ],
                true,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let input = &p["evidence"];
    let schema_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/input.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(input)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "input does not match the schema: {errors:#?}"
    );
    let scanners: std::collections::BTreeSet<&str> = input["vulnerability_reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scanner"].as_str().unwrap())
        .collect();
    assert!(
        scanners.contains("trivy") && scanners.contains("grype"),
        "{scanners:?}"
    );
    assert_eq!(input["sboms"].as_array().unwrap().len(), 2);
    assert!(!input["vex"].as_array().unwrap().is_empty());
    // A schema that the document violates is caught (the validation is not vacuous).
    let mut broken = input.clone();
    broken["vulnerability_index"]["CRITICAL"] = json!("all of them");
    assert!(!validator.is_valid(&broken));
    // The README's example inputs are real inputs too.
    for example in ["allowed.json", "denied.json"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("policies/examples")
            .join(example);
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{example}: {errors:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_requests_for_one_digest_verifies_once() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "burst").await;
    let source = app.source("team/app", &digest);
    let before = app.state.gate.collector.cache_stats();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (http, base, token) = (app.http.clone(), app.base.clone(), app.tokens.ci.clone());
        let body = body(&source, vec![("trivy-json", trivy(&[]))], true);
        tasks.push(tokio::spawn(async move {
            let resp = http
                .post(format!("{base}/v1/promotions"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let p: Value = resp.json().await.unwrap();
            (status, p)
        }));
    }
    for t in tasks {
        let (status, p) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{p}");
        assert_eq!(p["evidence"]["signatures"]["status"], "verified");
    }
    let after = app.state.gate.collector.cache_stats();
    assert_eq!(after.misses - before.misses, 1, "{after:?}");
    assert_eq!(after.hits - before.hits, 11, "{after:?}");

    // An unsigned digest is a negative result, cached too (for the negative TTL).
    let unsigned = app.push_image("team/app", "unsigned").await;
    let source = app.source("team/app", &unsigned);
    for _ in 0..3 {
        let (_, p) = app
            .post(
                "/v1/promotions",
                &app.tokens.ci,
                &body(&source, vec![("trivy-json", trivy(&[]))], true),
            )
            .await;
        assert_eq!(p["evidence"]["signatures"]["status"], "unsigned");
    }
    let last = app.state.gate.collector.cache_stats();
    assert_eq!(last.misses - after.misses, 1, "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_evidence_is_refused_naming_the_format_and_field() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "bad").await;
    let source = app.source("team/app", &digest);
    let cases = [
        ("grype-json", json!({"matches": {}}), "$.matches"),
        (
            "cyclonedx-json",
            json!({"bomFormat": "SPDX"}),
            "$.bomFormat",
        ),
        (
            "spdx-json",
            json!({"spdxVersion": "SPDX-1.2"}),
            "$.spdxVersion",
        ),
        (
            "openvex",
            json!({"@context": OPENVEX, "statements": [{"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "pkg:oci/app"}], "status": "maybe"}]}),
            "$.statements[0].status",
        ),
    ];
    for (format, doc, field) in cases {
        let (status, p) = app
            .post(
                "/v1/promotions",
                &app.tokens.ci,
                &body(
                    &source,
                    vec![("trivy-json", trivy(&[])), (format, doc)],
                    false,
                ),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{format}: {p}");
        assert_eq!(p["code"], "invalid_evidence");
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("evidence[1]") && detail.contains(format) && detail.contains(field),
            "{detail}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_and_key_signers_count_toward_two_of_n() {
    use portcullis_evidence::{KeylessConfig, KeylessIdentity};
    use portcullis_testkit::{
        FakeFulcio, FakeRekor, LeafSpec, SanSubject, append_keyless_signature, keyless_signature,
        unix_now,
    };

    const GITHUB: &str = "https://token.actions.githubusercontent.com";
    let fulcio = FakeFulcio::new("fulcio").unwrap();
    let rekor = FakeRekor::new().unwrap();
    let bundle = std::env::temp_dir().join(format!("portcullis-k-of-n-{}", uuid::Uuid::new_v4()));
    crate::policy::copy_bundle(&bundle);
    let data_path = bundle.join("data.json");
    let mut data: Value =
        serde_json::from_str(&std::fs::read_to_string(&data_path).unwrap()).unwrap();
    data["portcullis"]["config"]["min_signatures"] = json!(2);
    std::fs::write(&data_path, data.to_string()).unwrap();
    std::fs::write(bundle.join("fulcio.pem"), fulcio.trust_root_pem()).unwrap();
    std::fs::write(bundle.join("rekor.pub"), rekor.public_key_pem()).unwrap();
    let config_dir = bundle.clone();
    let app = TestApp::spawn_with(move |c| {
        c.policy_dir = config_dir.clone();
        // Re-verify on every request so each new signature is seen at once.
        c.trust.cache.ttl_seconds = 0;
        c.trust.cache.negative_ttl_seconds = 0;
        c.trust.keyless = Some(KeylessConfig {
            trust_root: config_dir.join("fulcio.pem"),
            rekor_public_key: config_dir.join("rekor.pub"),
            identities: vec![KeylessIdentity {
                id: "release-workflow".into(),
                issuer: GITHUB.into(),
                subject: None,
                subject_regex: Some(
                    r"https://github\.com/org/app/\.github/workflows/release\.yml@refs/tags/v.*"
                        .into(),
                ),
            }],
        });
    })
    .await;
    let registry = app.staging.host.as_str().to_owned();
    let digest = app.push_signed("team/app", "two").await;
    let source = app.source("team/app", &digest);
    let dry_run = || body(&source, vec![("trivy-json", trivy(&[]))], true);
    // Adds a keyless signature by the workflow with this URI identity.
    let sign_as = |identity: &'static str| {
        let (registry, digest, fulcio, rekor) = (&registry, &digest, &fulcio, &rekor);
        async move {
            let leaf = fulcio
                .issue(&LeafSpec::new(SanSubject::Uri(identity.into()), GITHUB))
                .unwrap();
            let sig = keyless_signature(
                registry,
                "team/app",
                digest,
                fulcio,
                &leaf,
                rekor,
                unix_now(),
            )
            .unwrap();
            append_keyless_signature(registry, "team/app", digest, &sig)
                .await
                .unwrap();
        }
    };

    // One trusted key of the two required.
    let (_, p) = app.post("/v1/promotions", &app.tokens.ci, &dry_run()).await;
    assert_eq!(rules(&p), ["signature.trusted_key"], "{p}");

    // A keyless signature from another workflow does not count.
    sign_as("https://github.com/fork/app/.github/workflows/release.yml@refs/tags/v1").await;
    let (_, p) = app.post("/v1/promotions", &app.tokens.ci, &dry_run()).await;
    assert_eq!(rules(&p), ["signature.trusted_key"], "{p}");
    assert_eq!(
        p["evidence"]["signatures"]["verified_key_ids"],
        json!(["release-key"])
    );

    // The release workflow's keyless signature is the second signer.
    sign_as("https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.2.0").await;
    let (_, p) = app.post("/v1/promotions", &app.tokens.ci, &dry_run()).await;
    assert_eq!(p["decision"]["allow"], true, "{p}");
    assert_eq!(
        p["evidence"]["signatures"]["verified_key_ids"],
        json!(["release-key", "release-workflow"])
    );
    assert_eq!(p["evidence"]["signatures"]["signatures_found"], 3);
    std::fs::remove_dir_all(&bundle).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_sbom_and_scan_attestations_feed_the_policy_as_signed_evidence() {
    use portcullis_testkit::{Placement, attest};

    let app = TestApp::spawn().await;
    let registry = app.staging.host.as_str().to_owned();
    let digest = app.push_signed("team/app", "sbom").await;
    let sbom = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "components": [
            {"type": "library", "name": "zlib", "version": "1.3", "licenses": [{"license": {"id": "Zlib"}}]},
            {"type": "library", "name": "ghostscript", "version": "10.0", "licenses": [{"license": {"id": "AGPL-3.0-or-later"}}]}
        ]
    });
    attest(
        &registry,
        "team/app",
        &digest,
        "https://cyclonedx.org/bom",
        &sbom,
        &[&app.key],
        Placement::Referrer,
    )
    .await
    .unwrap();
    let scan = json!({
        "invocation": {"uri": "https://ci.example/run/1"},
        "scanner": {"uri": "pkg:github/aquasecurity/trivy@0.50.0", "version": "0.50.0",
                    "result": trivy(&[("CVE-2026-4242", "HIGH")])},
        "metadata": {"scanStartedOn": "2026-11-22T00:00:00Z", "scanFinishedOn": "2026-11-22T00:01:00Z"}
    });
    attest(
        &registry,
        "team/app",
        &digest,
        "https://cosign.sigstore.dev/attestation/vuln/v1",
        &scan,
        &[&app.key],
        Placement::Cosign,
    )
    .await
    .unwrap();

    // No CI-supplied evidence at all: the signed scan satisfies report_required.
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&app.source("team/app", &digest), vec![], true),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(rules(&p), ["licence.denied"], "{}", p["decision"]);
    assert!(
        p["decision"]["violations"][0]["message"]
            .as_str()
            .unwrap()
            .contains("ghostscript@10.0")
    );
    let evidence = &p["evidence"];
    assert_eq!(evidence["sboms"][0]["signed"], true);
    assert_eq!(
        evidence["sboms"][0]["origin"]["predicate_type"],
        "https://cyclonedx.org/bom"
    );
    let reports = evidence["vulnerability_reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["signed"], true);
    assert_eq!(evidence["vulnerabilities"][0]["id"], "CVE-2026-4242");
    assert_eq!(evidence["vulnerabilities"][0]["signed"], true);
}
