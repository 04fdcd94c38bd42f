//! Reads the decision rule's value back into a `Decision`. The value goes through
//! `serde_json::Value` (no JSON text) and is checked against the documented shape: unknown
//! fields in the decision object are rejected, and every way it can be wrong is a deny.

use portcullis_core::{Decision, RequiredApprovals, Suppression, Violation, Waived};
use serde::Deserialize;

use crate::DECISION_RULE;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDecision {
    allow: bool,
    #[serde(default)]
    violations: Vec<RawViolation>,
    required_approvals: Option<RequiredApprovals>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    suppressions: Vec<RawSuppression>,
    #[serde(default)]
    waived: Vec<RawWaived>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaived {
    waiver: String,
    kind: String,
    #[serde(rename = "match")]
    matched: String,
    finding: String,
    package: String,
}

#[derive(Deserialize)]
struct RawViolation {
    rule: String,
    message: String,
    #[serde(default = "default_severity")]
    severity: String,
    #[serde(default)]
    remediation: String,
}

#[derive(Deserialize)]
struct RawSuppression {
    vulnerability: String,
    package: String,
    status: String,
    #[serde(default)]
    justification: Option<String>,
    source: String,
}

fn default_severity() -> String {
    "high".to_owned()
}

/// Maps the result of evaluating [`DECISION_RULE`] to a decision, failing closed:
/// an evaluation error is `policy.error`, undefined is `policy.undefined`, a value of the
/// wrong shape is `policy.malformed`.
pub(crate) fn to_decision(result: Result<regorus::Value, String>) -> Decision {
    let value = match result {
        Ok(v) => v,
        Err(e) => {
            return Decision::deny("policy.error", format!("policy evaluation failed: {e}"));
        }
    };
    if value == regorus::Value::Undefined {
        return Decision::deny("policy.undefined", format!("{DECISION_RULE} is undefined"));
    }
    let parsed = serde_json::to_value(&value)
        .and_then(serde_json::from_value::<RawDecision>)
        .map_err(|e| e.to_string());
    match parsed {
        Ok(raw) => from_raw(raw),
        Err(e) => Decision::deny(
            "policy.malformed",
            format!("policy output has the wrong shape: {e}"),
        ),
    }
}

fn from_raw(raw: RawDecision) -> Decision {
    let mut violations: Vec<Violation> = raw
        .violations
        .into_iter()
        .map(|v| Violation {
            rule: v.rule,
            message: v.message,
            severity: v.severity,
            remediation: v.remediation,
        })
        .collect();
    violations.sort_by(|a, b| a.rule.cmp(&b.rule).then_with(|| a.message.cmp(&b.message)));
    // An allow that still lists violations is contradictory: fail closed.
    let allow = raw.allow && violations.is_empty();
    if allow && raw.required_approvals.is_none() {
        return Decision::deny("policy.malformed", "an allow must state required_approvals");
    }
    if let Some(Err(e)) = raw
        .required_approvals
        .as_ref()
        .map(RequiredApprovals::check)
    {
        return Decision::deny("policy.malformed", format!("required_approvals: {e}"));
    }
    let mut suppressions: Vec<Suppression> = raw
        .suppressions
        .into_iter()
        .map(|s| Suppression {
            vulnerability: s.vulnerability,
            package: s.package,
            status: s.status,
            justification: s.justification,
            source: s.source,
        })
        .collect();
    suppressions.sort_by(|a, b| {
        (&a.vulnerability, &a.package, &a.source).cmp(&(&b.vulnerability, &b.package, &b.source))
    });
    let mut waived: Vec<Waived> = raw
        .waived
        .into_iter()
        .map(|w| Waived {
            waiver: w.waiver,
            kind: w.kind,
            matched: w.matched,
            finding: w.finding,
            package: w.package,
        })
        .collect();
    waived.sort_by(|a, b| {
        (&a.kind, &a.finding, &a.package, &a.waiver)
            .cmp(&(&b.kind, &b.finding, &b.package, &b.waiver))
    });
    Decision {
        allow,
        violations,
        required_approvals: raw.required_approvals,
        warnings: raw.warnings,
        suppressions,
        waived,
    }
}
