//! Grype JSON reports (`grype -o json`) into the evidence model, deserialised straight into
//! the borrowed structs below.

use portcullis_core::{EvidenceOrigin, Severity, Vulnerability, VulnerabilityReport};
use serde::{Deserialize, Deserializer, de};

use crate::Result;
use crate::de::{RepoDigest, StrOr, Text, digests, from_str, opt_severity, owned, unknown};

const FORMAT: &str = "grype-json";

#[derive(Deserialize)]
struct Report<'a> {
    #[serde(rename = "descriptor")]
    _descriptor: Option<Descriptor>,
    #[serde(borrow)]
    matches: Vec<Match<'a>>,
    #[serde(borrow)]
    source: Option<Source<'a>>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "name", default, deserialize_with = "grype_name")]
    _name: (),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Match<'a> {
    #[serde(borrow)]
    vulnerability: MatchVulnerability<'a>,
    #[serde(borrow)]
    artifact: Artifact<'a>,
    #[serde(borrow)]
    related_vulnerabilities: Option<Vec<Related<'a>>>,
}

#[derive(Deserialize)]
struct MatchVulnerability<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(default = "unknown", deserialize_with = "opt_severity")]
    severity: Severity,
    #[serde(borrow)]
    description: Option<Text<'a>>,
    #[serde(borrow)]
    fix: Option<Fix<'a>>,
}

#[derive(Deserialize)]
struct Fix<'a> {
    #[serde(borrow)]
    state: Option<Text<'a>>,
    #[serde(borrow)]
    versions: Option<Vec<Text<'a>>>,
}

#[derive(Deserialize)]
struct Related<'a> {
    #[serde(borrow)]
    id: Text<'a>,
}

#[derive(Deserialize)]
struct Artifact<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    version: Option<Text<'a>>,
    #[serde(borrow)]
    purl: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Source<'a> {
    #[serde(borrow)]
    target: Option<StrOr<'a, Target<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target<'a> {
    #[serde(borrow)]
    user_input: Option<Text<'a>>,
    repo_digests: Option<Vec<RepoDigest>>,
}

/// `descriptor.name`, which must be `grype` when given.
fn grype_name<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<(), D::Error> {
    match Option::<Text>::deserialize(d)?.as_deref() {
        None | Some("grype") => Ok(()),
        Some(other) => Err(de::Error::custom(format_args!(
            "expected \"grype\", found {other:?}"
        ))),
    }
}

/// Parses a Grype JSON report, recording `origin`.
///
/// Each match becomes one finding; `relatedVulnerabilities` become its aliases and the first
/// of `fix.versions` its fixed version. Matches that are exact duplicates (Grype reports
/// one per matcher) are reported once. `source.target.repoDigests` bind the report to an
/// image; Grype's `manifestDigest` is not used because for a daemon or tarball scan it is
/// computed locally and need not be the registry's digest.
pub fn parse_grype_with_origin(text: &str, origin: EvidenceOrigin) -> Result<VulnerabilityReport> {
    let report: Report = from_str(FORMAT, text)?;
    let mut vulnerabilities: Vec<Vulnerability> = Vec::with_capacity(report.matches.len());
    for m in report.matches {
        let v = finding(m);
        if !vulnerabilities.contains(&v) {
            vulnerabilities.push(v);
        }
    }
    let (artifact_name, subject_digests) = match report.source.and_then(|s| s.target) {
        Some(StrOr::Str(dir)) => (Some(dir.into_owned()), Vec::new()),
        Some(StrOr::Obj(t)) => (owned(t.user_input), digests(t.repo_digests)),
        None => (None, Vec::new()),
    };
    Ok(VulnerabilityReport {
        origin,
        scanner: "grype".to_owned(),
        artifact_name,
        subject_digests,
        vulnerabilities,
    })
}

/// One `matches[]` entry.
fn finding(m: Match<'_>) -> Vulnerability {
    let vuln = m.vulnerability;
    let mut aliases: Vec<String> = m
        .related_vulnerabilities
        .unwrap_or_default()
        .into_iter()
        .filter(|r| *r.id != *vuln.id)
        .map(|r| r.id.owned())
        .collect();
    aliases.sort();
    aliases.dedup();
    Vulnerability {
        fixed_version: vuln.fix.and_then(fixed_version),
        id: vuln.id.owned(),
        severity: vuln.severity,
        package: m.artifact.name.owned(),
        installed_version: owned(m.artifact.version).unwrap_or_default(),
        title: vuln.description.filter(|s| !s.is_empty()).map(Text::owned),
        purl: m.artifact.purl.filter(|s| !s.is_empty()).map(Text::owned),
        aliases,
    }
}

/// The first version of `fix.versions`, unless the state says there is no fix.
fn fixed_version(fix: Fix<'_>) -> Option<String> {
    if matches!(fix.state.as_deref(), Some("not-fixed" | "wont-fix")) {
        return None;
    }
    fix.versions
        .unwrap_or_default()
        .into_iter()
        .find(|v| !v.is_empty())
        .map(Text::owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(doc: &serde_json::Value) -> Result<VulnerabilityReport> {
        parse_grype_with_origin(
            &doc.to_string(),
            EvidenceOrigin::ci(portcullis_core::EvidenceFormat::GrypeJson),
        )
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
