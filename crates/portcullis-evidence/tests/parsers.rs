#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! CI-supplied evidence parsers against real third-party documents (see
//! `fixtures/SOURCES.txt`), their error paths, and VEX matching on parsed statements.

use portcullis_core::{
    Digest, EvidenceFormat, EvidenceItems, EvidenceOrigin, Severity, VexStatus, Vulnerability,
};
use portcullis_evidence::{Result, governing_statement, parse_report, parse_with_origin};
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // Third-party fixtures are read where they lie, in ../shared/fixtures beside the
    // repository; our own documents live in tests/fixtures.
    let own = manifest.join("tests/fixtures").join(name);
    let path = if own.exists() {
        own
    } else {
        manifest.join("../../../shared/fixtures").join(name)
    };
    std::fs::read_to_string(&path).unwrap()
}

/// Parses the JSON text `doc` as a document of the format named `format`.
fn report(format: &str, doc: &str) -> Result<EvidenceItems> {
    parse_report(format.parse().unwrap(), doc)
}

fn parse(format: &str, name: &str) -> EvidenceItems {
    report(format, &fixture(name)).unwrap()
}

/// The image the OpenVEX fixture is about.
fn image() -> Digest {
    format!("sha256:{}", "e".repeat(64)).parse().unwrap()
}

#[test]
fn every_format_is_advertised() {
    for f in [
        "trivy-json",
        "grype-json",
        "cyclonedx-json",
        "spdx-json",
        "openvex",
    ] {
        assert_eq!(f.parse::<EvidenceFormat>().unwrap().as_str(), f);
    }
    let err = "syft-json"
        .parse::<EvidenceFormat>()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("openvex") && err.contains("syft-json"),
        "{err}"
    );
}

#[test]
fn grype_debian_report_maps_severities_fixes_and_aliases() {
    let items = parse("grype-json", "grype-vuln-debian-10.json");
    assert_eq!(items.vulnerability_reports.len(), 1);
    let r = &items.vulnerability_reports[0];
    assert_eq!(r.scanner, "grype");
    assert_eq!(r.origin, EvidenceOrigin::ci(EvidenceFormat::GrypeJson));
    assert_eq!(r.artifact_name.as_deref(), Some("vulnerable-image:latest"));
    assert!(r.subject_digests.is_empty(), "repoDigests is empty");
    // Six matches, two of them identical (Django), reported once.
    assert_eq!(r.vulnerabilities.len(), 5);
    let ids: Vec<&str> = r.vulnerabilities.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "CVE-2004-0971",
            "CVE-2021-32626",
            "CVE-2021-33574",
            "CVE-2021-33574",
            "GHSA-v6rh-hp5x-86rv"
        ]
    );
    let krb = &r.vulnerabilities[0];
    assert_eq!(krb.severity, Severity::Negligible);
    assert_eq!(krb.package, "libgssapi-krb5-2");
    assert_eq!(krb.installed_version, "1.17-3+deb10u3");
    assert_eq!(krb.fixed_version, None);
    assert!(krb.aliases.is_empty(), "the only related id is itself");
    assert_eq!(
        krb.purl.as_deref(),
        Some("pkg:deb/debian/libgssapi-krb5-2@1.17-3+deb10u3?arch=amd64")
    );
    let redis = &r.vulnerabilities[1];
    assert_eq!(
        (redis.severity, redis.fixed_version.as_deref()),
        (Severity::High, None),
        "wont-fix has no fixed version even when versions are listed"
    );
    let libc = &r.vulnerabilities[2];
    assert_eq!(
        (libc.package.as_str(), libc.severity),
        ("libc-bin", Severity::Critical)
    );
    assert_eq!(r.vulnerabilities[3].package, "libc6");
    let django = &r.vulnerabilities[4];
    assert_eq!(django.package, "Django");
    assert_eq!(django.fixed_version.as_deref(), Some("3.2.10"));
    assert_eq!(django.aliases, ["CVE-2021-44420"]);
    assert_eq!(django.purl.as_deref(), Some("pkg:pypi/Django@3.2.9"));
}

#[test]
fn grype_minimal_report_from_grypes_own_presenter() {
    let items = parse("grype-json", "grype-vuln-minimal.json");
    let r = &items.vulnerability_reports[0];
    assert_eq!(r.vulnerabilities.len(), 2);
    let first = &r.vulnerabilities[0];
    assert_eq!(
        (first.id.as_str(), first.severity, first.package.as_str()),
        ("CVE-1999-0001", Severity::Low, "package-1")
    );
    assert_eq!(first.fixed_version.as_deref(), Some("1.2.1"));
    assert_eq!(first.purl, None, "an empty purl is no purl");
    let second = &r.vulnerabilities[1];
    assert_eq!(
        (second.id.as_str(), second.severity),
        ("CVE-1999-0002", Severity::Critical)
    );
    assert_eq!(second.purl.as_deref(), Some("pkg:deb/package-2@2.2.2"));
}

#[test]
fn cyclonedx_trivy_sbom_lists_components_and_licences() {
    let items = parse("cyclonedx-json", "cyclonedx-centos-7.json");
    assert!(
        items.vulnerability_reports.is_empty(),
        "no vulnerabilities section"
    );
    assert_eq!(items.sboms.len(), 1);
    let sbom = &items.sboms[0];
    assert_eq!(
        (sbom.format.as_str(), sbom.spec_version.as_str()),
        ("cyclonedx", "1.5")
    );
    assert!(
        sbom.subject_digests.is_empty(),
        "ImageID is a config digest, not a manifest digest"
    );
    let names: Vec<&str> = sbom.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["bash", "openssl-libs", "centos"]);
    let bash = &sbom.components[0];
    assert_eq!(bash.version.as_deref(), Some("4.2.46-31.el7"));
    assert_eq!(
        bash.purl.as_deref(),
        Some("pkg:rpm/centos/bash@4.2.46-31.el7?arch=x86_64&distro=centos-7.6.1810")
    );
    let licence = bash.licence.as_ref().unwrap();
    assert_eq!(licence.declared, "GPLv3+");
    assert_eq!(licence.expression.as_deref(), Some("GPL-3.0-or-later"));
    assert_eq!(licence.alternatives, [["GPL-3.0-or-later"]]);
    let openssl = sbom.components[1].licence.as_ref().unwrap();
    assert_eq!(openssl.terms, ["OpenSSL+"]);
    assert_eq!(sbom.components[2].licence, None);
}

#[test]
fn cyclonedx_vulnerabilities_resolve_refs_and_take_the_highest_rating() {
    let d = format!("sha256:{}", "a".repeat(64));
    let doc = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.4",
        "metadata": {"component": {"type": "container", "name": "r.example/app",
            "purl": format!("pkg:oci/app@{}", d.replace(':', "%3A"))}},
        "components": [{"bom-ref": "lib-a", "name": "liba", "version": "1.0",
            "purl": "pkg:deb/debian/liba@1.0",
            "licenses": [{"license": {"id": "MIT"}}, {"expression": "Apache-2.0 OR BSD-3-Clause"}],
            "components": [{"bom-ref": "lib-b", "name": "libb", "version": "2.0"}]}],
        "vulnerabilities": [{
            "id": "CVE-2024-0001",
            "ratings": [{"severity": "medium"}, {"severity": "critical"}, {"severity": "info"}],
            "references": [{"id": "GHSA-aaaa-bbbb-cccc", "source": {"name": "GitHub"}}],
            "description": "overflow",
            "affects": [{"ref": "lib-a"}, {"ref": "lib-b"}, {"ref": "pkg:npm/left-pad@1.3.0"}]
        }]
    });
    let items = report("cyclonedx-json", &doc.to_string()).unwrap();
    let sbom = &items.sboms[0];
    assert_eq!(sbom.subject_digests[0].as_str(), d);
    assert_eq!(sbom.components.len(), 2, "nested components are flattened");
    let liba = sbom.components[0].licence.as_ref().unwrap();
    assert_eq!(liba.declared, "MIT AND Apache-2.0 OR BSD-3-Clause");
    assert_eq!(
        liba.alternatives,
        [["Apache-2.0", "MIT"], ["BSD-3-Clause", "MIT"]]
    );
    let r = &items.vulnerability_reports[0];
    assert_eq!(r.scanner, "cyclonedx");
    assert_eq!(r.artifact_name.as_deref(), Some("r.example/app"));
    assert_eq!(r.subject_digests, sbom.subject_digests);
    let found: Vec<(&str, &str, Severity)> = r
        .vulnerabilities
        .iter()
        .map(|v| (v.package.as_str(), v.installed_version.as_str(), v.severity))
        .collect();
    assert_eq!(
        found,
        [
            ("liba", "1.0", Severity::Critical),
            ("libb", "2.0", Severity::Critical),
            ("left-pad", "1.3.0", Severity::Critical)
        ]
    );
    assert_eq!(r.vulnerabilities[0].aliases, ["GHSA-aaaa-bbbb-cccc"]);
    assert_eq!(
        r.vulnerabilities[0].purl.as_deref(),
        Some("pkg:deb/debian/liba@1.0")
    );
    assert_eq!(r.vulnerabilities[0].title.as_deref(), Some("overflow"));
}

#[test]
fn spdx_2_2_trivy_sbom_prefers_concluded_licences() {
    let items = parse("spdx-json", "spdx-centos-7.json");
    let sbom = &items.sboms[0];
    assert_eq!(
        (sbom.format.as_str(), sbom.spec_version.as_str()),
        ("spdx", "SPDX-2.2")
    );
    assert!(
        sbom.subject_digests.is_empty(),
        "a tarball has no manifest digest"
    );
    let names: Vec<&str> = sbom.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["centos", "bash", "openssl-libs"],
        "the described image itself is the subject, not a component"
    );
    assert_eq!(sbom.components[0].licence, None);
    let bash = &sbom.components[1];
    assert_eq!(bash.version.as_deref(), Some("4.2.46"));
    assert_eq!(
        bash.purl.as_deref(),
        Some("pkg:rpm/centos/bash@4.2.46-31.el7?arch=x86_64&distro=centos-7.6.1810")
    );
    let bl = bash.licence.as_ref().unwrap();
    assert_eq!(bl.expression.as_deref(), Some("GPL-3.0-or-later"));
    let openssl = sbom.components[2].licence.as_ref().unwrap();
    assert_eq!(openssl.expression.as_deref(), Some("OpenSSL"));
    assert_eq!(openssl.terms, ["OpenSSL"]);
}

#[test]
fn spdx_2_3_sbom_binds_the_described_image() {
    let items = parse("spdx-json", "spdx-2.3-app.json");
    let sbom = &items.sboms[0];
    assert_eq!(sbom.spec_version, "SPDX-2.3");
    assert_eq!(sbom.subject_digests, [image()]);
    let names: Vec<&str> = sbom.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["libc6", "Django", "left-pad"]);
    let libc = sbom.components[0].licence.as_ref().unwrap();
    assert_eq!(
        libc.terms,
        ["GPL-2.0-only WITH GCC-exception-2.0", "LGPL-2.1-or-later"]
    );
    assert_eq!(libc.alternatives.len(), 1);
    assert_eq!(
        sbom.components[0].purl.as_deref(),
        Some("pkg:deb/debian/libc6@2.28-10?arch=amd64&distro=debian-10"),
        "the purl ref, not the cpe"
    );
    let django = sbom.components[1].licence.as_ref().unwrap();
    assert_eq!(
        django.expression.as_deref(),
        Some("BSD-3-Clause"),
        "NOASSERTION falls back to licenseDeclared"
    );
    let left_pad = sbom.components[2].licence.as_ref().unwrap();
    assert_eq!(left_pad.alternatives, [["MIT"], ["WTFPL"]]);
}

#[test]
fn openvex_v0_2_0_statements() {
    let items = parse("openvex", "openvex-v0.2.0.json");
    assert_eq!(items.vex.len(), 4);
    let s = &items.vex[0];
    assert_eq!(s.vulnerability, "CVE-2021-33574");
    assert_eq!(s.aliases, ["GHSA-xxxx-33574-demo"]);
    assert_eq!(s.status, VexStatus::NotAffected);
    assert_eq!(
        s.justification.as_deref(),
        Some("vulnerable_code_not_in_execute_path")
    );
    assert_eq!(
        s.impact_statement.as_deref(),
        Some("The application never calls mq_notify.")
    );
    assert_eq!(
        s.timestamp.as_deref(),
        Some("2024-05-02T09:30:00Z"),
        "the document's"
    );
    assert_eq!(
        s.document_id.as_deref(),
        Some("https://vex.example.com/portcullis/app-2024-0007")
    );
    assert_eq!(s.products[0].subcomponents.len(), 2);
    assert_eq!(s.origin, EvidenceOrigin::ci(EvidenceFormat::OpenVex));
    assert_eq!(
        items.vex[1].timestamp.as_deref(),
        Some("2024-05-03T10:00:00Z")
    );
    assert_eq!(items.vex[1].status, VexStatus::Fixed);
    assert_eq!(items.vex[2].status, VexStatus::UnderInvestigation);
    assert_eq!(
        items.vex[3].products[0].id, "pkg:deb/debian/libgssapi-krb5-2",
        "identifiers.purl when there is no @id"
    );
}

#[test]
fn openvex_legacy_shapes() {
    let doc = json!({
        "@context": "https://openvex.dev/ns",
        "@id": "https://openvex.dev/docs/example/vex-9fb3463de1b5",
        "timestamp": "2023-01-08T18:02:03.647787998-06:00",
        "statements": [{
            "vulnerability": "CVE-2023-1234",
            "products": ["pkg:apk/wolfi/git@2.39.0-r1?arch=x86_64"],
            "subcomponents": ["pkg:apk/wolfi/curl@7.87.0"],
            "status": "not_affected",
            "justification": "component_not_present"
        }]
    });
    let vex = report("openvex", &doc.to_string()).unwrap().vex;
    assert_eq!(vex[0].vulnerability, "CVE-2023-1234");
    assert!(vex[0].aliases.is_empty());
    assert_eq!(
        vex[0].products[0].id,
        "pkg:apk/wolfi/git@2.39.0-r1?arch=x86_64"
    );
    assert_eq!(
        vex[0].products[0].subcomponents,
        ["pkg:apk/wolfi/curl@7.87.0"]
    );
    assert_eq!(
        vex[0].timestamp.as_deref(),
        Some("2023-01-08T18:02:03.647787998-06:00")
    );
}

#[test]
fn signed_origin_is_recorded() {
    let origin = EvidenceOrigin::SignedAttestation {
        key_ids: vec!["ci".into()],
        predicate_type: "https://openvex.dev/ns/v0.2.0".into(),
    };
    let items = parse_with_origin(
        EvidenceFormat::OpenVex,
        &fixture("openvex-v0.2.0.json"),
        origin.clone(),
    )
    .unwrap();
    assert!(items.vex.iter().all(|s| s.origin == origin));
    let items = parse_with_origin(
        EvidenceFormat::SpdxJson,
        &fixture("spdx-centos-7.json"),
        origin.clone(),
    )
    .unwrap();
    assert_eq!(items.sboms[0].origin, origin);
}

/// Each case: format, document, the JSON path the error must name.
fn malformed_cases() -> Vec<(&'static str, Value, &'static str)> {
    let match_with = |vuln: Value, artifact: Value| json!({"matches": [{"vulnerability": vuln, "artifact": artifact}]});
    let cdx = |extra: Value| {
        let mut doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.6"});
        doc.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        doc
    };
    let vex = |statement: Value| json!({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [statement]});
    vec![
        ("grype-json", json!([]), "$"),
        (
            "grype-json",
            json!({"descriptor": {"name": "syft"}, "matches": []}),
            "$.descriptor.name",
        ),
        ("grype-json", json!({"source": {}}), "$.matches"),
        ("grype-json", json!({"matches": {}}), "$.matches"),
        (
            "grype-json",
            match_with(json!({"severity": "High"}), json!({"name": "p"})),
            "$.matches[0].vulnerability.id",
        ),
        (
            "grype-json",
            match_with(json!({"id": "C", "severity": "Dire"}), json!({"name": "p"})),
            "$.matches[0].vulnerability.severity",
        ),
        (
            "grype-json",
            match_with(json!({"id": "C", "severity": "Low"}), json!({"name": 3})),
            "$.matches[0].artifact.name",
        ),
        (
            "grype-json",
            json!({"matches": [{"vulnerability": {"id": "C"}}]}),
            "$.matches[0].artifact",
        ),
        (
            "grype-json",
            json!({"matches": [], "source": {"target": {"repoDigests": ["app@sha256:1"]}}}),
            "$.source.target.repoDigests[0]",
        ),
        ("cyclonedx-json", json!("bom"), "$"),
        (
            "cyclonedx-json",
            json!({"bomFormat": "SPDX", "specVersion": "1.5"}),
            "$.bomFormat",
        ),
        (
            "cyclonedx-json",
            json!({"bomFormat": "CycloneDX", "specVersion": "1.1"}),
            "$.specVersion",
        ),
        (
            "cyclonedx-json",
            json!({"bomFormat": "CycloneDX"}),
            "$.specVersion",
        ),
        (
            "cyclonedx-json",
            cdx(json!({"components": [{"version": "1"}]})),
            "$.components[0].name",
        ),
        (
            "cyclonedx-json",
            cdx(json!({"components": [{"name": "a", "components": [{"name": 1}]}]})),
            "$.components[0].components[0].name",
        ),
        (
            "cyclonedx-json",
            cdx(json!({"components": [{"name": "a", "licenses": [{"license": {}}]}]})),
            "$.components[0].licenses[0].license.id",
        ),
        (
            "cyclonedx-json",
            cdx(json!({"components": [{"name": "a", "licenses": [{}]}]})),
            "$.components[0].licenses[0]",
        ),
        (
            "cyclonedx-json",
            cdx(json!({"vulnerabilities": [{"id": "C", "ratings": [{"severity": "severe"}]}]})),
            "$.vulnerabilities[0].ratings[0].severity",
        ),
        (
            "cyclonedx-json",
            cdx(json!({"vulnerabilities": [{"id": "C", "affects": [{}]}]})),
            "$.vulnerabilities[0].affects[0].ref",
        ),
        ("spdx-json", json!(null), "$"),
        (
            "spdx-json",
            json!({"spdxVersion": "SPDX-2.1"}),
            "$.spdxVersion",
        ),
        (
            "spdx-json",
            json!({"spdxVersion": "SPDX-3.0"}),
            "$.spdxVersion",
        ),
        ("spdx-json", json!({"packages": []}), "$.spdxVersion"),
        (
            "spdx-json",
            json!({"spdxVersion": "SPDX-2.3", "packages": [{"SPDXID": "x"}]}),
            "$.packages[0].name",
        ),
        (
            "spdx-json",
            json!({"spdxVersion": "SPDX-2.3", "packages": [{"name": "a", "licenseConcluded": 1}]}),
            "$.packages[0].licenseConcluded",
        ),
        (
            "spdx-json",
            json!({"spdxVersion": "SPDX-2.3", "packages": {}}),
            "$.packages",
        ),
        (
            "spdx-json",
            json!({"spdxVersion": "SPDX-2.3", "relationships": [{"spdxElementId": "a", "relatedSpdxElement": "b"}]}),
            "$.relationships[0].relationshipType",
        ),
        ("openvex", json!([1]), "$"),
        (
            "openvex",
            json!({"@context": "https://openvex.dev/ns/v9", "statements": []}),
            "$.@context",
        ),
        ("openvex", json!({"statements": []}), "$.@context"),
        (
            "openvex",
            json!({"@context": "https://openvex.dev/ns/v0.2.0"}),
            "$.statements",
        ),
        (
            "openvex",
            json!({"@context": "https://openvex.dev/ns/v0.2.0", "statements": {}}),
            "$.statements",
        ),
        (
            "openvex",
            vex(json!({"products": ["sha256:x"], "status": "fixed"})),
            "$.statements[0].vulnerability",
        ),
        (
            "openvex",
            vex(json!({"vulnerability": 7, "products": ["p"], "status": "fixed"})),
            "$.statements[0].vulnerability",
        ),
        (
            "openvex",
            vex(json!({"vulnerability": {"@id": "x"}, "products": ["p"], "status": "fixed"})),
            "$.statements[0].vulnerability.name",
        ),
        (
            "openvex",
            vex(json!({"vulnerability": "C", "products": ["p"], "status": "wontfix"})),
            "$.statements[0].status",
        ),
        (
            "openvex",
            vex(json!({"vulnerability": "C", "products": ["p"]})),
            "$.statements[0].status",
        ),
        (
            "openvex",
            vex(json!({"vulnerability": "C", "status": "fixed"})),
            "$.statements[0].products",
        ),
        (
            "openvex",
            vex(
                json!({"vulnerability": "C", "products": [{"subcomponents": []}], "status": "fixed"}),
            ),
            "$.statements[0].products[0].@id",
        ),
        (
            "openvex",
            vex(json!({"vulnerability": "C", "products": [1], "status": "fixed"})),
            "$.statements[0].products[0]",
        ),
        (
            "openvex",
            vex(
                json!({"vulnerability": "C", "products": ["p"], "status": "fixed", "timestamp": "yesterday"}),
            ),
            "$.statements[0].timestamp",
        ),
    ]
}

#[test]
fn malformed_documents_name_the_format_and_the_field() {
    for (format, doc, field) in malformed_cases() {
        let err = report(format, &doc.to_string())
            .err()
            .unwrap_or_else(|| panic!("{format} {doc} should be rejected"))
            .to_string();
        assert!(
            err.contains(format) && err.contains(&format!(" at {field}:")),
            "{format} {doc}: {err:?} should name {field}"
        );
    }
}

#[test]
fn documents_of_another_format_are_rejected_not_misread() {
    let trivy = fixture("trivy-vuln-alpine-310.json");
    for format in ["grype-json", "cyclonedx-json", "spdx-json", "openvex"] {
        assert!(report(format, &trivy).is_err(), "{format}");
    }
    assert!(report("cyclonedx-json", &fixture("spdx-centos-7.json")).is_err());
    assert!(report("spdx-json", &fixture("cyclonedx-centos-7.json")).is_err());
}

/// The Grype findings with the VEX fixture's statements, for matching tests.
fn grype_findings() -> Vec<Vulnerability> {
    parse("grype-json", "grype-vuln-debian-10.json").vulnerability_reports[0]
        .vulnerabilities
        .clone()
}

#[test]
fn vex_from_fixtures_governs_the_matching_findings() {
    let vex = parse("openvex", "openvex-v0.2.0.json").vex;
    let findings = grype_findings();
    let status = |i: usize| governing_statement(&findings[i], &image(), &vex).map(|s| s.status);
    // libgssapi: package purl without version covers the installed one.
    assert_eq!(status(0), Some(VexStatus::Affected));
    // redis: whole-image statement by bare digest.
    assert_eq!(status(1), Some(VexStatus::UnderInvestigation));
    // libc-bin and libc6: image product narrowed to subcomponents.
    assert_eq!(status(2), Some(VexStatus::NotAffected));
    assert_eq!(status(3), Some(VexStatus::NotAffected));
    // Django: GHSA id with a pypi purl, matched case-insensitively on the name.
    assert_eq!(status(4), Some(VexStatus::Fixed));
    let other: Digest = format!("sha256:{}", "f".repeat(64)).parse().unwrap();
    assert_eq!(
        governing_statement(&findings[2], &other, &vex),
        None,
        "another image"
    );
    assert_eq!(
        governing_statement(&findings[0], &other, &vex).map(|s| s.status),
        Some(VexStatus::Affected),
        "a package product applies whatever the image"
    );
}
