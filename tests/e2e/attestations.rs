//! Signed attestations in the registry through the whole server: what verifies reaches the
//! policy as signed evidence, forgeries do not.

use reqwest::StatusCode;
use serde_json::json;

use crate::evidence_docs::{OPENVEX, SLSA_V1, body, openvex_not_affected, rules};
use crate::support::{TestApp, trivy};

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
