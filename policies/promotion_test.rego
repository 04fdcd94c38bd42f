# Unit tests for the default policy; `portcullis policy test` runs them (later), CI runs them
# through the portcullis-policy crate's tests today.
package portcullis.promotion_test

import rego.v1

import data.portcullis.promotion

good := {
	"artifact": {"digest": "sha256:00"},
	"signatures": {"status": "verified", "verified_key_ids": ["k1"], "signatures_found": 1, "error": null},
	"vulnerability_reports": [{"scanner": "trivy"}],
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
