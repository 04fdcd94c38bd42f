//! Which VEX statement governs a vulnerability finding in the image being promoted.
//!
//! Statements are indexed once per evaluation by (vulnerability id, product scope), keeping
//! only the statement that wins for each key, so matching all findings costs a few hash
//! lookups per finding instead of a pass over every statement (which was quadratic).

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};
use portcullis_core::{Digest, VexProduct, VexStatement, Vulnerability};

use crate::purl::{PackageUrl, image_digest};

/// What a statement's product covers in the promoted image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Scope {
    /// The whole image: an image product without subcomponents.
    Image,
    /// A package (from a package product or an image product's subcomponent): type,
    /// namespace and name, and the version when the statement gives one.
    Package {
        ty: String,
        namespace: Option<String>,
        name: String,
        version: Option<String>,
    },
}

impl Scope {
    fn package(purl: PackageUrl) -> Self {
        Self::Package {
            ty: purl.ty,
            namespace: purl.namespace,
            name: purl.name,
            version: purl.version,
        }
    }
}

/// Precedence between applicable statements: the latest timestamp (absent or unreadable
/// counts as oldest), then the later position in the statement list.
type Rank = (Option<DateTime<FixedOffset>>, usize);

/// The VEX statements of one evaluation, indexed for matching against the findings of the
/// image `artifact`.
///
/// A statement applies to a finding when its vulnerability or one of its aliases equals the
/// finding's id or one of its aliases (ignoring ASCII case), and one of its products matches:
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
#[derive(Debug)]
pub struct VexIndex<'a> {
    statements: Vec<&'a VexStatement>,
    /// Lower-cased vulnerability id → scope → the winning statement for that pair.
    best: HashMap<String, HashMap<Scope, Rank>>,
}

impl<'a> VexIndex<'a> {
    /// Indexes `statements` for the image `artifact`; statements about other images are
    /// left out. Costs one entry per (id or alias, scope) of each statement.
    pub fn new(statements: &'a [VexStatement], artifact: &Digest) -> Self {
        Self::of_all(statements.iter().collect(), artifact)
    }

    /// Indexes `statements` (gathered from several documents, in order) like [`Self::new`].
    pub fn of_all(statements: Vec<&'a VexStatement>, artifact: &Digest) -> Self {
        let mut best: HashMap<String, HashMap<Scope, Rank>> = HashMap::new();
        for (position, s) in statements.iter().enumerate() {
            let scopes = scopes(&s.products, artifact);
            if scopes.is_empty() {
                continue;
            }
            let rank = (timestamp(s), position);
            let mut ids: Vec<String> = std::iter::once(&s.vulnerability)
                .chain(&s.aliases)
                .map(|id| id.to_ascii_lowercase())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                let by_scope = best.entry(id).or_default();
                for scope in &scopes {
                    let slot = by_scope.entry(scope.clone()).or_insert(rank);
                    *slot = (*slot).max(rank);
                }
            }
        }
        Self { statements, best }
    }

    /// The statement that governs `vuln`, if any applies.
    pub fn governing(&self, vuln: &Vulnerability) -> Option<&'a VexStatement> {
        // No statement applies to this image: skip reading the finding's purl.
        if self.best.is_empty() {
            return None;
        }
        let mut finding_scopes = vec![Scope::Image];
        if let Some(found) = vuln.purl.as_deref().and_then(PackageUrl::parse) {
            if found.version.is_some() {
                finding_scopes.push(Scope::package(found.clone()));
            }
            finding_scopes.push(Scope::package(PackageUrl {
                version: None,
                ..found
            }));
        }
        std::iter::once(&vuln.id)
            .chain(&vuln.aliases)
            .filter_map(|id| self.best.get(&id.to_ascii_lowercase()))
            .flat_map(|by_scope| finding_scopes.iter().filter_map(|s| by_scope.get(s)))
            .max()
            .and_then(|&(_, position)| self.statements.get(position).copied())
    }
}

/// The statement that governs `vuln` in the image `artifact`, if any applies (see
/// [`VexIndex`] for the rules). Indexes `statements` on every call: to match many findings,
/// build one [`VexIndex`] and ask it.
pub fn governing_statement<'a>(
    vuln: &Vulnerability,
    artifact: &Digest,
    statements: &'a [VexStatement],
) -> Option<&'a VexStatement> {
    VexIndex::new(statements, artifact).governing(vuln)
}

/// How many (id, product) pairs indexing `statements` costs at most: each id or alias times
/// each product (an image product counts once per subcomponent). Limits are checked on it.
pub fn index_pairs(statements: &[VexStatement]) -> usize {
    statements
        .iter()
        .map(|s| {
            let products: usize = s
                .products
                .iter()
                .map(|p| p.subcomponents.len().max(1))
                .sum();
            (1 + s.aliases.len()).saturating_mul(products)
        })
        .fold(0, usize::saturating_add)
}

/// The scopes `products` cover in `artifact`; products naming another image, and purls that
/// do not parse, cover nothing.
fn scopes(products: &[VexProduct], artifact: &Digest) -> Vec<Scope> {
    let mut out = Vec::new();
    for product in products {
        match image_digest(&product.id) {
            Some(image) if image != *artifact => {}
            Some(_) if product.subcomponents.is_empty() => out.push(Scope::Image),
            Some(_) => out.extend(
                product
                    .subcomponents
                    .iter()
                    .filter_map(|sub| PackageUrl::parse(sub))
                    .map(Scope::package),
            ),
            None => out.extend(PackageUrl::parse(&product.id).map(Scope::package)),
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The statement's timestamp, `None` (oldest) when absent or unreadable.
fn timestamp(s: &VexStatement) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s.timestamp.as_deref()?).ok()
}

#[cfg(test)]
mod tests;
