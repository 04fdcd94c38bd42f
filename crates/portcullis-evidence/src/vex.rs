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
