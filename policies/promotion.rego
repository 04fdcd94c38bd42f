# Default Portcullis promotion policy.
#
# Input: the evidence document built by Portcullis (see README "Writing a policy").
# Output: data.portcullis.promotion.decision =
#   {allow, violations: [{rule, message, severity}], required_approvals: {count, group}, warnings}
# Thresholds live in data.json under data.portcullis.config; change them there, not here.
package portcullis.promotion

import rego.v1

cfg := data.portcullis.config

sig := input.signatures

# Every threshold must be present and well-typed: a missing key must never switch a check
# off, so without them `decision` is undefined, which Portcullis treats as a deny.
config_ok if {
	is_number(cfg.min_signatures)
	is_number(cfg.max_high)
	is_boolean(cfg.require_bound_report)
	is_number(cfg.approvals.count)
	cfg.approvals.count >= 1
	is_string(cfg.approvals.group)
}

# --- signatures -------------------------------------------------------------

violations contains v if {
	sig.status == "unsigned"
	v := {
		"rule": "signature.required",
		"message": sprintf("no cosign signature found for %s", [input.artifact.digest]),
		"severity": "critical",
	}
}

violations contains v if {
	sig.status == "fetch_failed"
	v := {
		"rule": "signature.fetch_failed",
		"message": sprintf("could not fetch or read signatures for %s: %s", [input.artifact.digest, sig.error]),
		"severity": "critical",
	}
}

# Any status other than the two above (verified, untrusted, or one we do not know) must
# show enough trusted keys.
violations contains v if {
	not sig.status in {"unsigned", "fetch_failed"}
	count(sig.verified_key_ids) < max([cfg.min_signatures, 1])
	v := {
		"rule": "signature.trusted_key",
		"message": sprintf(
			"%d signature(s) found, %d verified by a trusted key; at least %d required",
			[sig.signatures_found, count(sig.verified_key_ids), cfg.min_signatures],
		),
		"severity": "critical",
	}
}

# --- vulnerabilities --------------------------------------------------------

violations contains v if {
	count(input.vulnerability_reports) == 0
	v := {
		"rule": "vulnerability.report_required",
		"message": "no vulnerability report was supplied or attached",
		"severity": "high",
	}
}

# A report that names the digests it scanned must name the one being promoted.
violations contains v if {
	some report in input.vulnerability_reports
	count(report.subject_digests) > 0
	not input.artifact.digest in report.subject_digests
	v := {
		"rule": "vulnerability.report_mismatch",
		"message": sprintf(
			"the %s report scanned %s, not %s",
			[report.scanner, concat(", ", report.subject_digests), input.artifact.digest],
		),
		"severity": "critical",
	}
}

unbound_reports contains report.scanner if {
	some report in input.vulnerability_reports
	count(report.subject_digests) == 0
}

violations contains v if {
	cfg.require_bound_report
	count(unbound_reports) > 0
	v := {
		"rule": "vulnerability.report_unbound",
		"message": sprintf("the %s report does not say which digest it scanned", [concat(", ", unbound_reports)]),
		"severity": "high",
	}
}

warnings contains msg if {
	not cfg.require_bound_report
	count(unbound_reports) > 0
	msg := sprintf("the %s report does not say which digest it scanned", [concat(", ", unbound_reports)])
}

critical_ids contains vuln.id if {
	some vuln in input.vulnerabilities
	vuln.severity == "CRITICAL"
}

violations contains v if {
	count(critical_ids) > 0
	v := {
		"rule": "vulnerability.no_critical",
		"message": sprintf("%d CRITICAL vulnerabilities: %s", [count(critical_ids), concat(", ", sort(critical_ids))]),
		"severity": "critical",
	}
}

high_ids contains vuln.id if {
	some vuln in input.vulnerabilities
	vuln.severity == "HIGH"
}

violations contains v if {
	count(high_ids) > cfg.max_high
	v := {
		"rule": "vulnerability.max_high",
		"message": sprintf("%d HIGH vulnerabilities, at most %d allowed", [count(high_ids), cfg.max_high]),
		"severity": "high",
	}
}

# --- verdict ----------------------------------------------------------------

warnings contains msg if {
	some vuln in input.vulnerabilities
	vuln.severity == "HIGH"
	count(high_ids) <= cfg.max_high
	msg := sprintf("HIGH vulnerability %s in %s accepted by max_high", [vuln.id, vuln.package])
}

decision := d if {
	config_ok
	d := {
		"allow": count(violations) == 0,
		"violations": violations,
		"required_approvals": cfg.approvals,
		"warnings": warnings,
	}
}
