//! Grype JSON reports (`grype -o json`) into the evidence model.

use portcullis_core::{Digest, EvidenceOrigin, Severity, Vulnerability, VulnerabilityReport};
use serde_json::Value;

use crate::Result;
use crate::fields::Fields;

const F: Fields = Fields {
    format: "grype-json",
};

/// Parses a Grype JSON report, recording `origin`.
///
/// Each match becomes one finding; `relatedVulnerabilities` become its aliases and the first
/// of `fix.versions` its fixed version. Matches that are exact duplicates (Grype reports
/// one per matcher) are reported once. `source.target.repoDigests` bind the report to an
/// image; Grype's `manifestDigest` is not used because for a daemon or tarball scan it is
/// computed locally and need not be the registry's digest.
pub fn parse_grype_with_origin(doc: &Value, origin: EvidenceOrigin) -> Result<VulnerabilityReport> {
    F.object(doc)?;
    if let Some(descriptor) = F.opt_object(doc, "descriptor", "$")? {
        match F.opt_str(descriptor, "name", "$.descriptor")? {
            None | Some("grype") => {}
            Some(other) => {
                return Err(F.invalid(
                    "$.descriptor.name",
                    format!("expected \"grype\", found {other:?}"),
                ));
            }
        }
    }
    let matches = match doc.get("matches") {
        Some(Value::Array(a)) => a,
        None => return Err(F.invalid("$.matches", "missing")),
        Some(_) => return Err(F.invalid("$.matches", "expected an array")),
    };
    let mut vulnerabilities: Vec<Vulnerability> = Vec::new();
    for (i, m) in matches.iter().enumerate() {
        let v = parse_match(m, &format!("$.matches[{i}]"))?;
        if !vulnerabilities.contains(&v) {
            vulnerabilities.push(v);
        }
    }
    let (artifact_name, subject_digests) = source(doc)?;
    Ok(VulnerabilityReport {
        origin,
        scanner: "grype".to_owned(),
        artifact_name,
        subject_digests,
        vulnerabilities,
    })
}

/// One `matches[]` entry.
fn parse_match(m: &Value, path: &str) -> Result<Vulnerability> {
    if !m.is_object() {
        return Err(F.invalid(path, "expected an object"));
    }
    let vpath = format!("{path}.vulnerability");
    let vuln = F
        .opt_object(m, "vulnerability", path)?
        .ok_or_else(|| F.invalid(&vpath, "missing"))?;
    let apath = format!("{path}.artifact");
    let artifact = F
        .opt_object(m, "artifact", path)?
        .ok_or_else(|| F.invalid(&apath, "missing"))?;
    let id = F.req_str(vuln, "id", &vpath)?;
    let severity_text = F.opt_str(vuln, "severity", &vpath)?.unwrap_or_default();
    let severity: Severity = severity_text.parse().map_err(|_| {
        F.invalid(
            format!("{vpath}.severity"),
            format!("unknown severity {severity_text:?}"),
        )
    })?;
    let mut aliases = Vec::new();
    for (j, related) in F
        .opt_array(m, "relatedVulnerabilities", path)?
        .iter()
        .enumerate()
    {
        let alias = F.req_str(
            related,
            "id",
            &format!("{path}.relatedVulnerabilities[{j}]"),
        )?;
        if alias != id {
            aliases.push(alias.to_owned());
        }
    }
    aliases.sort();
    aliases.dedup();
    Ok(Vulnerability {
        id: id.to_owned(),
        severity,
        package: F.req_str(artifact, "name", &apath)?.to_owned(),
        installed_version: F
            .opt_str(artifact, "version", &apath)?
            .unwrap_or_default()
            .to_owned(),
        fixed_version: fixed_version(vuln, &vpath)?,
        title: F
            .opt_str(vuln, "description", &vpath)?
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        purl: F
            .opt_str(artifact, "purl", &apath)?
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        aliases,
    })
}

/// The first version of `fix.versions`, unless the state says there is no fix.
fn fixed_version(vuln: &Value, vpath: &str) -> Result<Option<String>> {
    let Some(fix) = F.opt_object(vuln, "fix", vpath)? else {
        return Ok(None);
    };
    let fpath = format!("{vpath}.fix");
    if matches!(
        F.opt_str(fix, "state", &fpath)?,
        Some("not-fixed" | "wont-fix")
    ) {
        return Ok(None);
    }
    for (k, version) in F.opt_array(fix, "versions", &fpath)?.iter().enumerate() {
        let text = version
            .as_str()
            .ok_or_else(|| F.invalid(format!("{fpath}.versions[{k}]"), "expected a string"))?;
        if !text.is_empty() {
            return Ok(Some(text.to_owned()));
        }
    }
    Ok(None)
}

/// The scanned artifact's name and its `repoDigests`; a directory scan has a string target.
fn source(doc: &Value) -> Result<(Option<String>, Vec<Digest>)> {
    let Some(source) = F.opt_object(doc, "source", "$")? else {
        return Ok((None, Vec::new()));
    };
    let target = match source.get("target") {
        Some(Value::String(s)) => return Ok((Some(s.clone()), Vec::new())),
        Some(t @ Value::Object(_)) => t,
        None | Some(Value::Null) => return Ok((None, Vec::new())),
        Some(_) => {
            return Err(F.invalid("$.source.target", "expected an object or a string"));
        }
    };
    let path = "$.source.target";
    let name = F.opt_str(target, "userInput", path)?.map(str::to_owned);
    let mut digests = Vec::new();
    for (i, item) in F.opt_array(target, "repoDigests", path)?.iter().enumerate() {
        let field = || format!("{path}.repoDigests[{i}]");
        let text = item
            .as_str()
            .ok_or_else(|| F.invalid(field(), "expected a string"))?;
        let (_, digest) = text
            .rsplit_once('@')
            .ok_or_else(|| F.invalid(field(), "expected repo@digest"))?;
        digests.push(
            digest
                .parse()
                .map_err(|e: portcullis_core::Error| F.invalid(field(), e.to_string()))?,
        );
    }
    digests.sort();
    digests.dedup();
    Ok((name, digests))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(doc: &Value) -> Result<VulnerabilityReport> {
        parse_grype_with_origin(doc, EvidenceOrigin::ci(F.format))
    }

    #[test]
    fn repo_digests_bind_and_directory_targets_do_not() {
        let d = format!("sha256:{}", "c".repeat(64));
        let doc = json!({"matches": [], "source": {"type": "image", "target": {
            "userInput": "r.example/app:1", "repoDigests": [format!("r.example/app@{d}")]}}});
        let r = parse(&doc).unwrap();
        assert_eq!(r.artifact_name.as_deref(), Some("r.example/app:1"));
        assert_eq!(r.subject_digests.len(), 1);
        assert_eq!(r.subject_digests[0].as_str(), d);
        let dir = json!({"matches": [], "source": {"type": "directory", "target": "/src"}});
        let r = parse(&dir).unwrap();
        assert_eq!(r.artifact_name.as_deref(), Some("/src"));
        assert!(r.subject_digests.is_empty());
    }

    #[test]
    fn fix_state_decides_the_fixed_version() {
        let doc = |state: &str| {
            json!({"matches": [{"vulnerability": {"id": "CVE-1", "severity": "Low",
                "fix": {"versions": ["", "1.2"], "state": state}},
                "artifact": {"name": "p", "version": "1.0"}}]})
        };
        let fixed = parse(&doc("fixed")).unwrap();
        assert_eq!(
            fixed.vulnerabilities[0].fixed_version.as_deref(),
            Some("1.2")
        );
        let wont = parse(&doc("wont-fix")).unwrap();
        assert_eq!(wont.vulnerabilities[0].fixed_version, None);
    }
}
