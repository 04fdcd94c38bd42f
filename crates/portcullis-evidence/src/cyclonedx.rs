//! CycloneDX 1.2–1.6 JSON documents into the evidence model: the components become an
//! [`Sbom`], and a non-empty `vulnerabilities` section (a VDR or a scanner's output) a
//! [`VulnerabilityReport`].

use std::collections::HashMap;

use portcullis_core::{
    Component, Digest, EvidenceItems, EvidenceOrigin, Licence, Sbom, Severity, Vulnerability,
    VulnerabilityReport,
};
use serde_json::Value;

use crate::Result;
use crate::fields::Fields;
use crate::licence::parse_licence_entries;
use crate::purl::{PackageUrl, image_digest};

const F: Fields = Fields {
    format: "cyclonedx-json",
};

/// The spec versions understood.
const SPEC_VERSIONS: &[&str] = &["1.2", "1.3", "1.4", "1.5", "1.6"];

/// Trivy's property holding `repo@sha256:…` of the scanned image.
const TRIVY_REPO_DIGEST: &str = "aquasecurity:trivy:RepoDigest";

/// Parses a CycloneDX JSON document, recording `origin`.
///
/// `metadata.component` is the subject, not a component: its `pkg:oci/…@sha256:…` purl, a
/// digest in its `version` or `bom-ref`, or Trivy's `RepoDigest` properties bind the SBOM to
/// an image. Nested `components` are flattened.
pub fn parse_cyclonedx_with_origin(doc: &Value, origin: EvidenceOrigin) -> Result<EvidenceItems> {
    F.object(doc)?;
    match F.req_str(doc, "bomFormat", "$")? {
        "CycloneDX" => {}
        other => {
            return Err(F.invalid(
                "$.bomFormat",
                format!("expected \"CycloneDX\", found {other:?}"),
            ));
        }
    }
    let spec_version = F.req_str(doc, "specVersion", "$")?;
    if !SPEC_VERSIONS.contains(&spec_version) {
        return Err(F.invalid(
            "$.specVersion",
            format!(
                "version {spec_version:?} is not supported, expected one of {}",
                SPEC_VERSIONS.join(", ")
            ),
        ));
    }
    let subject = match F.opt_object(doc, "metadata", "$")? {
        Some(m) => F.opt_object(m, "component", "$.metadata")?,
        None => None,
    };
    let subject_digests = match subject {
        Some(s) => subject_digests(s)?,
        None => Vec::new(),
    };
    let mut components = Vec::new();
    let mut by_ref = HashMap::new();
    collect_components(doc, "$", &mut components, &mut by_ref)?;

    let mut items = EvidenceItems::default();
    let vulnerabilities = parse_vulnerabilities(doc, &components, &by_ref)?;
    if !vulnerabilities.is_empty() {
        let artifact_name = match subject {
            Some(s) => F
                .opt_str(s, "name", "$.metadata.component")?
                .map(str::to_owned),
            None => None,
        };
        items.vulnerability_reports.push(VulnerabilityReport {
            origin: origin.clone(),
            scanner: "cyclonedx".to_owned(),
            artifact_name,
            subject_digests: subject_digests.clone(),
            vulnerabilities,
        });
    }
    items.sboms.push(Sbom {
        origin,
        format: "cyclonedx".to_owned(),
        spec_version: spec_version.to_owned(),
        subject_digests,
        components,
    });
    Ok(items)
}

/// Walks `parent.components[]` depth first, recording each component and its `bom-ref`.
fn collect_components(
    parent: &Value,
    path: &str,
    out: &mut Vec<Component>,
    by_ref: &mut HashMap<String, usize>,
) -> Result<()> {
    for (i, c) in F.opt_array(parent, "components", path)?.iter().enumerate() {
        let cpath = format!("{path}.components[{i}]");
        if !c.is_object() {
            return Err(F.invalid(cpath, "expected an object"));
        }
        if let Some(bom_ref) = F.opt_str(c, "bom-ref", &cpath)? {
            by_ref.insert(bom_ref.to_owned(), out.len());
        }
        out.push(Component {
            name: F.req_str(c, "name", &cpath)?.to_owned(),
            version: F.opt_str(c, "version", &cpath)?.map(str::to_owned),
            purl: F.opt_str(c, "purl", &cpath)?.map(str::to_owned),
            licence: licence(c, &cpath)?,
        });
        collect_components(c, &cpath, out, by_ref)?;
    }
    Ok(())
}

/// The licence of a component from its `licenses[]` entries, all of which apply.
fn licence(c: &Value, cpath: &str) -> Result<Option<Licence>> {
    let mut texts = Vec::new();
    for (j, entry) in F.opt_array(c, "licenses", cpath)?.iter().enumerate() {
        let epath = format!("{cpath}.licenses[{j}]");
        if let Some(expression) = F.opt_str(entry, "expression", &epath)? {
            texts.push(expression);
        } else if let Some(l) = F.opt_object(entry, "license", &epath)? {
            let lpath = format!("{epath}.license");
            let text = match F.opt_str(l, "id", &lpath)? {
                Some(id) => id,
                None => F.opt_str(l, "name", &lpath)?.ok_or_else(|| {
                    F.invalid(format!("{lpath}.id"), "missing (and no name either)")
                })?,
            };
            texts.push(text);
        } else {
            return Err(F.invalid(epath, "expected a license or an expression"));
        }
    }
    texts.retain(|t| !t.trim().is_empty() && !matches!(t.trim(), "NOASSERTION" | "NONE"));
    Ok((!texts.is_empty()).then(|| parse_licence_entries(&texts)))
}

/// Digests that bind the document to the image described by `metadata.component`.
fn subject_digests(subject: &Value) -> Result<Vec<Digest>> {
    let path = "$.metadata.component";
    let mut out: Vec<Digest> = Vec::new();
    if let Some(purl) = F.opt_str(subject, "purl", path)? {
        out.extend(PackageUrl::parse(purl).and_then(|p| p.oci_digest()));
    }
    for key in ["version", "bom-ref"] {
        if let Some(text) = F.opt_str(subject, key, path)? {
            // `repo@sha256:…` or a bare digest; any other text is not a binding.
            let tail = text.rsplit_once('@').map_or(text, |(_, d)| d);
            out.extend(image_digest(text).or_else(|| tail.parse().ok()));
        }
    }
    for (i, p) in F.opt_array(subject, "properties", path)?.iter().enumerate() {
        let ppath = format!("{path}.properties[{i}]");
        if F.opt_str(p, "name", &ppath)? == Some(TRIVY_REPO_DIGEST)
            && let Some(value) = F.opt_str(p, "value", &ppath)?
        {
            let digest = value.rsplit_once('@').map_or(value, |(_, d)| d);
            out.push(digest.parse().map_err(|e: portcullis_core::Error| {
                F.invalid(format!("{ppath}.value"), e.to_string())
            })?);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The `vulnerabilities[]` section, one finding per affected component.
fn parse_vulnerabilities(
    doc: &Value,
    components: &[Component],
    by_ref: &HashMap<String, usize>,
) -> Result<Vec<Vulnerability>> {
    let mut out = Vec::new();
    for (i, v) in F.opt_array(doc, "vulnerabilities", "$")?.iter().enumerate() {
        let vpath = format!("$.vulnerabilities[{i}]");
        if !v.is_object() {
            return Err(F.invalid(vpath, "expected an object"));
        }
        let id = F.req_str(v, "id", &vpath)?;
        let severity = highest_severity(v, &vpath)?;
        let mut aliases = Vec::new();
        for (j, r) in F.opt_array(v, "references", &vpath)?.iter().enumerate() {
            let alias = F.req_str(r, "id", &format!("{vpath}.references[{j}]"))?;
            if alias != id {
                aliases.push(alias.to_owned());
            }
        }
        aliases.sort();
        aliases.dedup();
        let title = match F.opt_str(v, "description", &vpath)? {
            Some(d) => Some(d),
            None => F.opt_str(v, "detail", &vpath)?,
        };
        let affects = F.opt_array(v, "affects", &vpath)?;
        let mut refs = Vec::new();
        for (j, a) in affects.iter().enumerate() {
            refs.push(F.req_str(a, "ref", &format!("{vpath}.affects[{j}]"))?);
        }
        if refs.is_empty() {
            // Fail closed: a finding that names no component is still a finding.
            refs.push("");
        }
        for r in refs {
            let (package, installed_version, purl) = affected(r, components, by_ref);
            out.push(Vulnerability {
                id: id.to_owned(),
                severity,
                package,
                installed_version,
                fixed_version: None,
                title: title.map(str::to_owned),
                purl,
                aliases: aliases.clone(),
            });
        }
    }
    Ok(out)
}

/// Name, version and purl of the component an `affects[].ref` names: a `bom-ref` of this
/// document, else a purl; anything else is reported under the reference itself.
fn affected(
    r: &str,
    components: &[Component],
    by_ref: &HashMap<String, usize>,
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

/// The highest of `ratings[].severity`; `Unknown` when there is none.
fn highest_severity(v: &Value, vpath: &str) -> Result<Severity> {
    let mut highest = Severity::Unknown;
    for (j, rating) in F.opt_array(v, "ratings", vpath)?.iter().enumerate() {
        let rpath = format!("{vpath}.ratings[{j}]");
        if let Some(text) = F.opt_str(rating, "severity", &rpath)? {
            let s: Severity = text.parse().map_err(|_| {
                F.invalid(
                    format!("{rpath}.severity"),
                    format!("unknown severity {text:?}"),
                )
            })?;
            highest = highest.max(s);
        }
    }
    Ok(highest)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn subject(component: Value) -> Vec<String> {
        let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.5",
            "metadata": {"component": component}});
        let items = parse_cyclonedx_with_origin(&doc, EvidenceOrigin::ci(F.format)).unwrap();
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
        let err = parse_cyclonedx_with_origin(&bad, EvidenceOrigin::ci(F.format))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("$.metadata.component.properties[0].value"),
            "{err}"
        );
    }

    #[test]
    fn an_unresolvable_affects_ref_is_still_reported() {
        let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.6",
            "vulnerabilities": [{"id": "CVE-1", "affects": [{"ref": "urn:cdx:other/1#x"}]}, {"id": "CVE-2"}]});
        let items = parse_cyclonedx_with_origin(&doc, EvidenceOrigin::ci(F.format)).unwrap();
        let v = &items.vulnerability_reports[0].vulnerabilities;
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].package.as_str(), v[0].severity),
            ("urn:cdx:other/1#x", Severity::Unknown)
        );
        assert_eq!(v[1].package, "");
    }
}
