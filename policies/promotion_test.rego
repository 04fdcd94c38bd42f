# Unit tests for the default policy: every rule id has a test that triggers it and one that
# does not. `portcullis policy test policies` runs them (and CI does).
package portcullis.promotion_test

import rego.v1

import data.portcullis.promotion

digest := "sha256:00"

ci_origin := {"kind": "ci_supplied", "format": "trivy-json"}

signed_origin := {"kind": "signed_attestation", "key_ids": ["k1"], "predicate_type": "https://slsa.dev/provenance/v1"}

severities := ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN"]

good := {
	"artifact": {"digest": digest, "registry": "staging.example", "repository": "team/app", "source": "staging.example/team/app@sha256:00"},
	"request": {"route": "prod"},
	"signatures": {"status": "verified", "verified_key_ids": ["k1"], "signatures_found": 1, "error": null},
	"attestations": {"found": 0, "verified": 0, "predicate_types": [], "rejected": [], "error": null},
	"vulnerability_reports": [{"scanner": "trivy", "signed": false, "origin": ci_origin, "subject_digests": [digest]}],
	"vulnerabilities": [],
	"vulnerability_index": {s: [] | some s in severities},
	"suppressed_index": [],
	"sboms": [],
	"components": [],
	"licence_index": {},
	"provenance": [],
	"vex": [],
}

vuln(id, severity) := {
	"id": id, "severity": severity, "package": "openssl", "installed_version": "1.0",
	"fixed_version": "1.1", "signed": false, "origin": ci_origin, "suppressed_by": null,
}

# The input with `vulns` and the indexes Portcullis builds for them.
with_vulns(vulns) := object.union(good, {
	"vulnerabilities": vulns,
	"vulnerability_index": {s: [i | some i, v in vulns; v.severity == s] | some s in severities},
	"suppressed_index": [i | some i, v in vulns; v.suppressed_by != null],
})

component(name, declared, terms, alternatives, unknown) := {
	"name": name, "version": "1.0", "purl": null, "signed": false, "origin": ci_origin,
	"licence": {"declared": declared, "expression": declared, "terms": terms, "alternatives": alternatives, "unknown": unknown},
}

with_components(components) := object.union(good, {
	"sboms": [{"format": "cyclonedx", "signed": false, "origin": ci_origin, "subject_digests": [], "component_count": count(components)}],
	"components": components,
	"licence_index": {t: [i | some i, x in components; t in x.licence.terms] | some c in components; some t in c.licence.terms},
})

with_config(patch) := object.union(data.portcullis.config, patch)

rules(d) := {v.rule | some v in d.violations}

denied_by(d, rule) if {
	not d.allow
	rule in rules(d)
}

# --- the clean case and fail-closed guards ----------------------------------

test_clean_signed_image_is_allowed if {
	d := promotion.decision with input as good
	d.allow
	d.required_approvals == {"count": 2, "group": "release-approvers"}
	count(d.suppressions) == 0
}

test_approvals_may_name_several_groups_or_none if {
	two_groups := [{"group": "security", "count": 1}, {"group": "release-approvers", "count": 1}]
	d := promotion.decision with input as good with data.portcullis.config.approvals as two_groups
	d.required_approvals == two_groups
	none := promotion.decision with input as good with data.portcullis.config.approvals as {"count": 0, "group": "release-approvers"}
	none.required_approvals.count == 0
}

test_a_high_finding_asks_for_one_more_approval if {
	extra := {"count": 1, "group": "security"}
	clean := promotion.decision with input as good with data.portcullis.config.approvals_on_high as extra
	clean.required_approvals == {"count": 2, "group": "release-approvers"}
	high := promotion.decision with input as with_vulns([vuln("CVE-1", "HIGH")]) with data.portcullis.config.approvals_on_high as extra with data.portcullis.config.max_high as 10
	high.allow
	high.required_approvals == [{"group": "release-approvers", "count": 2}, {"group": "security", "count": 1}]
	same := promotion.decision with input as with_vulns([vuln("CVE-1", "HIGH")]) with data.portcullis.config.approvals_on_high as {"count": 1, "group": "release-approvers"} with data.portcullis.config.max_high as 10
	same.required_approvals == [{"group": "release-approvers", "count": 3}]
}

rollback := object.union(good, {"request": {"route": "prod", "kind": "rollback"}})

test_a_rollback_needs_no_approvals_unless_configured if {
	d := promotion.decision with input as rollback
	d.allow
	d.required_approvals == {"count": 0, "group": "release-approvers"}
	high := promotion.decision with input as object.union(with_vulns([vuln("CVE-1", "HIGH")]), {"request": {"kind": "rollback"}}) with data.portcullis.config.approvals_on_high as {"count": 1, "group": "security"}
	high.required_approvals.count == 0
	asked := {"count": 1, "group": "security"}
	own := promotion.decision with input as rollback with data.portcullis.config.rollback_approvals as asked
	own.required_approvals == asked
	promotion_ := promotion.decision with input as good with data.portcullis.config.rollback_approvals as asked
	promotion_.required_approvals == {"count": 2, "group": "release-approvers"}
}

test_a_rollback_is_judged_by_the_same_rules if {
	d := promotion.decision with input as object.union(rollback, {"signatures": {"status": "unsigned", "verified_key_ids": [], "signatures_found": 0, "error": null}})
	denied_by(d, "signature.required")
	not promotion.decision with input as rollback with data.portcullis.config.rollback_approvals as []
	not promotion.decision with input as rollback with data.portcullis.config.rollback_approvals as {"count": -1, "group": "x"}
}

test_a_malformed_requirement_leaves_the_decision_undefined if {
	not promotion.decision with input as good with data.portcullis.config.approvals as {"count": -1, "group": "release-approvers"}
	not promotion.decision with input as good with data.portcullis.config.approvals as []
	not promotion.decision with input as good with data.portcullis.config.approvals_on_high as {"count": "1"}
}

test_missing_config_leaves_the_decision_undefined if {
	not promotion.decision with input as good with data.portcullis.config as object.remove(data.portcullis.config, ["licences"])
}

test_input_without_indexes_leaves_the_decision_undefined if {
	not promotion.decision with input as object.remove(good, ["vulnerability_index"])
}

test_unindexed_findings_leave_the_decision_undefined if {
	not promotion.decision with input as object.union(good, {"vulnerabilities": [vuln("CVE-1", "CRITICAL")]})
}

test_every_violation_has_a_remediation if {
	d := promotion.decision with input as object.union(with_vulns([vuln("CVE-1", "CRITICAL")]), {"signatures": {"status": "unsigned", "verified_key_ids": [], "signatures_found": 0, "error": null}})
	count(d.violations) >= 2
	every v in d.violations {
		count(v.remediation) > 0
		v.severity in {"critical", "high", "medium", "low"}
	}
}

# --- signatures -------------------------------------------------------------

test_signature_required if {
	denied_by(promotion.decision, "signature.required") with input as object.union(good, {"signatures": {"status": "unsigned", "verified_key_ids": [], "signatures_found": 0, "error": null}})
}

test_signature_fetch_failed if {
	denied_by(promotion.decision, "signature.fetch_failed") with input as object.union(good, {"signatures": {"status": "fetch_failed", "verified_key_ids": [], "signatures_found": 0, "error": "registry down"}})
}

test_signature_untrusted if {
	denied_by(promotion.decision, "signature.trusted_key") with input as object.union(good, {"signatures": {"status": "untrusted", "verified_key_ids": [], "signatures_found": 2, "error": null}})
}

test_two_of_three_signers if {
	two := with_config({"min_signatures": 2})
	one_signer := object.union(good, {"signatures": {"status": "verified", "verified_key_ids": ["k1"], "signatures_found": 1, "error": null}})
	two_signers := object.union(good, {"signatures": {"status": "verified", "verified_key_ids": ["k1", "keyless-ci"], "signatures_found": 2, "error": null}})
	denied_by(promotion.decision, "signature.trusted_key") with input as one_signer with data.portcullis.config as two
	promotion.decision.allow with input as two_signers with data.portcullis.config as two
}

test_unknown_signature_status_needs_keys if {
	denied_by(promotion.decision, "signature.trusted_key") with input as object.union(good, {"signatures": {"status": "weird", "verified_key_ids": [], "signatures_found": 0, "error": null}})
}

# --- attestations and provenance --------------------------------------------

test_attestation_fetch_failed if {
	denied_by(promotion.decision, "attestation.fetch_failed") with input as object.union(good, {"attestations": {"found": 0, "verified": 0, "predicate_types": [], "rejected": [], "error": "503 from registry"}})
}

test_rejected_attestation_warns if {
	d := promotion.decision with input as object.union(good, {"attestations": {"found": 1, "verified": 0, "predicate_types": [], "rejected": [{"location": "sha256-00.att layer 0", "reason": "no trusted signature"}], "error": null}})
	d.allow
	some w in d.warnings
	contains(w, "no trusted signature")
}

provenance(builder, repo, signed) := {
	"predicate_type": "https://slsa.dev/provenance/v1", "builder_id": builder, "build_type": "https://actions.github.io/buildtypes/workflow/v1",
	"source_repository": repo, "source_ref": "refs/heads/main", "source_commit": "abc", "subject_digests": [digest],
	"signed": signed, "origin": signed_origin,
}

test_provenance_required if {
	required := with_config({"provenance": {"required": true, "trusted_builders": [], "source_repositories": []}})
	denied_by(promotion.decision, "provenance.required") with input as good with data.portcullis.config as required
	unsigned := object.union(good, {"provenance": [provenance("b", "r", false)]})
	denied_by(promotion.decision, "provenance.required") with input as unsigned with data.portcullis.config as required
	signed := object.union(good, {"provenance": [provenance("b", "r", true)]})
	promotion.decision.allow with input as signed with data.portcullis.config as required
}

test_provenance_untrusted_builder if {
	cfg := with_config({"provenance": {"required": true, "trusted_builders": ["https://github.com/actions/runner"], "source_repositories": []}})
	denied_by(promotion.decision, "provenance.untrusted_builder") with input as object.union(good, {"provenance": [provenance("https://evil.example/builder", "r", true)]}) with data.portcullis.config as cfg
	promotion.decision.allow with input as object.union(good, {"provenance": [provenance("https://github.com/actions/runner", "r", true)]}) with data.portcullis.config as cfg
}

test_provenance_source_repository if {
	cfg := with_config({"provenance": {"required": true, "trusted_builders": [], "source_repositories": ["https://github.com/org/app"]}})
	denied_by(promotion.decision, "provenance.source_repository") with input as object.union(good, {"provenance": [provenance("b", "https://github.com/fork/app", true)]}) with data.portcullis.config as cfg
	promotion.decision.allow with input as object.union(good, {"provenance": [provenance("b", "https://github.com/org/app", true)]}) with data.portcullis.config as cfg
}

# --- vulnerabilities --------------------------------------------------------

test_report_required if {
	denied_by(promotion.decision, "vulnerability.report_required") with input as object.union(good, {"vulnerability_reports": []})
}

test_signed_report_required if {
	cfg := with_config({"require_signed_reports": true})
	denied_by(promotion.decision, "vulnerability.signed_report_required") with input as good with data.portcullis.config as cfg
	signed := object.union(good, {"vulnerability_reports": [{"scanner": "grype", "signed": true, "origin": signed_origin, "subject_digests": [digest]}]})
	promotion.decision.allow with input as signed with data.portcullis.config as cfg
}

test_report_for_another_digest_is_denied if {
	denied_by(promotion.decision, "vulnerability.report_mismatch") with input as object.union(good, {"vulnerability_reports": [{"scanner": "trivy", "signed": false, "subject_digests": ["sha256:11"]}]})
}

test_unbound_report_warns_unless_required if {
	unbound := object.union(good, {"vulnerability_reports": [{"scanner": "trivy", "signed": false, "subject_digests": []}]})
	d := promotion.decision with input as unbound
	d.allow
	some w in d.warnings
	contains(w, "does not say which digest")
	denied_by(promotion.decision, "vulnerability.report_unbound") with input as unbound with data.portcullis.config as with_config({"require_bound_report": true})
}

test_critical_is_denied if {
	d := promotion.decision with input as with_vulns([vuln("CVE-1", "CRITICAL"), vuln("CVE-2", "LOW")])
	denied_by(d, "vulnerability.no_critical")
	some v in d.violations
	v.rule == "vulnerability.no_critical"
	contains(v.message, "CVE-1")
	not contains(v.message, "CVE-2")
}

suppressed(v, signed) := object.union(v, {"suppressed_by": {"status": "not_affected", "justification": "vulnerable_code_not_present", "source": "ci:openvex", "signed": signed}})

test_vex_suppressed_critical_is_allowed_and_visible if {
	d := promotion.decision with input as with_vulns([suppressed(vuln("CVE-1", "CRITICAL"), false)])
	d.allow
	d.suppressions == {{"vulnerability": "CVE-1", "package": "openssl", "status": "not_affected", "justification": "vulnerable_code_not_present", "source": "ci:openvex"}}
}

test_unsigned_vex_does_not_count_when_signed_vex_required if {
	cfg := with_config({"vex": {"require_signed": true}})
	d := promotion.decision with input as with_vulns([suppressed(vuln("CVE-1", "CRITICAL"), false)]) with data.portcullis.config as cfg
	denied_by(d, "vulnerability.no_critical")
	count(d.suppressions) == 0
	some w in d.warnings
	contains(w, "unsigned VEX statement for CVE-1")
	promotion.decision.allow with input as with_vulns([suppressed(vuln("CVE-1", "CRITICAL"), true)]) with data.portcullis.config as cfg
}

test_high_over_the_limit_is_denied if {
	highs := [vuln(sprintf("CVE-%d", [i]), "HIGH") | some i in numbers.range(1, 3)]
	denied_by(promotion.decision, "vulnerability.max_high") with input as with_vulns(highs) with data.portcullis.config as with_config({"max_high": 2})
	d := promotion.decision with input as with_vulns(highs) with data.portcullis.config as with_config({"max_high": 3})
	d.allow
	some w in d.warnings
	contains(w, "HIGH vulnerabilities accepted by max_high")
}

# --- SBOM and licences ------------------------------------------------------

test_sbom_required if {
	cfg := with_config({"sbom": {"required": true}})
	denied_by(promotion.decision, "sbom.required") with input as good with data.portcullis.config as cfg
	promotion.decision.allow with input as with_components([component("zlib", "Zlib", ["Zlib"], [["Zlib"]], [])]) with data.portcullis.config as cfg
}

test_gpl3_component_is_denied_and_named if {
	d := promotion.decision with input as with_components([
		component("zlib", "Zlib", ["Zlib"], [["Zlib"]], []),
		component("readline", "GPL-3.0-only", ["GPL-3.0-only"], [["GPL-3.0-only"]], []),
	])
	denied_by(d, "licence.denied")
	some v in d.violations
	v.rule == "licence.denied"
	contains(v.message, "readline@1.0")
	contains(v.message, "GPL-3.0-only")
	not contains(v.message, "zlib")
}

test_dual_licence_with_an_allowed_option_passes if {
	promotion.decision.allow with input as with_components([component("lib", "MIT OR GPL-3.0-only", ["GPL-3.0-only", "MIT"], [["GPL-3.0-only"], ["MIT"]], [])])
}

test_conjunction_with_a_denied_term_is_denied if {
	denied_by(promotion.decision, "licence.denied") with input as with_components([component("lib", "MIT AND GPL-2.0-only", ["GPL-2.0-only", "MIT"], [["GPL-2.0-only", "MIT"]], [])])
}

test_exception_term_is_not_the_bare_licence if {
	promotion.decision.allow with input as with_components([component("jdk", "GPL-2.0-only WITH Classpath-exception-2.0", ["GPL-2.0-only WITH Classpath-exception-2.0"], [["GPL-2.0-only WITH Classpath-exception-2.0"]], [])])
}

test_unknown_licence_warns_or_denies if {
	odd := with_components([component("thing", "Custom", [], [], ["Custom"])])
	d := promotion.decision with input as odd
	d.allow
	some w in d.warnings
	contains(w, "thing@1.0")
	denied_by(promotion.decision, "licence.unknown") with input as odd with data.portcullis.config as with_config({"licences": {"denied": [], "unknown": "deny"}})
}
