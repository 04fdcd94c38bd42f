# Tests of waivers in the default policy: an active waiver (Portcullis passes only active,
# unexpired ones whose scope covers the image) stops its finding from denying, and the
# decision's `waived` names the waiver and the finding.
package portcullis.waivers_test

import rego.v1

import data.portcullis.promotion
import data.portcullis.promotion_test as t

waiver(id, kind, match, scope) := {
	"id": id, "kind": kind, "match": match, "scope": scope,
	"expires_at": "2030-01-01T00:00:00Z",
}

for_digest := {"digest": t.digest}

critical_doc := t.with_vulns([t.vuln("CVE-1", "CRITICAL")])

with_waivers(doc, waivers) := object.union(doc, {"waivers": waivers})

test_a_waived_critical_no_longer_denies_and_is_named if {
	doc := t.with_vulns([t.vuln("CVE-1", "CRITICAL"), t.vuln("CVE-2", "LOW")])
	t.denied_by(promotion.decision, "vulnerability.no_critical") with input as doc
	d := promotion.decision with input as with_waivers(doc, [waiver("w1", "vulnerability", "CVE-1", for_digest)])
	d.allow
	d.waived == {{"waiver": "w1", "kind": "vulnerability", "match": "CVE-1", "finding": "CVE-1", "package": "openssl"}}
}

test_a_waiver_matches_an_alias if {
	aliased := object.union(t.vuln("GHSA-1", "CRITICAL"), {"aliases": ["CVE-9"]})
	d := promotion.decision with input as with_waivers(t.with_vulns([aliased]), [waiver("w1", "vulnerability", "CVE-9", for_digest)])
	d.allow
	d.waived == {{"waiver": "w1", "kind": "vulnerability", "match": "CVE-9", "finding": "GHSA-1", "package": "openssl"}}
}

test_a_waived_high_is_not_counted_against_max_high if {
	highs := [t.vuln("CVE-1", "HIGH"), t.vuln("CVE-2", "HIGH")]
	cfg := t.with_config({"max_high": 1})
	t.denied_by(promotion.decision, "vulnerability.max_high") with input as t.with_vulns(highs) with data.portcullis.config as cfg
	d := promotion.decision with input as with_waivers(t.with_vulns(highs), [waiver("w1", "vulnerability", "CVE-2", for_digest)]) with data.portcullis.config as cfg
	d.allow
	some w in d.warnings
	contains(w, "accepted by max_high: CVE-1")
	not contains(w, "CVE-2")
}

test_a_waiver_for_another_image_or_kind_does_not_apply if {
	doc := critical_doc
	t.denied_by(promotion.decision, "vulnerability.no_critical") with input as with_waivers(doc, [waiver("w1", "vulnerability", "CVE-1", {"digest": "sha256:ff"})])
	t.denied_by(promotion.decision, "vulnerability.no_critical") with input as with_waivers(doc, [waiver("w1", "licence", "CVE-1", for_digest)])
	t.denied_by(promotion.decision, "vulnerability.no_critical") with input as with_waivers(doc, [waiver("w1", "vulnerability", "CVE-2", for_digest)])
}

test_a_repository_prefix_applies_on_path_segments if {
	doc := critical_doc
	promotion.decision.allow with input as with_waivers(doc, [waiver("w1", "vulnerability", "CVE-1", {"repository_prefix": "team"})])
	promotion.decision.allow with input as with_waivers(doc, [waiver("w1", "vulnerability", "CVE-1", {"repository_prefix": "team/app"})])
	t.denied_by(promotion.decision, "vulnerability.no_critical") with input as with_waivers(doc, [waiver("w1", "vulnerability", "CVE-1", {"repository_prefix": "tea"})])
	t.denied_by(promotion.decision, "vulnerability.no_critical") with input as with_waivers(doc, [waiver("w1", "vulnerability", "CVE-1", {"repository_prefix": "team/app/x"})])
}

test_a_vex_suppression_is_listed_as_such_not_as_waived if {
	doc := t.with_vulns([t.suppressed(t.vuln("CVE-1", "CRITICAL"), false)])
	d := promotion.decision with input as with_waivers(doc, [waiver("w1", "vulnerability", "CVE-1", for_digest)])
	d.allow
	count(d.suppressions) == 1
	count(d.waived) == 0
}

test_a_waived_licence_no_longer_denies_and_is_named if {
	doc := t.with_components([
		t.component("zlib", "Zlib", ["Zlib"], [["Zlib"]], []),
		t.component("readline", "GPL-3.0-only", ["GPL-3.0-only"], [["GPL-3.0-only"]], []),
		t.component("bash", "GPL-3.0-only AND GPL-2.0-only", ["GPL-2.0-only", "GPL-3.0-only"], [["GPL-2.0-only", "GPL-3.0-only"]], []),
	])
	d := promotion.decision with input as with_waivers(doc, [waiver("w2", "licence", "GPL-3.0-only", for_digest)])
	# bash is still denied: GPL-2.0-only is not waived.
	t.denied_by(d, "licence.denied")
	some v in d.violations
	contains(v.message, "bash@1.0")
	not contains(v.message, "readline")
	d.waived == {{"waiver": "w2", "kind": "licence", "match": "GPL-3.0-only", "finding": "GPL-3.0-only", "package": "readline@1.0"}}
	both := [waiver("w2", "licence", "GPL-3.0-only", for_digest), waiver("w3", "licence", "GPL-2.0-only", for_digest)]
	promotion.decision.allow with input as with_waivers(doc, both)
}

test_an_input_without_waivers_is_judged_as_before if {
	d := promotion.decision with input as t.good
	d.allow
	d.waived == set()
}
