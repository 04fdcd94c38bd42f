//! SPDX 2.2 and 2.3 JSON documents into an [`Sbom`].

use std::collections::BTreeSet;

use portcullis_core::{Component, Digest, EvidenceOrigin, Licence, Sbom};
use serde_json::Value;

use crate::Result;
use crate::fields::Fields;
use crate::licence::parse_licence;
use crate::purl::PackageUrl;

const F: Fields = Fields {
    format: "spdx-json",
};

/// The spec versions understood.
const SPEC_VERSIONS: &[&str] = &["SPDX-2.2", "SPDX-2.3"];

/// Parses an SPDX JSON document, recording `origin`.
///
/// The packages the document DESCRIBES (`documentDescribes`, or `DESCRIBES` /
/// `DESCRIBED_BY` relationships with the document) are its subject, like CycloneDX's
/// `metadata.component`: they are not listed as components, and a `pkg:oci/…@sha256:…`
/// purl on one binds the SBOM to that image. Package checksums are not used as bindings:
/// they hash package files, not an image manifest.
pub fn parse_spdx_with_origin(doc: &Value, origin: EvidenceOrigin) -> Result<Sbom> {
    F.object(doc)?;
    let spec_version = F.req_str(doc, "spdxVersion", "$")?;
    if !SPEC_VERSIONS.contains(&spec_version) {
        return Err(F.invalid(
            "$.spdxVersion",
            format!("version {spec_version:?} is not supported, expected SPDX-2.2 or SPDX-2.3"),
        ));
    }
    let described = described(doc)?;
    let mut components = Vec::new();
    let mut subject_digests: Vec<Digest> = Vec::new();
    for (i, p) in F.opt_array(doc, "packages", "$")?.iter().enumerate() {
        let path = format!("$.packages[{i}]");
        if !p.is_object() {
            return Err(F.invalid(path, "expected an object"));
        }
        let name = F.req_str(p, "name", &path)?;
        let purl = purl(p, &path)?;
        let spdx_id = F.opt_str(p, "SPDXID", &path)?;
        if spdx_id.is_some_and(|id| described.contains(id)) {
            subject_digests.extend(
                purl.as_deref()
                    .and_then(PackageUrl::parse)
                    .and_then(|u| u.oci_digest()),
            );
            continue;
        }
        components.push(Component {
            name: name.to_owned(),
            version: F.opt_str(p, "versionInfo", &path)?.map(str::to_owned),
            purl,
            licence: licence(p, &path)?,
        });
    }
    subject_digests.sort();
    subject_digests.dedup();
    Ok(Sbom {
        origin,
        format: "spdx".to_owned(),
        spec_version: spec_version.to_owned(),
        subject_digests,
        components,
    })
}

/// The SPDX ids of the elements the document describes.
fn described(doc: &Value) -> Result<BTreeSet<String>> {
    let document_id = F.opt_str(doc, "SPDXID", "$")?.unwrap_or("SPDXRef-DOCUMENT");
    let mut out = BTreeSet::new();
    for (i, d) in F
        .opt_array(doc, "documentDescribes", "$")?
        .iter()
        .enumerate()
    {
        let id = d
            .as_str()
            .ok_or_else(|| F.invalid(format!("$.documentDescribes[{i}]"), "expected a string"))?;
        out.insert(id.to_owned());
    }
    for (i, r) in F.opt_array(doc, "relationships", "$")?.iter().enumerate() {
        let path = format!("$.relationships[{i}]");
        let from = F.req_str(r, "spdxElementId", &path)?;
        let to = F.req_str(r, "relatedSpdxElement", &path)?;
        match F.req_str(r, "relationshipType", &path)? {
            "DESCRIBES" if from == document_id => out.insert(to.to_owned()),
            "DESCRIBED_BY" if to == document_id => out.insert(from.to_owned()),
            _ => false,
        };
    }
    Ok(out)
}

/// The first `externalRefs[]` entry of type `purl`.
fn purl(p: &Value, path: &str) -> Result<Option<String>> {
    for (j, r) in F.opt_array(p, "externalRefs", path)?.iter().enumerate() {
        let rpath = format!("{path}.externalRefs[{j}]");
        if F.opt_str(r, "referenceType", &rpath)? == Some("purl") {
            return Ok(Some(F.req_str(r, "referenceLocator", &rpath)?.to_owned()));
        }
    }
    Ok(None)
}

/// `licenseConcluded`, else `licenseDeclared`; `NOASSERTION`, `NONE` and absent are no licence.
fn licence(p: &Value, path: &str) -> Result<Option<Licence>> {
    for key in ["licenseConcluded", "licenseDeclared"] {
        if let Some(text) = F.opt_str(p, key, path)?
            && !matches!(text.trim(), "" | "NOASSERTION" | "NONE")
        {
            return Ok(Some(parse_licence(text)));
        }
    }
    Ok(None)
}
