//! CycloneDX 1.2–1.6 JSON documents into the evidence model: the components become an
//! [`Sbom`], and a non-empty `vulnerabilities` section (a VDR or a scanner's output) a
//! [`VulnerabilityReport`]. The document is deserialised straight into the borrowed structs
//! of `cyclonedx/raw.rs`.

use std::borrow::Cow;
use std::collections::HashMap;

use portcullis_core::{
    Component, Digest, EvidenceItems, EvidenceOrigin, Sbom, Vulnerability, VulnerabilityReport,
};

use crate::Result;
use crate::de::{Text, from_str, invalid, owned};
use crate::licence::parse_licence_entries;
use crate::limits::{Budget, Tally};
use crate::purl::{PackageUrl, image_digest};

mod raw;

use raw::{Bom, RawComponent, RawVulnerability, Subject};

const FORMAT: &str = "cyclonedx-json";

/// Trivy's property holding `repo@sha256:…` of the scanned image.
const TRIVY_REPO_DIGEST: &str = "aquasecurity:trivy:RepoDigest";

/// Parses a CycloneDX JSON document, recording `origin`.
///
/// `metadata.component` is the subject, not a component: its `pkg:oci/…@sha256:…` purl, a
/// digest in its `version` or `bom-ref`, or Trivy's `RepoDigest` properties bind the SBOM to
/// an image. Nested `components` are flattened.
pub fn parse_cyclonedx_with_origin(text: &str, origin: EvidenceOrigin) -> Result<EvidenceItems> {
    parse_bounded(text, origin, &Budget::unlimited())
}

/// Parses a CycloneDX document, refusing it before its components and findings are
/// converted when they would exceed `budget`.
pub(crate) fn parse_bounded(
    text: &str,
    origin: EvidenceOrigin,
    budget: &Budget,
) -> Result<EvidenceItems> {
    let bom: Bom = from_str(FORMAT, text)?;
    let raw_components = bom.components.unwrap_or_default();
    let raw_vulnerabilities = bom.vulnerabilities.unwrap_or_default();
    budget.check(Tally {
        // One finding per affected component, and one for a vulnerability naming none.
        findings: raw_vulnerabilities
            .iter()
            .map(|v| v.affects.as_ref().map_or(0, Vec::len).max(1))
            .sum(),
        components: count(&raw_components),
        ..Tally::default()
    })?;
    let subject = bom.metadata.and_then(|m| m.component);
    let subject_digests = match &subject {
        Some(s) => subject_digests(s)?,
        None => Vec::new(),
    };
    let mut components = Vec::new();
    let mut by_ref = HashMap::new();
    flatten(raw_components, &mut components, &mut by_ref);

    let mut items = EvidenceItems::default();
    let vulnerabilities = findings(raw_vulnerabilities, &components, &by_ref);
    if !vulnerabilities.is_empty() {
        items.vulnerability_reports.push(VulnerabilityReport {
            origin: origin.clone(),
            scanner: "cyclonedx".to_owned(),
            artifact_name: subject.and_then(|s| owned(s.name)),
            subject_digests: subject_digests.clone(),
            vulnerabilities,
        });
    }
    items.sboms.push(Sbom {
        origin,
        format: "cyclonedx".to_owned(),
        spec_version: bom.spec_version.owned(),
        subject_digests,
        components,
    });
    Ok(items)
}

/// How many components `list` holds, nested ones included.
fn count(list: &[RawComponent<'_>]) -> usize {
    list.iter()
        .map(|c| 1 + c.components.as_deref().map_or(0, count))
        .sum()
}

/// Flattens `list` depth first, recording each component's `bom-ref`.
fn flatten<'a>(
    list: Vec<RawComponent<'a>>,
    out: &mut Vec<Component>,
    by_ref: &mut HashMap<Cow<'a, str>, usize>,
) {
    for c in list {
        if let Some(bom_ref) = c.bom_ref {
            by_ref.insert(bom_ref.0, out.len());
        }
        let licences: Vec<Text<'_>> = c
            .licenses
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.0)
            .filter(|t| !t.trim().is_empty() && !matches!(t.trim(), "NOASSERTION" | "NONE"))
            .collect();
        out.push(Component {
            name: c.name.owned(),
            version: owned(c.version),
            purl: owned(c.purl),
            licence: (!licences.is_empty()).then(|| parse_licence_entries(&licences)),
        });
        flatten(c.components.unwrap_or_default(), out, by_ref);
    }
}

/// Digests that bind the document to the image described by `metadata.component`.
fn subject_digests(subject: &Subject<'_>) -> Result<Vec<Digest>> {
    let mut out: Vec<Digest> = Vec::new();
    if let Some(purl) = &subject.purl {
        out.extend(PackageUrl::parse(purl).and_then(|p| p.oci_digest()));
    }
    for text in [&subject.version, &subject.bom_ref].into_iter().flatten() {
        // `repo@sha256:…` or a bare digest; any other text is not a binding.
        let tail = text.rsplit_once('@').map_or(&**text, |(_, d)| d);
        out.extend(image_digest(text).or_else(|| tail.parse().ok()));
    }
    for (i, p) in subject.properties.iter().flatten().enumerate() {
        if p.name.as_deref() == Some(TRIVY_REPO_DIGEST)
            && let Some(value) = &p.value
        {
            let digest = value.rsplit_once('@').map_or(&**value, |(_, d)| d);
            out.push(digest.parse().map_err(|e: portcullis_core::Error| {
                invalid(
                    FORMAT,
                    format!("$.metadata.component.properties[{i}].value"),
                    e.to_string(),
                )
            })?);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The `vulnerabilities[]` section, one finding per affected component.
fn findings(
    list: Vec<RawVulnerability<'_>>,
    components: &[Component],
    by_ref: &HashMap<Cow<'_, str>, usize>,
) -> Vec<Vulnerability> {
    let mut out = Vec::new();
    for v in list {
        let mut aliases: Vec<String> = v
            .references
            .unwrap_or_default()
            .into_iter()
            .filter(|r| *r.id != *v.id)
            .map(|r| r.id.owned())
            .collect();
        aliases.sort();
        aliases.dedup();
        let severity = v
            .ratings
            .iter()
            .flatten()
            .map(|r| r.severity)
            .max()
            .unwrap_or(portcullis_core::Severity::Unknown);
        let title = owned(v.description.or(v.detail));
        let mut refs: Vec<Text<'_>> = v
            .affects
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.reference)
            .collect();
        if refs.is_empty() {
            // Fail closed: a finding that names no component is still a finding.
            refs.push(Text::default());
        }
        for r in refs {
            let (package, installed_version, purl) = affected(&r, components, by_ref);
            out.push(Vulnerability {
                id: v.id.to_string(),
                severity,
                package,
                installed_version,
                fixed_version: None,
                title: title.clone(),
                purl,
                aliases: aliases.clone(),
            });
        }
    }
    out
}

/// Name, version and purl of the component an `affects[].ref` names: a `bom-ref` of this
/// document, else a purl; anything else is reported under the reference itself.
fn affected(
    r: &str,
    components: &[Component],
    by_ref: &HashMap<Cow<'_, str>, usize>,
) -> (String, String, Option<String>) {
    if let Some(c) = by_ref.get(r).and_then(|&i| components.get(i)) {
        return (
            c.name.clone(),
            c.version.clone().unwrap_or_default(),
            c.purl.clone(),
        );
    }
    match PackageUrl::parse(r) {
        Some(p) => (p.name, p.version.unwrap_or_default(), Some(r.to_owned())),
        None => (r.to_owned(), String::new(), None),
    }
}

#[cfg(test)]
mod tests {
    use portcullis_core::Severity;
    use serde_json::{Value, json};

    use super::*;

    fn parse(doc: &Value) -> Result<EvidenceItems> {
        parse_cyclonedx_with_origin(
            &doc.to_string(),
            EvidenceOrigin::ci(portcullis_core::EvidenceFormat::CycloneDxJson),
        )
    }

    fn subject(component: Value) -> Vec<String> {
        let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.5",
            "metadata": {"component": component}});
        let items = parse(&doc).unwrap();
        items.sboms[0]
            .subject_digests
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect()
    }

    #[test]
    fn the_subject_binds_by_purl_version_bom_ref_or_trivy_repo_digest() {
        let d = format!("sha256:{}", "d".repeat(64));
        let encoded = d.replace(':', "%3A");
        let cases = [
            json!({"name": "app", "purl": format!("pkg:oci/app@{encoded}?tag=1")}),
            json!({"name": "r.example/app:1", "version": d}),
            json!({"name": "app", "bom-ref": format!("pkg:oci/app@{encoded}")}),
            json!({"name": "app", "bom-ref": format!("r.example/app@{d}")}),
            json!({"name": "app", "properties": [
                {"name": "aquasecurity:trivy:ImageID", "value": format!("sha256:{}", "9".repeat(64))},
                {"name": "aquasecurity:trivy:RepoDigest", "value": format!("r.example/app@{d}")}]}),
        ];
        for c in cases {
            assert_eq!(subject(c.clone()), std::slice::from_ref(&d), "{c}");
        }
        assert!(subject(json!({"name": "app", "version": "1.0", "bom-ref": "uuid-1"})).is_empty());
        let bad = json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "metadata": {"component": {
            "name": "app", "properties": [{"name": "aquasecurity:trivy:RepoDigest", "value": "app@sha256:12"}]}}});
        let err = parse(&bad).unwrap_err().to_string();
        assert!(
            err.contains("$.metadata.component.properties[0].value"),
            "{err}"
        );
    }

    #[test]
    fn an_unresolvable_affects_ref_is_still_reported() {
        let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.6",
            "vulnerabilities": [{"id": "CVE-1", "affects": [{"ref": "urn:cdx:other/1#x"}]}, {"id": "CVE-2"}]});
        let items = parse(&doc).unwrap();
        let v = &items.vulnerability_reports[0].vulnerabilities;
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].package.as_str(), v[0].severity),
            ("urn:cdx:other/1#x", Severity::Unknown)
        );
        assert_eq!(v[1].package, "");
    }
}
