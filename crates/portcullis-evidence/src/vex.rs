//! Which VEX statement governs a vulnerability finding in the image being promoted.

use chrono::{DateTime, FixedOffset};
use portcullis_core::{Digest, VexProduct, VexStatement, Vulnerability};

use crate::purl::{PackageUrl, image_digest};

/// The statement that governs `vuln` in the image `artifact`, if any applies.
///
/// A statement applies when its vulnerability or one of its aliases equals the finding's id
/// or one of its aliases (ignoring ASCII case), and one of its products matches:
/// - the product is the image (`pkg:oci/…@sha256:…`, the `:` percent-encoded or not, or a
///   bare digest) equal to `artifact`, and it either has no subcomponents or one of them is a
///   purl covering the finding's package purl; or
/// - the product is a package purl covering the finding's purl (type, namespace and name
///   equal, and the version when the statement gives one; qualifiers ignored).
///
/// A finding without a purl can only be governed by a whole-image statement. When several
/// statements apply the latest `timestamp` wins (a missing or unreadable timestamp counts
/// as oldest) and, between equal timestamps, the later statement in `statements`. The
/// caller decides what the status means (`VexStatus::suppresses`).
pub fn governing_statement<'a>(
    vuln: &Vulnerability,
    artifact: &Digest,
    statements: &'a [VexStatement],
) -> Option<&'a VexStatement> {
    let found = vuln.purl.as_deref().and_then(PackageUrl::parse);
    statements
        .iter()
        .filter(|s| same_vulnerability(vuln, s))
        .filter(|s| {
            s.products
                .iter()
                .any(|p| product_matches(p, artifact, found.as_ref()))
        })
        // `max_by_key` keeps the last of equal maxima: document order breaks ties.
        .max_by_key(|s| timestamp(s))
}

/// Whether the statement and the finding share an id.
fn same_vulnerability(vuln: &Vulnerability, s: &VexStatement) -> bool {
    let finding = || std::iter::once(&vuln.id).chain(&vuln.aliases);
    std::iter::once(&s.vulnerability)
        .chain(&s.aliases)
        .any(|a| finding().any(|b| a.eq_ignore_ascii_case(b)))
}

/// Whether `product` covers the finding in `artifact`.
fn product_matches(product: &VexProduct, artifact: &Digest, found: Option<&PackageUrl>) -> bool {
    if let Some(image) = image_digest(&product.id) {
        return image == *artifact
            && (product.subcomponents.is_empty()
                || product.subcomponents.iter().any(|sub| covers(sub, found)));
    }
    covers(&product.id, found)
}

/// Whether the purl `text` covers the finding's purl.
fn covers(text: &str, found: Option<&PackageUrl>) -> bool {
    match (PackageUrl::parse(text), found) {
        (Some(named), Some(found)) => named.covers(found),
        _ => false,
    }
}

/// The statement's timestamp, `None` (oldest) when absent or unreadable.
fn timestamp(s: &VexStatement) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s.timestamp.as_deref()?).ok()
}

#[cfg(test)]
mod tests {
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
            origin: EvidenceOrigin::ci("openvex"),
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

    fn governs(
        v: &Vulnerability,
        artifact: &Digest,
        statements: &[VexStatement],
    ) -> Option<VexStatus> {
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
}
