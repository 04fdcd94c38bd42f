# Default Portcullis promotion policy.
#
# Input: the evidence document built by Portcullis, specified by input.schema.json in this
# directory (see README "Writing a policy").
# Output: data.portcullis.promotion.decision =
#   {allow, violations: [{rule, message, severity, remediation}], required_approvals: {count, group} | [{group, count}],
#    warnings: [string], suppressions: [{vulnerability, package, status, justification, source}],
#    waived: [{waiver, kind, match, finding, package}]}
# Thresholds live in data.json under data.portcullis.config; change them there, not here.
# Rule ids are stable: dashboards and exceptions refer to them.
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
	is_boolean(cfg.require_signed_reports)
	approvals_ok
	rollback_approvals_ok
	is_array(cfg.licences.denied)
	cfg.licences.unknown in {"allow", "warn", "deny"}
	is_boolean(cfg.vex.require_signed)
	is_boolean(cfg.provenance.required)
	is_array(cfg.provenance.trusted_builders)
	is_array(cfg.provenance.source_repositories)
	is_boolean(cfg.sbom.required)
}

# `approvals` is one requirement {count, group} or a list of them; a count of 0 releases an
# allowed promotion at once. `approvals_on_high` (optional, same shape as one requirement) is
# added while HIGH findings are accepted by max_high.
approvals_ok if {
	is_object(cfg.approvals)
	requirement_ok(cfg.approvals)
	high_requirement_ok
}

approvals_ok if {
	is_array(cfg.approvals)
	count(cfg.approvals) >= 1
	every r in cfg.approvals {
		requirement_ok(r)
	}
	high_requirement_ok
}

requirement_ok(r) if {
	is_number(r.count)
	r.count >= 0
	is_string(r.group)
}

high_requirement_ok if not cfg.approvals_on_high

# `rollback_approvals` (optional, same shape as `approvals`) is what a rollback
# (`input.request.kind == "rollback"`: a channel tag moved back to a digest this gate promoted
# before on the route) needs. Without it a rollback needs no approvals: it was approved when
# it was promoted, and its signatures and the current policy are checked again.
rollback_approvals_ok if not cfg.rollback_approvals

rollback_approvals_ok if {
	is_object(cfg.rollback_approvals)
	requirement_ok(cfg.rollback_approvals)
}

rollback_approvals_ok if {
	is_array(cfg.rollback_approvals)
	count(cfg.rollback_approvals) >= 1
	every r in cfg.rollback_approvals {
		requirement_ok(r)
	}
}

is_rollback if input.request.kind == "rollback"

high_requirement_ok if requirement_ok(cfg.approvals_on_high)

base_requirements := cfg.approvals if is_array(cfg.approvals)

base_requirements := [cfg.approvals] if is_object(cfg.approvals)

# The requirement as the decision states it: the configured one, plus approvals_on_high
# while HIGH findings are present (its count is added to that group's if it is listed).
required_approvals := rollback_requirement if is_rollback

required_approvals := cfg.approvals if {
	not is_rollback
	not high_extra
}

required_approvals := merged if {
	not is_rollback
	high_extra
	extra := cfg.approvals_on_high
	others := [r | some r in base_requirements; r.group != extra.group]
	same := [r.count | some r in base_requirements; r.group == extra.group]
	merged := array.concat(others, [{"group": extra.group, "count": sum(same) + extra.count}])
}

rollback_requirement := cfg.rollback_approvals if cfg.rollback_approvals

rollback_requirement := {"count": 0, "group": base_requirements[0].group} if not cfg.rollback_approvals

high_extra if {
	cfg.approvals_on_high
	count(high_ids) > 0
}

# The input must carry its indexes (suppressed_index lists the findings that have a VEX
# suppression), and the vulnerability index must cover every finding:
# a document without them would make the index-based rules below see nothing.
input_ok if {
	is_object(input.vulnerability_index)
	is_object(input.licence_index)
	is_array(input.suppressed_index)
	is_array(input.components)
	count(input.vulnerabilities) == sum([count(l) | some l in input.vulnerability_index])
}

# --- signatures -------------------------------------------------------------

violations contains v if {
	sig.status == "unsigned"
	v := {
		"rule": "signature.required",
		"message": sprintf("no cosign signature found for %s", [input.artifact.digest]),
		"severity": "critical",
		"remediation": "sign the image digest with a trusted key (cosign sign --key …) and request again",
	}
}

violations contains v if {
	sig.status == "fetch_failed"
	v := {
		"rule": "signature.fetch_failed",
		"message": sprintf("could not fetch or read signatures for %s: %s", [input.artifact.digest, sig.error]),
		"severity": "critical",
		"remediation": "check that the source registry is reachable and the .sig artifact is readable, then request again",
	}
}

# Any status other than the two above (verified, untrusted, or one we do not know) must
# show enough distinct trusted signers (k of n).
violations contains v if {
	not sig.status in {"unsigned", "fetch_failed"}
	count(sig.verified_key_ids) < max([cfg.min_signatures, 1])
	v := {
		"rule": "signature.trusted_key",
		"message": sprintf(
			"%d signature(s) found, %d trusted signer(s) verified (%s); at least %d required",
			[sig.signatures_found, count(sig.verified_key_ids), concat(", ", sig.verified_key_ids), max([cfg.min_signatures, 1])],
		),
		"severity": "critical",
		"remediation": "have enough distinct trusted keys or keyless identities sign the digest",
	}
}

# --- attestations -----------------------------------------------------------

violations contains v if {
	input.attestations.error != null
	v := {
		"rule": "attestation.fetch_failed",
		"message": sprintf("could not fetch attestations for %s: %s", [input.artifact.digest, input.attestations.error]),
		"severity": "critical",
		"remediation": "check that the source registry is reachable and its attestations are readable, then request again",
	}
}

warnings contains msg if {
	some r in input.attestations.rejected
	msg := sprintf("attestation %s was ignored: %s", [r.location, r.reason])
}

# --- provenance -------------------------------------------------------------

# Signed provenance about this digest; CI-supplied provenance is never trusted.
signed_provenance contains p if {
	some p in input.provenance
	p.signed
	input.artifact.digest in p.subject_digests
}

violations contains v if {
	cfg.provenance.required
	count(signed_provenance) == 0
	v := {
		"rule": "provenance.required",
		"message": sprintf("no signed SLSA provenance names %s", [input.artifact.digest]),
		"severity": "high",
		"remediation": "attach a signed SLSA provenance attestation (cosign attest --type slsaprovenance …)",
	}
}

violations contains v if {
	count(cfg.provenance.trusted_builders) > 0
	some p in signed_provenance
	not p.builder_id in cfg.provenance.trusted_builders
	v := {
		"rule": "provenance.untrusted_builder",
		"message": sprintf("built by %s, which is not a trusted builder", [p.builder_id]),
		"severity": "critical",
		"remediation": "build the image on a builder listed in provenance.trusted_builders",
	}
}

violations contains v if {
	count(cfg.provenance.source_repositories) > 0
	some p in signed_provenance
	not p.source_repository in cfg.provenance.source_repositories
	v := {
		"rule": "provenance.source_repository",
		"message": sprintf("built from %v, which is not an allowed source repository", [p.source_repository]),
		"severity": "critical",
		"remediation": "build from a repository listed in provenance.source_repositories",
	}
}

# --- vulnerabilities --------------------------------------------------------

violations contains v if {
	count(input.vulnerability_reports) == 0
	v := {
		"rule": "vulnerability.report_required",
		"message": "no vulnerability report was supplied or attached",
		"severity": "high",
		"remediation": "supply a scanner report (trivy-json, grype-json, cyclonedx-json) or attach a signed vuln attestation",
	}
}

violations contains v if {
	cfg.require_signed_reports
	count(input.vulnerability_reports) > 0
	count([r | some r in input.vulnerability_reports; r.signed]) == 0
	v := {
		"rule": "vulnerability.signed_report_required",
		"message": "no vulnerability report is a signed attestation; CI-supplied reports are not enough",
		"severity": "high",
		"remediation": "attach the scan as a signed attestation (cosign attest --type vuln …)",
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
		"remediation": "scan the digest being promoted and supply that report",
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
		"remediation": "scan the image by reference so the report records its digest",
	}
}

warnings contains msg if {
	not cfg.require_bound_report
	count(unbound_reports) > 0
	msg := sprintf("the %s report does not say which digest it scanned", [concat(", ", unbound_reports)])
}

# A VEX suppression counts unless the configuration demands signed VEX and it is not.
suppression_accepted(vuln) if {
	vuln.suppressed_by != null
	not cfg.vex.require_signed
}

suppression_accepted(vuln) if {
	vuln.suppressed_by != null
	vuln.suppressed_by.signed
}

# --- waivers ------------------------------------------------------------------

# Active, unexpired waivers whose scope covers this image (Portcullis passes only those; the
# scope is checked again here so a waiver for another image never applies). Inputs made
# before waivers existed have none.
waivers contains w if {
	some w in object.get(input, "waivers", [])
	waiver_covers(w.scope)
}

waiver_covers(scope) if scope.digest == input.artifact.digest

waiver_covers(scope) if {
	prefix := scope.repository_prefix
	is_string(prefix)
	input.artifact.repository == prefix
}

waiver_covers(scope) if {
	prefix := scope.repository_prefix
	is_string(prefix)
	startswith(input.artifact.repository, concat("", [prefix, "/"]))
}

waived_vulnerability_ids := {w.match | some w in waivers; w.kind == "vulnerability"}

waived_licences := {w.match | some w in waivers; w.kind == "licence"}

# A finding is waived when a vulnerability waiver names its id or one of its aliases.
vulnerability_waived(vuln) if vuln.id in waived_vulnerability_ids

# (No alias is looked at while no vulnerability waiver applies: the common case costs one
# set look-up per finding.)
vulnerability_waived(vuln) if {
	count(waived_vulnerability_ids) > 0
	some alias in object.get(vuln, "aliases", [])
	alias in waived_vulnerability_ids
}

finding_named(vuln, id) if vuln.id == id

finding_named(vuln, id) if id in object.get(vuln, "aliases", [])

# Which waiver suppressed which finding; findings an accepted VEX statement already
# suppresses are listed under `suppressions` instead.
waived contains x if {
	some w in waivers
	w.kind == "vulnerability"
	some vuln in input.vulnerabilities
	finding_named(vuln, w.match)
	not suppression_accepted(vuln)
	x := {"waiver": w.id, "kind": "vulnerability", "match": w.match, "finding": vuln.id, "package": vuln.package}
}

waived contains x if {
	some w in waivers
	w.kind == "licence"
	w.match in denied_licences
	some i in object.get(input.licence_index, w.match, [])
	c := input.components[i]
	denied_under(c, denied_licences)
	not denied_under(c, effective_denied_licences)
	x := {"waiver": w.id, "kind": "licence", "match": w.match, "finding": w.match, "package": component_name(c)}
}

# Findings of one severity that no accepted VEX statement suppresses and no waiver waives,
# by index.
active_ids(severity) := {vuln.id |
	some i in object.get(input.vulnerability_index, severity, [])
	vuln := input.vulnerabilities[i]
	not suppression_accepted(vuln)
	not vulnerability_waived(vuln)
}

critical_ids := active_ids("CRITICAL")

high_ids := active_ids("HIGH")

violations contains v if {
	count(critical_ids) > 0
	v := {
		"rule": "vulnerability.no_critical",
		"message": sprintf("%d CRITICAL vulnerabilities: %s", [count(critical_ids), concat(", ", sort(critical_ids))]),
		"severity": "critical",
		"remediation": "upgrade the affected packages, or publish a VEX statement if the image is not affected",
	}
}

violations contains v if {
	count(high_ids) > cfg.max_high
	v := {
		"rule": "vulnerability.max_high",
		"message": sprintf("%d HIGH vulnerabilities, at most %d allowed", [count(high_ids), cfg.max_high]),
		"severity": "high",
		"remediation": "upgrade the affected packages until at most max_high HIGH findings remain",
	}
}

warnings contains msg if {
	count(high_ids) > 0
	count(high_ids) <= cfg.max_high
	msg := sprintf("HIGH vulnerabilities accepted by max_high: %s", [concat(", ", sort(high_ids))])
}

suppressions contains s if {
	some i in input.suppressed_index
	vuln := input.vulnerabilities[i]
	suppression_accepted(vuln)
	s := {
		"vulnerability": vuln.id,
		"package": vuln.package,
		"status": vuln.suppressed_by.status,
		"justification": vuln.suppressed_by.justification,
		"source": vuln.suppressed_by.source,
	}
}

warnings contains msg if {
	cfg.vex.require_signed
	some i in input.suppressed_index
	vuln := input.vulnerabilities[i]
	not vuln.suppressed_by.signed
	msg := sprintf("unsigned VEX statement for %s in %s ignored", [vuln.id, vuln.package])
}

# --- SBOM and licences ------------------------------------------------------

violations contains v if {
	cfg.sbom.required
	count(input.sboms) == 0
	v := {
		"rule": "sbom.required",
		"message": "no SBOM was supplied or attached",
		"severity": "high",
		"remediation": "supply a CycloneDX or SPDX SBOM, or attach one as a signed attestation",
	}
}

denied_licences := {l | some l in cfg.licences.denied}

# The denied licences less those an active waiver covers for this image.
effective_denied_licences := denied_licences - waived_licences

# Whether every way to comply with c's licence expression includes a term of `denied`.
denied_under(c, denied) if {
	count(c.licence.alternatives) > 0
	every alt in c.licence.alternatives {
		some t in alt
		t in denied
	}
}

# A component is denied when every way to comply with its licence expression includes a
# denied (and not waived) term: `MIT OR GPL-3.0-only` can be taken under MIT and passes.
denied_components[i] := terms if {
	some term in effective_denied_licences
	some i in object.get(input.licence_index, term, [])
	c := input.components[i]
	denied_under(c, effective_denied_licences)
	terms := {t | some t in c.licence.terms; t in effective_denied_licences}
}

component_name(c) := sprintf("%s@%s", [c.name, c.version]) if c.version != null

component_name(c) := c.name if c.version == null

violations contains v if {
	some i, terms in denied_components
	c := input.components[i]
	v := {
		"rule": "licence.denied",
		"message": sprintf(
			"component %s is licensed %s; every option includes a denied licence (%s)",
			[component_name(c), c.licence.declared, concat(", ", sort(terms))],
		),
		"severity": "high",
		"remediation": sprintf("replace or remove %s, or obtain a licence exception", [c.name]),
	}
}

unknown_licence_components contains component_name(c) if {
	some c in input.components
	c.licence != null
	count(c.licence.unknown) > 0
}

violations contains v if {
	cfg.licences.unknown == "deny"
	count(unknown_licence_components) > 0
	v := {
		"rule": "licence.unknown",
		"message": sprintf("licences that are not SPDX and could not be mapped: %s", [concat(", ", sort(unknown_licence_components))]),
		"severity": "medium",
		"remediation": "declare the licences with SPDX identifiers (LicenseRef-… for custom ones)",
	}
}

warnings contains msg if {
	cfg.licences.unknown == "warn"
	count(unknown_licence_components) > 0
	msg := sprintf("licences that are not SPDX and could not be mapped: %s", [concat(", ", sort(unknown_licence_components))])
}

# --- verdict ----------------------------------------------------------------

decision := d if {
	config_ok
	input_ok
	d := {
		"allow": count(violations) == 0,
		"violations": violations,
		"required_approvals": required_approvals,
		"warnings": warnings,
		"suppressions": suppressions,
		"waived": waived,
	}
}
