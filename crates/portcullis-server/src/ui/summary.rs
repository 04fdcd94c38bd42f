//! What an approver must see before signing off, shaped for the templates from what the
//! services return: the evidence summary (read from the input document the policy judged,
//! `policies/input.schema.json`), the approvals still required, and copy progress. Pure
//! functions of their inputs; missing sections read as empty, never as a pass.

use serde::Serialize;
use serde_json::Value;

use crate::views::PromotionView;

/// One severity's findings.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SeverityCount {
    /// `critical`, `high`, ….
    pub severity: &'static str,
    /// Findings of that severity, suppressed ones included.
    pub total: usize,
    /// Of those, suppressed by a VEX statement.
    pub suppressed: usize,
}

/// A verified signer or identity.
#[derive(Debug, Serialize)]
pub struct Signer {
    /// What it signed: `image` or the attestation's predicate type.
    pub what: String,
    /// The key id, or the certificate's identity.
    pub identity: String,
    /// The OIDC issuer of a keyless identity.
    pub issuer: Option<String>,
}

/// A build's provenance.
#[derive(Debug, Serialize)]
pub struct Provenance {
    /// The builder id.
    pub builder: String,
    /// Source repository, ref and commit as stated.
    pub source: String,
    /// Whether it came from a verified attestation.
    pub signed: bool,
}

/// The evidence summary.
#[derive(Debug, Serialize)]
pub struct Evidence {
    /// The signature check's overall status.
    pub signature_status: String,
    /// Who signed the image and its attestations.
    pub signers: Vec<Signer>,
    /// Findings by severity.
    pub severities: Vec<SeverityCount>,
    /// The scanners that reported, and whether signed.
    pub scanners: Vec<String>,
    /// Licence problems: violations and warnings of licence rules, non-SPDX names.
    pub licences: Vec<String>,
    /// Build provenance.
    pub provenance: Vec<Provenance>,
}

/// Severities as shown, and their keys in `vulnerability_index`.
const SEVERITIES: [(&str, &str); 6] = [
    ("critical", "CRITICAL"),
    ("high", "HIGH"),
    ("medium", "MEDIUM"),
    ("low", "LOW"),
    ("negligible", "NEGLIGIBLE"),
    ("unknown", "UNKNOWN"),
];

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// The summary of `evidence` (the input document) and the verdict of `view`.
pub fn evidence(view: &PromotionView, evidence: &Value) -> Evidence {
    let signatures = evidence.get("signatures").unwrap_or(&Value::Null);
    let mut signers: Vec<Signer> = list(signatures, "verified_key_ids")
        .filter_map(Value::as_str)
        .map(|k| Signer {
            what: "image".into(),
            identity: k.to_owned(),
            issuer: None,
        })
        .collect();
    signers.extend(list(signatures, "signers").map(|s| Signer {
        what: "image".into(),
        identity: text(s, "subject"),
        issuer: s.get("issuer").and_then(Value::as_str).map(str::to_owned),
    }));
    let attestations = evidence.get("attestations").unwrap_or(&Value::Null);
    signers.extend(list(attestations, "signers").map(|a| {
        let s = a.get("signer").unwrap_or(&Value::Null);
        Signer {
            what: text(a, "predicate_type"),
            identity: text(s, "subject"),
            issuer: s.get("issuer").and_then(Value::as_str).map(str::to_owned),
        }
    }));
    Evidence {
        signature_status: text(signatures, "status"),
        signers,
        severities: severities(evidence),
        scanners: list(evidence, "vulnerability_reports")
            .map(|r| {
                let how = if r.get("signed") == Some(&Value::Bool(true)) {
                    "signed attestation"
                } else {
                    "supplied by CI, unsigned"
                };
                format!("{} ({how})", text(r, "scanner"))
            })
            .collect(),
        licences: licences(view, evidence),
        provenance: list(evidence, "provenance")
            .map(|p| Provenance {
                builder: text(p, "builder_id"),
                source: ["source_repository", "source_ref", "source_commit"]
                    .iter()
                    .map(|k| text(p, k))
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" @ "),
                signed: p.get("signed") == Some(&Value::Bool(true)),
            })
            .collect(),
    }
}

/// Findings per severity from `vulnerability_index`, and how many `suppressed_index` holds.
fn severities(evidence: &Value) -> Vec<SeverityCount> {
    let suppressed: Vec<u64> = list(evidence, "suppressed_index")
        .filter_map(Value::as_u64)
        .collect();
    let index = evidence.get("vulnerability_index").unwrap_or(&Value::Null);
    SEVERITIES
        .iter()
        .map(|(sev, key)| {
            let at: Vec<u64> = list(index, key).filter_map(Value::as_u64).collect();
            SeverityCount {
                severity: sev,
                total: at.len(),
                suppressed: at.iter().filter(|i| suppressed.contains(i)).count(),
            }
        })
        .collect()
}

/// Licence rules broken or warned about, and names that are not SPDX.
fn licences(view: &PromotionView, evidence: &Value) -> Vec<String> {
    let d = &view.decision;
    let mut out: Vec<String> = d
        .violations
        .iter()
        .filter(|v| v.rule.contains("licen"))
        .map(|v| format!("{}: {}", v.rule, v.message))
        .collect();
    out.extend(
        d.warnings
            .iter()
            .filter(|w| w.to_ascii_lowercase().contains("licen"))
            .cloned(),
    );
    out.extend(
        d.waived
            .iter()
            .filter(|w| w.kind == "licence")
            .map(|w| format!("{} in {} (waived by {})", w.finding, w.package, w.waiver)),
    );
    for c in list(evidence, "components") {
        let unknown: Vec<&str> = c
            .get("licence")
            .map(|l| list(l, "unknown").filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !unknown.is_empty() {
            out.push(format!(
                "{}: not an SPDX licence: {}",
                text(c, "name"),
                unknown.join(", ")
            ));
        }
    }
    out
}

/// Approvals given, needed in all, and still missing (`None` when nothing is required).
pub fn approvals(view: &PromotionView) -> Option<(usize, u32, u32)> {
    let required = view.decision.required_approvals.as_ref()?;
    let given = view
        .approvals
        .iter()
        .filter(|a| a.verdict == portcullis_core::Verdict::Approve)
        .count();
    let total = required.total();
    let missing = total.saturating_sub(u32::try_from(given).unwrap_or(u32::MAX));
    Some((given, total, missing))
}

/// Copy progress: the readable line and a percentage of bytes (0 when unknown).
pub fn progress(copy: Option<&Value>) -> Option<(String, u64)> {
    let copy = copy.filter(|c| c.is_object())?;
    let n = |k: &str| copy.get(k).and_then(Value::as_u64).unwrap_or(0);
    let sent = n("bytes_streamed").max(n("bytes_copied"));
    let total = n("bytes_total");
    // 0 while the total is unknown.
    let percent = sent
        .saturating_mul(100)
        .checked_div(total)
        .map_or(0, |p| p.min(100));
    Some((crate::remote::render::progress(copy), percent))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn severities_count_suppressed_findings_apart() {
        let doc = json!({
            "vulnerability_index": {"CRITICAL": [0], "HIGH": [1, 2], "MEDIUM": [], "LOW": [3]},
            "suppressed_index": [2, 3],
        });
        let counts = severities(&doc);
        assert_eq!(
            counts[..4],
            [
                SeverityCount {
                    severity: "critical",
                    total: 1,
                    suppressed: 0
                },
                SeverityCount {
                    severity: "high",
                    total: 2,
                    suppressed: 1
                },
                SeverityCount {
                    severity: "medium",
                    total: 0,
                    suppressed: 0
                },
                SeverityCount {
                    severity: "low",
                    total: 1,
                    suppressed: 1
                },
            ]
        );
        assert!(severities(&Value::Null).iter().all(|c| c.total == 0));
    }

    #[test]
    fn progress_reads_streamed_bytes_while_copying() {
        let copy = json!({"in_progress": true, "blobs_total": 4, "blobs_copied": 1,
            "bytes_total": 1000u64, "bytes_copied": 100u64, "bytes_streamed": 250u64});
        let (line, percent) = progress(Some(&copy)).unwrap();
        assert_eq!(percent, 25);
        assert!(line.starts_with("copying: 1 of 4 blobs"), "{line}");
        assert!(progress(None).is_none());
    }
}
