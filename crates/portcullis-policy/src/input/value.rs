//! Builds the engine's `regorus::Value` straight from the typed input, with no JSON in
//! between. Allocation is the whole cost of building (and of dropping) the value, so keys
//! are made once per process, and what repeats within one document is built once and shared
//! by reference count: each report's `origin`, scanner and signed flag, the severities, each
//! distinct licence.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regorus::Value;
use rustc_hash::FxHashMap as HashMap;

use super::{
    Artifact, Attestations, ComponentEntry, Finding, Input, LicenceView, Origin, ProvenanceEntry,
    ReportEntry, RequestInfo, SbomEntry, Signatures, SignerView, Suppressed, VexEntry, WaiverEntry,
    severity_name,
};

/// Every key of the document, made once (looked up with a fast, non-keyed hash: the keys
/// are constants, not input).
static KEYS: LazyLock<HashMap<&'static str, Value>> = LazyLock::new(|| {
    [
        "aliases",
        "alternatives",
        "artifact",
        "artifact_name",
        "attestations",
        "build_config_uri",
        "build_type",
        "builder_id",
        "component_count",
        "components",
        "counts",
        "critical",
        "declared",
        "destination",
        "digest",
        "dry_run",
        "error",
        "expression",
        "fixed_version",
        "format",
        "found",
        "high",
        "id",
        "impact_statement",
        "installed_version",
        "issuer",
        "justification",
        "key_ids",
        "kind",
        "licence",
        "licence_index",
        "location",
        "low",
        "medium",
        "name",
        "origin",
        "package",
        "predicate_type",
        "predicate_types",
        "products",
        "provenance",
        "purl",
        "reason",
        "registry",
        "rejected",
        "repository",
        "request",
        "requested_by",
        "route",
        "run_invocation_uri",
        "sbom_format",
        "sboms",
        "scanner",
        "severity",
        "signatures",
        "signatures_found",
        "signed",
        "signer",
        "signers",
        "source",
        "source_commit",
        "source_ref",
        "source_repository",
        "source_repository_digest",
        "source_repository_ref",
        "source_repository_uri",
        "spec_version",
        "status",
        "subcomponents",
        "subject",
        "subject_digests",
        "suppressed_by",
        "suppressed_index",
        "tag",
        "terms",
        "timestamp",
        "title",
        "unknown",
        "verified",
        "verified_key_ids",
        "version",
        "vex",
        "vulnerabilities",
        "vulnerability",
        "vulnerability_index",
        "vulnerability_reports",
        "waivers",
    ]
    .into_iter()
    .map(|k| (k, Value::from(k)))
    .collect()
});

pub(super) fn key(k: &'static str) -> Value {
    KEYS.get(k).cloned().unwrap_or_else(|| Value::from(k))
}

pub(super) fn object<const N: usize>(entries: [(&'static str, Value); N]) -> Value {
    Value::from(
        entries
            .into_iter()
            .map(|(k, v)| (key(k), v))
            .collect::<BTreeMap<Value, Value>>(),
    )
}

pub(super) fn string(s: &str) -> Value {
    Value::from(s)
}

fn opt(s: &Option<String>) -> Value {
    s.as_deref().map_or(Value::Null, Value::from)
}

fn strings<S: AsRef<str>>(list: &[S]) -> Value {
    Value::from(
        list.iter()
            .map(|s| Value::from(s.as_ref()))
            .collect::<Vec<_>>(),
    )
}

pub(super) fn positions(list: &[usize]) -> Value {
    Value::from(list.iter().map(|p| Value::from(*p)).collect::<Vec<_>>())
}

fn serialised<T: serde::Serialize>(t: &T) -> Value {
    // Unit enums (statuses) only: their serde name is their text.
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(Value::from))
        .unwrap_or(Value::Undefined)
}

impl Input<'_> {
    /// The document as the engine's value; equal to parsing its JSON text.
    pub fn to_value(&self) -> Value {
        let mut shared = Shared::default();
        object([
            ("artifact", artifact(&self.artifact)),
            ("attestations", attestations(&self.attestations)),
            (
                "components",
                Value::from(
                    self.components
                        .iter()
                        .map(|c| shared.component(c))
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "licence_index",
                Value::from(
                    self.licence_index
                        .iter()
                        .map(|(t, p)| (string(t), positions(p)))
                        .collect::<BTreeMap<_, _>>(),
                ),
            ),
            (
                "provenance",
                Value::from(self.provenance.iter().map(provenance).collect::<Vec<_>>()),
            ),
            ("request", request(self.request)),
            (
                "sboms",
                Value::from(self.sboms.iter().map(sbom).collect::<Vec<_>>()),
            ),
            ("signatures", signatures(&self.signatures)),
            ("suppressed_index", positions(&self.suppressed_index)),
            (
                "vex",
                Value::from(self.vex.iter().map(vex).collect::<Vec<_>>()),
            ),
            (
                "vulnerabilities",
                Value::from(
                    self.vulnerabilities
                        .iter()
                        .map(|f| shared.finding(f))
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "vulnerability_index",
                Value::from(
                    self.vulnerability_index
                        .iter()
                        .map(|(s, p)| (string(s), positions(p)))
                        .collect::<BTreeMap<_, _>>(),
                ),
            ),
            (
                "vulnerability_reports",
                Value::from(
                    self.vulnerability_reports
                        .iter()
                        .map(report)
                        .collect::<Vec<_>>(),
                ),
            ),
            ("waivers", waivers(self.waivers)),
        ])
    }
}

/// Values built once per document and shared (a fast hash: the maps live for one document).
#[derive(Default)]
pub(super) struct Shared<'a> {
    /// Origins and the short strings findings repeat, by content.
    strings: HashMap<&'a str, Value>,
    origins: Vec<(Origin<'a>, Value)>,
    licences: HashMap<&'a str, Vec<(&'a portcullis_core::Licence, Value)>>,
    severities: HashMap<&'static str, Value>,
}

impl<'a> Shared<'a> {
    fn string(&mut self, s: &'a str) -> Value {
        self.strings
            .entry(s)
            .or_insert_with(|| Value::from(s))
            .clone()
    }

    fn origin(&mut self, o: &Origin<'a>) -> Value {
        if let Some((_, v)) = self.origins.iter().find(|(known, _)| same_origin(known, o)) {
            return v.clone();
        }
        let v = origin(o);
        self.origins.push((*o, v.clone()));
        v
    }

    pub(super) fn finding(&mut self, f: &Finding<'a>) -> Value {
        let severity = severity_name(f.severity);
        let severity = self
            .severities
            .entry(severity)
            .or_insert_with(|| Value::from(severity))
            .clone();
        object([
            ("aliases", strings(f.aliases)),
            ("fixed_version", opt(f.fixed_version)),
            ("id", string(f.id)),
            ("installed_version", self.string(f.installed_version)),
            ("origin", self.origin(&f.origin)),
            ("package", self.string(f.package)),
            ("purl", opt(f.purl)),
            ("scanner", self.string(f.scanner)),
            ("severity", severity),
            ("signed", Value::Bool(f.signed)),
            (
                "suppressed_by",
                f.suppressed_by.as_ref().map_or(Value::Null, suppressed),
            ),
            ("title", opt(f.title)),
        ])
    }

    pub(super) fn component(&mut self, c: &ComponentEntry<'a>) -> Value {
        let licence = match &c.licence {
            None => Value::Null,
            Some(l) => self.licence(l),
        };
        object([
            ("licence", licence),
            ("name", string(c.name)),
            ("origin", self.origin(&c.origin)),
            ("purl", opt(c.purl)),
            ("sbom_format", self.string(c.sbom_format)),
            ("signed", Value::Bool(c.signed)),
            ("version", opt(c.version)),
        ])
    }

    fn licence(&mut self, l: &LicenceView<'a>) -> Value {
        let bucket = self.licences.entry(l.declared).or_default();
        if let Some((_, v)) = bucket.iter().find(|(known, _)| *known == l.licence) {
            return v.clone();
        }
        let v = object([
            (
                "alternatives",
                Value::from(
                    l.alternatives
                        .iter()
                        .map(|a| strings(a))
                        .collect::<Vec<_>>(),
                ),
            ),
            ("declared", string(l.declared)),
            ("expression", opt(l.expression)),
            ("terms", strings(l.terms)),
            ("unknown", strings(l.unknown)),
        ]);
        bucket.push((l.licence, v.clone()));
        v
    }
}

fn same_origin(a: &Origin<'_>, b: &Origin<'_>) -> bool {
    match (a, b) {
        (Origin::Ci { format: x, .. }, Origin::Ci { format: y, .. }) => x == y,
        (
            Origin::Signed {
                key_ids: k1,
                predicate_type: p1,
                ..
            },
            Origin::Signed {
                key_ids: k2,
                predicate_type: p2,
                ..
            },
        ) => k1 == k2 && p1 == p2,
        _ => false,
    }
}

fn origin(o: &Origin<'_>) -> Value {
    match o {
        Origin::Ci { format, kind } => object([("format", string(format)), ("kind", string(kind))]),
        Origin::Signed {
            key_ids,
            kind,
            predicate_type,
        } => object([
            ("key_ids", strings(key_ids)),
            ("kind", string(kind)),
            ("predicate_type", string(predicate_type)),
        ]),
    }
}

fn suppressed(s: &Suppressed<'_>) -> Value {
    object([
        ("impact_statement", opt(s.impact_statement)),
        ("justification", opt(s.justification)),
        ("signed", Value::Bool(s.signed)),
        ("source", string(&s.source)),
        ("status", serialised(&s.status)),
    ])
}

pub(super) fn artifact(a: &Artifact<'_>) -> Value {
    object([
        ("digest", string(a.digest.as_str())),
        ("registry", string(a.registry)),
        ("repository", string(a.repository)),
        ("source", string(&a.source)),
    ])
}

pub(super) fn signatures(s: &Signatures<'_>) -> Value {
    object([
        ("error", opt(s.error)),
        ("signatures_found", Value::from(s.signatures_found)),
        (
            "signers",
            Value::from(s.signers.iter().map(signer).collect::<Vec<_>>()),
        ),
        ("status", serialised(&s.status)),
        ("verified_key_ids", strings(s.verified_key_ids)),
    ])
}

pub(super) fn attestations(a: &Attestations<'_>) -> Value {
    let rejected = a
        .rejected
        .iter()
        .map(|r| {
            object([
                ("location", string(&r.location)),
                ("reason", string(&r.reason)),
            ])
        })
        .collect::<Vec<_>>();
    object([
        ("error", opt(a.error)),
        ("found", Value::from(a.found)),
        ("predicate_types", strings(a.predicate_types)),
        ("rejected", Value::from(rejected)),
        (
            "signers",
            Value::from(
                a.signers
                    .iter()
                    .map(|by| {
                        object([
                            ("predicate_type", string(by.predicate_type)),
                            ("signer", signer(&by.signer)),
                        ])
                    })
                    .collect::<Vec<_>>(),
            ),
        ),
        ("verified", Value::from(a.verified)),
    ])
}

fn signer(s: &SignerView<'_>) -> Value {
    object([
        ("build_config_uri", opt(s.build_config_uri)),
        ("issuer", opt(s.issuer)),
        ("run_invocation_uri", opt(s.run_invocation_uri)),
        ("source_repository_digest", opt(s.source_repository_digest)),
        ("source_repository_ref", opt(s.source_repository_ref)),
        ("source_repository_uri", opt(s.source_repository_uri)),
        ("subject", string(s.subject)),
    ])
}

pub(super) fn report(r: &ReportEntry<'_>) -> Value {
    object([
        ("artifact_name", opt(r.artifact_name)),
        (
            "counts",
            object([
                ("critical", Value::from(r.counts.critical)),
                ("high", Value::from(r.counts.high)),
                ("low", Value::from(r.counts.low)),
                ("medium", Value::from(r.counts.medium)),
            ]),
        ),
        ("origin", origin(&r.origin)),
        ("scanner", string(r.scanner)),
        ("signed", Value::Bool(r.signed)),
        ("subject_digests", digests(r.subject_digests)),
    ])
}

fn digests(list: &[portcullis_core::Digest]) -> Value {
    Value::from(list.iter().map(|d| string(d.as_str())).collect::<Vec<_>>())
}

pub(super) fn sbom(s: &SbomEntry<'_>) -> Value {
    object([
        ("component_count", Value::from(s.component_count)),
        ("format", string(s.format)),
        ("origin", origin(&s.origin)),
        ("signed", Value::Bool(s.signed)),
        ("spec_version", string(s.spec_version)),
        ("subject_digests", digests(s.subject_digests)),
    ])
}

pub(super) fn provenance(p: &ProvenanceEntry<'_>) -> Value {
    object([
        ("build_type", string(p.build_type)),
        ("builder_id", string(p.builder_id)),
        ("origin", origin(&p.origin)),
        ("predicate_type", string(p.predicate_type)),
        ("signed", Value::Bool(p.signed)),
        ("source_commit", opt(p.source_commit)),
        ("source_ref", opt(p.source_ref)),
        ("source_repository", opt(p.source_repository)),
        ("subject_digests", digests(p.subject_digests)),
    ])
}

pub(super) fn vex(s: &VexEntry<'_>) -> Value {
    let products = s
        .products
        .iter()
        .map(|p| {
            object([
                ("id", string(&p.id)),
                ("subcomponents", strings(&p.subcomponents)),
            ])
        })
        .collect::<Vec<_>>();
    object([
        ("aliases", strings(s.aliases)),
        ("justification", opt(s.justification)),
        ("origin", origin(&s.origin)),
        ("products", Value::from(products)),
        ("signed", Value::Bool(s.signed)),
        ("status", serialised(&s.status)),
        ("timestamp", opt(s.timestamp)),
        ("vulnerability", string(s.vulnerability)),
    ])
}

pub(super) fn request(r: &RequestInfo) -> Value {
    object([
        ("destination", string(&r.destination)),
        ("dry_run", Value::Bool(r.dry_run)),
        ("kind", string(r.kind.as_str())),
        ("requested_by", string(&r.requested_by)),
        ("route", string(&r.route)),
        ("tag", opt(&r.tag)),
    ])
}

/// `waivers`: a handful of small objects, built through their JSON tree.
pub(super) fn waivers(list: &[WaiverEntry]) -> Value {
    serde_json::to_value(list).map_or(Value::Undefined, |v| crate::input_value(&v))
}
