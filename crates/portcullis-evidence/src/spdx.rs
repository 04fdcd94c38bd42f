//! SPDX 2.2 and 2.3 JSON documents into an [`Sbom`], deserialised straight into the borrowed
//! structs below.

use std::collections::HashSet;

use portcullis_core::{Component, Digest, EvidenceOrigin, Licence, Sbom};
use serde::{Deserialize, Deserializer};

use crate::Result;
use crate::de::{Text, from_str, invalid, one_of};
use crate::licence::parse_licence;
use crate::limits::{Budget, Tally};
use crate::purl::PackageUrl;

const FORMAT: &str = "spdx-json";

/// The spec versions understood.
const SPEC_VERSIONS: &[&str] = &["SPDX-2.2", "SPDX-2.3"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    #[serde(rename = "spdxVersion", borrow, deserialize_with = "spdx_version")]
    spec_version: Text<'a>,
    #[serde(rename = "SPDXID", borrow)]
    spdx_id: Option<Text<'a>>,
    #[serde(borrow)]
    document_describes: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    packages: Option<Vec<Package<'a>>>,
    #[serde(borrow)]
    relationships: Option<Vec<Relationship<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Package<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(rename = "SPDXID", borrow)]
    spdx_id: Option<Text<'a>>,
    #[serde(borrow)]
    version_info: Option<Text<'a>>,
    #[serde(borrow)]
    external_refs: Option<Vec<ExternalRef<'a>>>,
    #[serde(borrow)]
    license_concluded: Option<Text<'a>>,
    #[serde(borrow)]
    license_declared: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef<'a> {
    #[serde(borrow)]
    reference_type: Option<Text<'a>>,
    #[serde(borrow)]
    reference_locator: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Relationship<'a> {
    #[serde(borrow)]
    spdx_element_id: Text<'a>,
    #[serde(borrow)]
    related_spdx_element: Text<'a>,
    #[serde(borrow)]
    relationship_type: Text<'a>,
}

fn spdx_version<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Text<'de>, D::Error> {
    one_of(d, "version", SPEC_VERSIONS)
}

/// Parses an SPDX JSON document, recording `origin`.
///
/// The packages the document DESCRIBES (`documentDescribes`, or `DESCRIBES` /
/// `DESCRIBED_BY` relationships with the document) are its subject, like CycloneDX's
/// `metadata.component`: they are not listed as components, and a `pkg:oci/…@sha256:…`
/// purl on one binds the SBOM to that image. Package checksums are not used as bindings:
/// they hash package files, not an image manifest.
pub fn parse_spdx_with_origin(text: &str, origin: EvidenceOrigin) -> Result<Sbom> {
    parse_bounded(text, origin, &Budget::unlimited())
}

/// Parses an SPDX document, refusing it before its packages are converted when they would
/// exceed `budget`.
pub(crate) fn parse_bounded(text: &str, origin: EvidenceOrigin, budget: &Budget) -> Result<Sbom> {
    let doc: Document = from_str(FORMAT, text)?;
    let described = described(&doc);
    let packages = doc.packages.as_deref().unwrap_or_default();
    let is_subject = |p: &Package<'_>| {
        p.spdx_id
            .as_deref()
            .is_some_and(|id| described.contains(id))
    };
    budget.check(Tally {
        components: packages.iter().filter(|p| !is_subject(p)).count(),
        ..Tally::default()
    })?;
    let mut components = Vec::new();
    let mut subject_digests: Vec<Digest> = Vec::new();
    for (i, p) in packages.iter().enumerate() {
        let purl = purl(p, i)?;
        if is_subject(p) {
            subject_digests.extend(
                purl.as_deref()
                    .and_then(PackageUrl::parse)
                    .and_then(|u| u.oci_digest()),
            );
            continue;
        }
        components.push(Component {
            name: p.name.to_string(),
            version: p.version_info.as_deref().map(str::to_owned),
            purl,
            licence: licence(p),
        });
    }
    subject_digests.sort();
    subject_digests.dedup();
    Ok(Sbom {
        origin,
        format: "spdx".to_owned(),
        spec_version: doc.spec_version.owned(),
        subject_digests,
        components,
    })
}

/// The SPDX ids of the elements the document describes.
fn described<'d>(doc: &'d Document<'_>) -> HashSet<&'d str> {
    let document_id = doc.spdx_id.as_deref().unwrap_or("SPDXRef-DOCUMENT");
    let mut out: HashSet<&str> = doc
        .document_describes
        .iter()
        .flatten()
        .map(|d| &**d)
        .collect();
    for r in doc.relationships.iter().flatten() {
        let (from, to) = (&*r.spdx_element_id, &*r.related_spdx_element);
        match &*r.relationship_type {
            "DESCRIBES" if from == document_id => out.insert(to),
            "DESCRIBED_BY" if to == document_id => out.insert(from),
            _ => false,
        };
    }
    out
}

/// The first `externalRefs[]` entry of type `purl`.
fn purl(p: &Package<'_>, i: usize) -> Result<Option<String>> {
    for (j, r) in p.external_refs.iter().flatten().enumerate() {
        if r.reference_type.as_deref() == Some("purl") {
            return match &r.reference_locator {
                Some(locator) => Ok(Some(locator.to_string())),
                None => Err(invalid(
                    FORMAT,
                    format!("$.packages[{i}].externalRefs[{j}].referenceLocator"),
                    "missing",
                )),
            };
        }
    }
    Ok(None)
}

/// `licenseConcluded`, else `licenseDeclared`; `NOASSERTION`, `NONE` and absent are no licence.
fn licence(p: &Package<'_>) -> Option<Licence> {
    [&p.license_concluded, &p.license_declared]
        .into_iter()
        .flatten()
        .find(|text| !matches!(text.trim(), "" | "NOASSERTION" | "NONE"))
        .map(|text| parse_licence(text))
}
