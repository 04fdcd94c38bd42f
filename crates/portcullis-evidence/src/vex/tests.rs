//! The VEX rules, and a check that the index picks exactly the statement the plain
//! scan over every statement (the rules as written) picks, over many generated statements.

use portcullis_core::{EvidenceOrigin, Severity, VexStatus};

use super::*;

fn digest(c: char) -> Digest {
    format!("sha256:{}", c.to_string().repeat(64))
        .parse()
        .unwrap()
}

fn finding(id: &str, purl: &str) -> Vulnerability {
    Vulnerability {
        id: id.into(),
        severity: Severity::High,
        package: "openssl".into(),
        installed_version: "3.0.2-r0".into(),
        fixed_version: None,
        title: None,
        purl: Some(purl.into()),
        aliases: vec!["GHSA-1111-2222-3333".into()],
    }
}

fn statement(
    vuln: &str,
    product: &str,
    subs: &[&str],
    status: VexStatus,
    ts: &str,
) -> VexStatement {
    VexStatement {
        origin: EvidenceOrigin::ci(portcullis_core::EvidenceFormat::OpenVex),
        vulnerability: vuln.into(),
        aliases: Vec::new(),
        products: vec![VexProduct {
            id: product.into(),
            subcomponents: subs.iter().map(|s| (*s).to_owned()).collect(),
        }],
        status,
        justification: None,
        impact_statement: None,
        timestamp: (!ts.is_empty()).then(|| ts.to_owned()),
        document_id: None,
    }
}

const OPENSSL: &str = "pkg:apk/alpine/openssl@3.0.2-r0?arch=x86_64";
const T1: &str = "2024-01-01T00:00:00Z";
const T2: &str = "2024-02-01T00:00:00Z";

fn governs(v: &Vulnerability, artifact: &Digest, statements: &[VexStatement]) -> Option<VexStatus> {
    governing_statement(v, artifact, statements).map(|s| s.status)
}

#[test]
fn image_product_suppresses_encoded_or_not() {
    let v = finding("CVE-2024-1", OPENSSL);
    let hex = "a".repeat(64);
    for product in [
        format!("pkg:oci/app@sha256%3A{hex}?repository_url=r.example/app"),
        format!("pkg:oci/app@sha256:{hex}"),
        format!("sha256:{hex}"),
    ] {
        let s = [statement(
            "CVE-2024-1",
            &product,
            &[],
            VexStatus::NotAffected,
            T1,
        )];
        assert_eq!(
            governs(&v, &digest('a'), &s),
            Some(VexStatus::NotAffected),
            "{product}"
        );
        assert_eq!(
            governs(&v, &digest('b'), &s),
            None,
            "{product} names another image"
        );
    }
}

#[test]
fn package_purl_product_suppresses_ignoring_qualifiers() {
    let v = finding("CVE-2024-1", OPENSSL);
    for product in ["pkg:apk/alpine/openssl", "pkg:apk/alpine/openssl@3.0.2-r0"] {
        let s = [statement("CVE-2024-1", product, &[], VexStatus::Fixed, T1)];
        assert_eq!(
            governs(&v, &digest('a'), &s),
            Some(VexStatus::Fixed),
            "{product}"
        );
    }
    for product in [
        "pkg:apk/alpine/openssl@3.0.3-r0",
        "pkg:apk/alpine/libssl3",
        "pkg:deb/alpine/openssl",
    ] {
        let s = [statement("CVE-2024-1", product, &[], VexStatus::Fixed, T1)];
        assert_eq!(governs(&v, &digest('a'), &s), None, "{product}");
    }
}

#[test]
fn subcomponents_narrow_an_image_product() {
    let v = finding("CVE-2024-1", OPENSSL);
    let image = format!("pkg:oci/app@sha256%3A{}", "a".repeat(64));
    let hit = [statement(
        "CVE-2024-1",
        &image,
        &["pkg:apk/alpine/busybox", "pkg:apk/alpine/openssl@3.0.2-r0"],
        VexStatus::NotAffected,
        T1,
    )];
    assert_eq!(
        governs(&v, &digest('a'), &hit),
        Some(VexStatus::NotAffected)
    );
    let miss = [statement(
        "CVE-2024-1",
        &image,
        &["pkg:apk/alpine/busybox"],
        VexStatus::NotAffected,
        T1,
    )];
    assert_eq!(governs(&v, &digest('a'), &miss), None);
    let no_purl = Vulnerability { purl: None, ..v };
    assert_eq!(
        governs(&no_purl, &digest('a'), &hit),
        None,
        "nothing to match the subcomponent with"
    );
}

#[test]
fn another_vulnerability_does_not_apply_but_aliases_do() {
    let v = finding("CVE-2024-1", OPENSSL);
    let other = [statement(
        "CVE-2024-2",
        "pkg:apk/alpine/openssl",
        &[],
        VexStatus::NotAffected,
        T1,
    )];
    assert_eq!(governs(&v, &digest('a'), &other), None);
    let by_alias = [statement(
        "ghsa-1111-2222-3333",
        "pkg:apk/alpine/openssl",
        &[],
        VexStatus::NotAffected,
        T1,
    )];
    assert_eq!(
        governs(&v, &digest('a'), &by_alias),
        Some(VexStatus::NotAffected)
    );
    let mut aliased = statement(
        "GHSA-9999",
        "pkg:apk/alpine/openssl",
        &[],
        VexStatus::Fixed,
        T1,
    );
    aliased.aliases = vec!["CVE-2024-1".into()];
    assert_eq!(
        governs(&v, &digest('a'), &[aliased]),
        Some(VexStatus::Fixed)
    );
}

#[test]
fn latest_statement_wins() {
    let v = finding("CVE-2024-1", OPENSSL);
    let image = format!("sha256:{}", "a".repeat(64));
    let not_affected = statement("CVE-2024-1", &image, &[], VexStatus::NotAffected, T1);
    let affected = statement(
        "CVE-2024-1",
        "pkg:apk/alpine/openssl",
        &[],
        VexStatus::Affected,
        T2,
    );
    // An `affected` after `not_affected` un-suppresses, whatever the order given.
    let s = [not_affected.clone(), affected.clone()];
    assert_eq!(governs(&v, &digest('a'), &s), Some(VexStatus::Affected));
    let s = [affected.clone(), not_affected.clone()];
    assert_eq!(governs(&v, &digest('a'), &s), Some(VexStatus::Affected));
    // Offsets are compared as instants: 01:00+02:00 is before 00:30Z.
    let early = statement(
        "CVE-2024-1",
        &image,
        &[],
        VexStatus::Fixed,
        "2024-03-01T01:00:00+02:00",
    );
    let late = statement(
        "CVE-2024-1",
        &image,
        &[],
        VexStatus::UnderInvestigation,
        "2024-02-29T23:30:00Z",
    );
    assert_eq!(
        governs(&v, &digest('a'), &[late, early]),
        Some(VexStatus::UnderInvestigation)
    );
    // Equal timestamps: the later statement; none at all counts as oldest.
    let tie = statement("CVE-2024-1", &image, &[], VexStatus::Fixed, T1);
    assert_eq!(
        governs(&v, &digest('a'), &[not_affected.clone(), tie]),
        Some(VexStatus::Fixed)
    );
    let undated = statement("CVE-2024-1", &image, &[], VexStatus::Affected, "");
    assert_eq!(
        governs(&v, &digest('a'), &[not_affected, undated]),
        Some(VexStatus::NotAffected)
    );
}

/// The rules as written, one pass over every statement per finding: the reference the
/// index must agree with.
fn reference<'a>(
    vuln: &Vulnerability,
    artifact: &Digest,
    statements: &'a [VexStatement],
) -> Option<&'a VexStatement> {
    let found = vuln.purl.as_deref().and_then(PackageUrl::parse);
    let covers = |text: &str| match (PackageUrl::parse(text), found.as_ref()) {
        (Some(named), Some(found)) => named.covers(found),
        _ => false,
    };
    statements
        .iter()
        .filter(|s| {
            let finding = || std::iter::once(&vuln.id).chain(&vuln.aliases);
            std::iter::once(&s.vulnerability)
                .chain(&s.aliases)
                .any(|a| finding().any(|b| a.eq_ignore_ascii_case(b)))
        })
        .filter(|s| {
            s.products.iter().any(|p| match image_digest(&p.id) {
                Some(image) => {
                    image == *artifact
                        && (p.subcomponents.is_empty()
                            || p.subcomponents.iter().any(|sub| covers(sub)))
                }
                None => covers(&p.id),
            })
        })
        .max_by_key(|s| timestamp(s))
}

/// A small deterministic generator (a linear congruential one; no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        &from[(self.0 >> 33) as usize % from.len()]
    }

    fn some<T: Clone>(&mut self, from: &[T], most: usize) -> Vec<T> {
        let n = *self.pick((0..=most).collect::<Vec<_>>().as_slice());
        (0..n).map(|_| self.pick(from).clone()).collect()
    }
}

#[test]
fn the_index_agrees_with_a_scan_of_every_statement() {
    let artifact = digest('a');
    let hex = "a".repeat(64);
    let ids: Vec<String> = (0..80)
        .flat_map(|i| {
            [
                format!("CVE-2024-{i}"),
                format!("ghsa-{i}"),
                format!("cve-2024-{i}"),
            ]
        })
        .collect();
    let purls: &[&str] = &[
        "pkg:apk/alpine/openssl@3.0.2-r0?arch=x86_64",
        "pkg:apk/alpine/openssl@3.0.3-r0",
        "pkg:apk/alpine/openssl",
        "pkg:apk/alpine/busybox@1.36",
        "pkg:apk/alpine/busybox",
        "pkg:deb/debian/openssl@3.0.2-r0",
        "pkg:pypi/Foo_Bar@1.0",
        "pkg:pypi/foo-bar",
        "pkg:npm/%40scope/x@2",
        "not a purl",
    ];
    let products: Vec<String> = purls
        .iter()
        .map(|p| (*p).to_owned())
        .chain([
            format!("pkg:oci/app@sha256%3A{hex}?repository_url=r.example/app"),
            format!("pkg:oci/app@sha256:{hex}"),
            format!("sha256:{hex}"),
            format!("sha256:{}", "b".repeat(64)),
        ])
        .collect();
    let subs: Vec<String> = purls.iter().map(|p| (*p).to_owned()).collect();
    let stamps: &[&str] = &[
        "",
        "garbage",
        T1,
        T2,
        "2024-01-31T23:00:00-02:00",
        "2024-01-01T00:00:00Z",
    ];
    let statuses: &[VexStatus] = &[
        VexStatus::NotAffected,
        VexStatus::Affected,
        VexStatus::Fixed,
        VexStatus::UnderInvestigation,
    ];
    let mut rng = Lcg(7);
    let statements: Vec<VexStatement> = (0..300)
        .map(|_| {
            let mut s = statement(
                rng.pick(ids.as_slice()).as_str(),
                "",
                &[],
                *rng.pick(statuses),
                rng.pick::<&str>(stamps),
            );
            s.aliases = rng.some(&ids, 2);
            s.products = (0..*rng.pick(&[1, 1, 2, 3][..]))
                .map(|_| VexProduct {
                    id: rng.pick(products.as_slice()).clone(),
                    subcomponents: rng.some(&subs, 2),
                })
                .collect();
            s
        })
        .collect();
    let index = VexIndex::new(&statements, &artifact);
    let mut governed = 0;
    for i in 0..3000 {
        let mut v = finding(rng.pick(ids.as_slice()).as_str(), rng.pick::<&str>(purls));
        v.aliases = rng.some(&ids, 2);
        if i % 5 == 0 {
            v.purl = None;
        }
        let want = reference(&v, &artifact, &statements);
        let got = index.governing(&v);
        assert!(
            got.map(|s| s as *const _) == want.map(|s| s as *const _),
            "finding {v:?}: index chose {got:?}, the scan {want:?}"
        );
        governed += usize::from(got.is_some());
    }
    // The generated cases exercise both outcomes.
    assert!(
        (300..2700).contains(&governed),
        "{governed} of 3000 governed"
    );
}

#[test]
fn each_of_twenty_thousand_findings_finds_its_own_statement() {
    let artifact = digest('a');
    let package = |i: usize, version: &str| format!("pkg:deb/debian/lib{}@{version}", i % 500);
    let statements: Vec<VexStatement> = (0..20_000)
        .map(|i| {
            let status = if i % 3 == 0 {
                VexStatus::Affected
            } else {
                VexStatus::NotAffected
            };
            let version = format!("1.{}", i % 7);
            statement(
                &format!("CVE-2024-{i}"),
                &package(i, &version),
                &[],
                status,
                T1,
            )
        })
        .collect();
    let index = VexIndex::new(&statements, &artifact);
    for (i, own) in statements.iter().enumerate() {
        let version = format!("1.{}?arch=amd64", i % 7);
        let v = finding(&format!("cve-2024-{i}"), &package(i, &version));
        let s = index.governing(&v).map(|s| s as *const VexStatement);
        assert_eq!(s, Some(own as *const _), "finding {i}");
        let other_version = finding(&format!("CVE-2024-{i}"), &package(i, "2.0"));
        assert!(index.governing(&other_version).is_none(), "finding {i}");
    }
}
