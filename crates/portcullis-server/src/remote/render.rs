//! Readable text of the API's answers: a promotion's verdict (each violation with its
//! remediation), its approvals, its copy progress; one line a pending promotion or an audit
//! event.

use std::fmt::Write as _;

use serde_json::Value;

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `2 of release-approvers`, `1 of security and 2 of release-approvers`, or `none`.
pub fn requirement(required: &Value) -> String {
    let one = |r: &Value| {
        format!(
            "{} of {}",
            r.get("count").and_then(Value::as_u64).unwrap_or(0),
            text(r, "group")
        )
    };
    match required {
        Value::Object(_) => one(required),
        Value::Array(all) if !all.is_empty() => {
            all.iter().map(one).collect::<Vec<_>>().join(" and ")
        }
        _ => "none".to_owned(),
    }
}

/// The verdict: allowed or denied, every violation with its remediation, warnings, the
/// approvals required.
pub fn verdict(decision: &Value) -> String {
    let mut out = String::new();
    let allow = decision.get("allow") == Some(&Value::Bool(true));
    let _ = writeln!(out, "verdict: {}", if allow { "allowed" } else { "denied" });
    for v in decision
        .get("violations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            out,
            "  ✗ [{}] {}: {}",
            text(v, "severity"),
            text(v, "rule"),
            text(v, "message")
        );
        let fix = text(v, "remediation");
        if !fix.is_empty() {
            let _ = writeln!(out, "      fix: {fix}");
        }
    }
    for w in decision
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let _ = writeln!(out, "  ! {w}");
    }
    let waived = decision
        .get("waived")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if waived > 0 {
        let _ = writeln!(out, "  {waived} finding(s) suppressed by waivers");
    }
    if allow {
        let required = decision.get("required_approvals").unwrap_or(&Value::Null);
        let _ = writeln!(out, "approvals required: {}", requirement(required));
    }
    out
}

/// The head line of a promotion: id, state, source → destination:tag.
pub fn headline(p: &Value) -> String {
    let tag = p
        .get("tag")
        .and_then(Value::as_str)
        .map(|t| format!(":{t}"))
        .unwrap_or_default();
    format!(
        "promotion {} [{}] {} → {}{tag} (route {}, requested by {})",
        text(p, "id"),
        text(p, "state"),
        text(p, "source"),
        text(p, "destination"),
        text(p, "route"),
        text(p, "requested_by"),
    )
}

/// A whole promotion: headline, verdict, votes, copy outcome or error.
pub fn promotion(p: &Value) -> String {
    let mut out = headline(p);
    out.push('\n');
    let _ = writeln!(out, "digest: {}", text(p, "digest"));
    out.push_str(&verdict(p.get("decision").unwrap_or(&Value::Null)));
    for a in p
        .get("approvals")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let comment = text(a, "comment");
        let _ = writeln!(
            out,
            "  {} by {} at {}{}",
            text(a, "verdict"),
            text(a, "approver"),
            text(a, "at"),
            if comment.is_empty() {
                String::new()
            } else {
                format!(": {comment}")
            }
        );
    }
    if let Some(copy) = p.get("copy").filter(|c| c.is_object()) {
        let _ = writeln!(out, "{}", progress(copy));
    }
    if let Some(e) = p.get("error").and_then(Value::as_str) {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

fn mib(bytes: u64) -> String {
    // Display only: a lossy conversion is fine.
    #[allow(clippy::cast_precision_loss)]
    let m = bytes as f64 / (1024.0 * 1024.0);
    format!("{m:.1} MiB")
}

/// `copying: 3 of 5 blobs, 40.0 MiB of 100.0 MiB` (or `copied: …` when done).
pub fn progress(copy: &Value) -> String {
    let n = |k: &str| copy.get(k).and_then(Value::as_u64).unwrap_or(0);
    let running = copy.get("in_progress") == Some(&Value::Bool(true));
    let done = n("blobs_copied") + n("blobs_skipped") + n("blobs_mounted");
    // While copying, bytes move per chunk (`bytes_streamed`); finished blobs lag behind.
    let sent = if running {
        n("bytes_streamed").max(n("bytes_copied"))
    } else {
        n("bytes_copied")
    };
    format!(
        "{}: {done} of {} blobs, {} of {} uploaded{}",
        if running { "copying" } else { "copied" },
        n("blobs_total"),
        mib(sent),
        mib(n("bytes_total")),
        if running {
            ""
        } else {
            " (the rest was already there)"
        }
    )
}

/// One line of `pending`.
pub fn pending_line(p: &Value) -> String {
    let required = p
        .get("decision")
        .and_then(|d| d.get("required_approvals"))
        .unwrap_or(&Value::Null);
    let votes = p
        .get("approvals")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    format!(
        "{}  {} → {}  by {}  needs {} ({votes} vote(s) so far)",
        text(p, "id"),
        text(p, "source"),
        text(p, "destination"),
        text(p, "requested_by"),
        requirement(required)
    )
}

/// One line of `audit`.
pub fn audit_line(e: &Value) -> String {
    format!(
        "{:>6}  {}  {:<22} {:<24} {}",
        e.get("seq").and_then(Value::as_i64).unwrap_or(0),
        text(e, "at"),
        text(e, "action"),
        text(e, "actor"),
        e.get("promotion_id").and_then(Value::as_str).unwrap_or("-"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_denied_verdict_lists_each_violation_with_its_fix() {
        let d = json!({"allow": false, "violations": [
            {"rule": "no_trusted_signature", "severity": "critical", "message": "unsigned", "remediation": "sign it with cosign"}
        ], "warnings": ["old base image"], "required_approvals": null});
        let text = verdict(&d);
        assert!(text.starts_with("verdict: denied\n"), "{text}");
        assert!(text.contains("✗ [critical] no_trusted_signature: unsigned"));
        assert!(text.contains("fix: sign it with cosign"));
        assert!(text.contains("! old base image"));
        assert!(!text.contains("approvals required"));
    }

    #[test]
    fn requirements_and_progress_read_naturally() {
        assert_eq!(
            requirement(&json!({"count": 2, "group": "release-approvers"})),
            "2 of release-approvers"
        );
        assert_eq!(
            requirement(
                &json!([{"count": 1, "group": "security"}, {"count": 2, "group": "release"}])
            ),
            "1 of security and 2 of release"
        );
        assert_eq!(requirement(&Value::Null), "none");
        let copy = json!({"in_progress": true, "blobs_total": 5, "blobs_copied": 2, "blobs_skipped": 1,
            "bytes_total": 104_857_600u64, "bytes_copied": 20_971_520u64, "bytes_streamed": 41_943_040u64});
        assert_eq!(
            progress(&copy),
            "copying: 3 of 5 blobs, 40.0 MiB of 100.0 MiB uploaded"
        );
    }
}
