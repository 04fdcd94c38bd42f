//! in-toto statements (v0.1 and v1) and the predicates we understand: SLSA provenance, cosign
//! vulnerability scans (Trivy or Grype inside), CycloneDX, SPDX and OpenVEX. A statement only
//! gets here after its DSSE signature verified; this module checks that it is about the
//! promoted digest and turns the predicate into evidence items.

use portcullis_core::{Digest, EvidenceFormat, EvidenceItems, EvidenceOrigin};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::provenance::{SLSA_PROVENANCE_V1, SLSA_PROVENANCE_V02, parse_provenance};

/// The statement `_type`s we accept.
const STATEMENT_TYPES: &[&str] = &[
    "https://in-toto.io/Statement/v0.1",
    "https://in-toto.io/Statement/v1",
];
/// Cosign's vulnerability scan predicate.
pub const COSIGN_VULN_V1: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// A Portcullis gate's promotion attestation: another gate passed this digest.
pub const PORTCULLIS_PROMOTION_V1: &str = "https://portcullis.dev/promotion/v1";
/// More subjects than this in one statement is not a statement we accept.
const MAX_SUBJECTS: usize = 1024;

/// A decoded in-toto statement, borrowing its predicate's JSON text from the payload: the
/// predicate is parsed once, by the parser of its type.
#[derive(Debug, Clone)]
pub(crate) struct Statement<'a> {
    /// The subjects' sha256/sha512 digests, in order.
    pub subject_digests: Vec<Digest>,
    /// The predicate type.
    pub predicate_type: String,
    /// The predicate's JSON text (`null` when absent).
    pub predicate: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatement<'a> {
    #[serde(rename = "_type")]
    type_: String,
    #[serde(default)]
    subject: Vec<RawSubject>,
    predicate_type: String,
    #[serde(borrow)]
    predicate: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawSubject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// A cosign vulnerability predicate, down to `scanner.result`.
/// What a downstream gate reads of an upstream gate's promotion attestation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GatePromotion {
    verification_result: String,
}

#[derive(Deserialize)]
struct CosignVuln<'a> {
    #[serde(borrow)]
    scanner: Option<Scanner<'a>>,
}

#[derive(Deserialize)]
struct Scanner<'a> {
    #[serde(borrow)]
    result: Option<&'a RawValue>,
}

impl<'a> Statement<'a> {
    /// Decodes a DSSE payload as an in-toto statement.
    pub fn decode(payload: &'a [u8]) -> Result<Self, String> {
        let raw: RawStatement<'a> = serde_json::from_slice(payload)
            .map_err(|e| format!("payload is not an in-toto statement: {e}"))?;
        if !STATEMENT_TYPES.contains(&raw.type_.as_str()) {
            return Err(format!("unknown statement _type {:?}", raw.type_));
        }
        if raw.subject.len() > MAX_SUBJECTS {
            return Err(format!(
                "statement has {} subjects, more than {MAX_SUBJECTS}",
                raw.subject.len()
            ));
        }
        let mut subject_digests = Vec::new();
        for (i, subject) in raw.subject.iter().enumerate() {
            for (algorithm, hex) in &subject.digest {
                if algorithm != "sha256" && algorithm != "sha512" {
                    continue;
                }
                let digest = format!("{algorithm}:{hex}").parse().map_err(|_| {
                    format!("subject[{i}].digest.{algorithm} is not a valid digest")
                })?;
                subject_digests.push(digest);
            }
        }
        Ok(Self {
            subject_digests,
            predicate_type: raw.predicate_type,
            predicate: raw.predicate.unwrap_or(RawValue::NULL),
        })
    }

    /// Checks that the statement is about `digest`.
    pub fn check_subject(&self, digest: &Digest) -> Result<(), String> {
        if self.subject_digests.contains(digest) {
            return Ok(());
        }
        let named: Vec<&str> = self.subject_digests.iter().map(Digest::as_str).collect();
        Err(format!(
            "subject does not name the promoted digest {digest} (names [{}])",
            named.join(", ")
        ))
    }

    /// Parses the predicate into evidence items with `origin`; the error is the reason to
    /// reject the attestation.
    pub fn items(&self, origin: EvidenceOrigin) -> Result<EvidenceItems, String> {
        let pt = self.predicate_type.as_str();
        let fail = |e: crate::Error| format!("predicate {pt}: {e}");
        let format = match pt {
            SLSA_PROVENANCE_V02 | SLSA_PROVENANCE_V1 => {
                let provenance = parse_provenance(
                    pt,
                    self.predicate.get(),
                    self.subject_digests.clone(),
                    origin,
                )
                .map_err(fail)?;
                return Ok(EvidenceItems {
                    provenance: vec![provenance],
                    ..EvidenceItems::default()
                });
            }
            PORTCULLIS_PROMOTION_V1 => {
                // Accepted (it counts in `predicate_types` and `signers`) only when the
                // upstream gate passed the digest; a break-glass promotion says FAILED.
                let p = serde_json::from_str::<GatePromotion>(self.predicate.get())
                    .map_err(|e| format!("predicate {pt}: {e}"))?;
                if p.verification_result != "PASSED" {
                    return Err(format!(
                        "predicate {pt}: verificationResult is {:?}, not PASSED (promoted by break-glass)",
                        p.verification_result
                    ));
                }
                return Ok(EvidenceItems::default());
            }
            COSIGN_VULN_V1 => {
                let result = serde_json::from_str::<CosignVuln>(self.predicate.get())
                    .ok()
                    .and_then(|p| p.scanner)
                    .and_then(|s| s.result)
                    .ok_or_else(|| format!("predicate {pt}: no scanner.result"))?;
                let format = scan_format(result).ok_or_else(|| {
                    format!("predicate {pt}: scanner.result is neither a Trivy nor a Grype report")
                })?;
                return crate::parse_with_origin(format, result.get(), origin).map_err(fail);
            }
            _ if is_versioned(pt, "https://cyclonedx.org/bom") => EvidenceFormat::CycloneDxJson,
            _ if is_versioned(pt, "https://spdx.dev/Document") => EvidenceFormat::SpdxJson,
            _ if is_versioned(pt, "https://openvex.dev/ns") => EvidenceFormat::OpenVex,
            _ => return Err(format!("unknown predicate type {pt:?}")),
        };
        crate::parse_with_origin(format, self.predicate.get(), origin).map_err(fail)
    }
}

/// `base` itself or `base/v…` (`https://cyclonedx.org/bom/v1.5`, `https://spdx.dev/Document/v2.3`).
fn is_versioned(predicate_type: &str, base: &str) -> bool {
    predicate_type == base
        || predicate_type
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix("/v"))
            .is_some_and(|v| !v.is_empty())
}

/// Which keys a scanner result has, whatever their values.
#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "SchemaVersion", default, deserialize_with = "present")]
    schema_version: bool,
    #[serde(rename = "Results", default, deserialize_with = "present")]
    results: bool,
    #[serde(default, deserialize_with = "present")]
    matches: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// Which scanner wrote a cosign vuln predicate's `scanner.result`, by its shape.
fn scan_format(result: &RawValue) -> Option<EvidenceFormat> {
    let shape: Shape = serde_json::from_str(result.get()).ok()?;
    if shape.schema_version && shape.results {
        Some(EvidenceFormat::TrivyJson)
    } else if shape.matches {
        Some(EvidenceFormat::GrypeJson)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn statement(type_: &str, subject: Value, predicate_type: &str) -> Vec<u8> {
        json!({"_type": type_, "subject": subject, "predicateType": predicate_type, "predicate": {}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn decodes_subjects_and_checks_the_promoted_digest() {
        let d = Digest::sha256_of(b"a");
        let other = Digest::sha256_of(b"b");
        let raw = statement(
            STATEMENT_TYPES[1],
            json!([{"name": "x", "digest": {"sha256": d.hex(), "gitCommit": "abc"}}]),
            "p",
        );
        let s = Statement::decode(&raw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.subject_digests, vec![d.clone()]);
        assert!(s.check_subject(&d).is_ok());
        let err = s.check_subject(&other).err().unwrap_or_default();
        assert!(err.starts_with("subject does not name"), "{err}");
    }

    #[test]
    fn rejects_unknown_statement_types_and_bad_digests() {
        let bad_type = statement("https://example/Statement", json!([]), "p");
        let err = Statement::decode(&bad_type).err().unwrap_or_default();
        assert!(err.contains("_type"), "{err}");
        let bad_digest = statement(
            STATEMENT_TYPES[0],
            json!([{"digest": {"sha256": "zz"}}]),
            "p",
        );
        let err = Statement::decode(&bad_digest).err().unwrap_or_default();
        assert!(err.contains("subject[0].digest.sha256"), "{err}");
        let err = Statement::decode(b"{}").err().unwrap_or_default();
        assert!(err.contains("not an in-toto statement"), "{err}");
    }

    #[test]
    fn unknown_predicate_types_are_rejected() {
        let raw = statement(
            STATEMENT_TYPES[1],
            json!([]),
            "https://example.com/custom/v1",
        );
        let s = Statement::decode(&raw).unwrap_or_else(|e| panic!("{e}"));
        let err = s
            .items(EvidenceOrigin::ci(EvidenceFormat::OpenVex))
            .err()
            .unwrap_or_default();
        assert!(err.contains("unknown predicate type"), "{err}");
    }

    #[test]
    fn a_gate_promotion_counts_only_when_it_passed() {
        let with = |result: &str| {
            let raw = json!({"_type": STATEMENT_TYPES[1], "subject": [],
                "predicateType": PORTCULLIS_PROMOTION_V1,
                "predicate": {"verificationResult": result, "breakGlass": null}})
            .to_string();
            let s = Statement::decode(raw.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            s.items(EvidenceOrigin::ci(EvidenceFormat::OpenVex))
        };
        let passed = with("PASSED").unwrap_or_else(|e| panic!("{e}"));
        assert!(passed.is_empty());
        let err = with("FAILED").err().unwrap_or_default();
        assert!(
            err.contains("not PASSED (promoted by break-glass)"),
            "{err}"
        );
        let raw = json!({"_type": STATEMENT_TYPES[1], "subject": [],
            "predicateType": PORTCULLIS_PROMOTION_V1, "predicate": {}})
        .to_string();
        let s = Statement::decode(raw.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let err = s
            .items(EvidenceOrigin::ci(EvidenceFormat::OpenVex))
            .err()
            .unwrap_or_default();
        assert!(err.contains("verificationResult"), "{err}");
    }

    #[test]
    fn recognises_versioned_predicate_types_and_scanner_shapes() {
        assert!(is_versioned(
            "https://cyclonedx.org/bom",
            "https://cyclonedx.org/bom"
        ));
        assert!(is_versioned(
            "https://cyclonedx.org/bom/v1.5",
            "https://cyclonedx.org/bom"
        ));
        assert!(!is_versioned(
            "https://cyclonedx.org/bomb",
            "https://cyclonedx.org/bom"
        ));
        assert!(!is_versioned(
            "https://cyclonedx.org/bom/v",
            "https://cyclonedx.org/bom"
        ));
        let shape = |v: Value| scan_format(&serde_json::value::to_raw_value(&v).unwrap());
        assert_eq!(
            shape(json!({"SchemaVersion": 2, "Results": null})),
            Some(EvidenceFormat::TrivyJson)
        );
        assert_eq!(
            shape(json!({"matches": []})),
            Some(EvidenceFormat::GrypeJson)
        );
        assert_eq!(shape(json!({"Results": []})), None);
        assert_eq!(shape(json!("a string")), None);
    }
}
