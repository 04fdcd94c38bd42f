# Unit tests for the default policy; `portcullis policy test policies` runs them (and CI does).
package portcullis.promotion_test

import rego.v1

import data.portcullis.promotion

good := {
	"artifact": {"digest": "sha256:00"},
	"signatures": {"status": "verified", "verified_key_ids": ["k1"], "signatures_found": 1, "error": null},
	"vulnerability_reports": [{"scanner": "trivy", "subject_digests": ["sha256:00"]}],
	"vulnerabilities": [],
}

test_clean_signed_image_is_allowed if {
	promotion.decision.allow with input as good
}

test_unsigned_is_denied if {
	d := promotion.decision with input as object.union(good, {"signatures": {"status": "unsigned", "verified_key_ids": [], "signatures_found": 0, "error": null}})
	not d.allow
	some v in d.violations
	v.rule == "signature.required"
}

test_critical_is_denied if {
	d := promotion.decision with input as object.union(good, {"vulnerabilities": [{"id": "CVE-1", "severity": "CRITICAL", "package": "p"}]})
	not d.allow
	some v in d.violations
	v.rule == "vulnerability.no_critical"
}

test_report_for_another_digest_is_denied if {
	d := promotion.decision with input as object.union(good, {"vulnerability_reports": [{"scanner": "trivy", "subject_digests": ["sha256:11"]}]})
	not d.allow
	some v in d.violations
	v.rule == "vulnerability.report_mismatch"
}

test_unbound_report_warns_unless_required if {
	unbound := object.union(good, {"vulnerability_reports": [{"scanner": "trivy", "subject_digests": []}]})
	d := promotion.decision with input as unbound
	d.allow
	count(d.warnings) == 1
	strict := promotion.decision with input as unbound with data.portcullis.config.require_bound_report as true
	not strict.allow
}

test_missing_threshold_leaves_the_decision_undefined if {
	not promotion.decision with input as good with data.portcullis.config as {"approvals": {"count": 2, "group": "g"}}
}

test_unknown_signature_status_needs_trusted_keys if {
	d := promotion.decision with input as object.union(good, {"signatures": {"status": "weird", "verified_key_ids": [], "signatures_found": 0, "error": null}})
	not d.allow
}

test_high_over_threshold_is_denied if {
	highs := [{"id": sprintf("CVE-%d", [i]), "severity": "HIGH", "package": "p"} | some i in numbers.range(1, 11)]
	d := promotion.decision with input as object.union(good, {"vulnerabilities": highs})
	not d.allow
	some v in d.violations
	v.rule == "vulnerability.max_high"
}
