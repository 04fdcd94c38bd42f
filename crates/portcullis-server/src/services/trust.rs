//! The gate's signed records about promotions. Rows alone prove nothing: the evaluation,
//! every vote and the decision statement that releases a copy are signed with the gate key
//! as they are made, and the copier copies only what a valid statement covers.
//!
//! Every record is built field by field (`portcullis_gate::canonical`), with a version, so
//! what was signed can be rebuilt and checked whatever the Rust types become.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use portcullis_core::{GroupName, PromotionKind, RequiredApprovals, Tag, Verdict};
use portcullis_gate::{Envelope, GateKey, KeyRing, MacKey, MacPurpose, SignedRecord};
use portcullis_store::{ApprovalRecord, PromotionRecord};
use serde_json::{Value, json};

/// Payload type of a signed evaluation.
pub const EVALUATION_TYPE: &str = "application/vnd.portcullis.evaluation.v1+json";
/// Payload type of a signed vote.
pub const VOTE_TYPE: &str = "application/vnd.portcullis.vote.v1+json";
/// Payload type of a decision statement.
pub const DECISION_TYPE: &str = "application/vnd.portcullis.decision.v1+json";

/// Why a signed record does not hold.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// A record that must exist is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A signature or envelope does not verify.
    #[error("{what} does not verify: {source}")]
    Signature {
        /// Which record.
        what: &'static str,
        /// Why.
        #[source]
        source: portcullis_gate::Error,
    },
    /// A signed field differs from the row.
    #[error("{what}: the signed {field} is {signed}, the row says {row}")]
    Mismatch {
        /// Which record.
        what: &'static str,
        /// Which field.
        field: &'static str,
        /// The signed value.
        signed: String,
        /// The stored value.
        row: String,
    },
    /// The signed votes do not meet the signed requirement.
    #[error("the signed votes do not meet the requirement: {0}")]
    Votes(String),
    /// The statement was already spent by a finished copy.
    #[error("decision statement {0} was already used by a finished copy")]
    Replayed(String),
}

/// The gate's keys: the signing ring and the derived MAC keys.
#[derive(Debug)]
pub struct GateKeys {
    ring: KeyRing,
    token_mac: MacKey,
    audit_mac: MacKey,
}

impl GateKeys {
    /// The gate over `key`, verifying also with `retired` public keys.
    pub fn new(
        key: GateKey,
        retired: Vec<portcullis_gate::PublicKey>,
    ) -> portcullis_gate::Result<Self> {
        let token_mac = key.mac_key(MacPurpose::ApiTokens)?;
        let audit_mac = key.mac_key(MacPurpose::AuditEvents)?;
        Ok(Self {
            ring: KeyRing::new(key, retired),
            token_mac,
            audit_mac,
        })
    }

    /// The signing ring.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The key audit events are MACed with.
    pub fn audit_mac(&self) -> &MacKey {
        &self.audit_mac
    }

    /// The keyed hash of an API token secret.
    pub fn token_hash(&self, secret: &str) -> Vec<u8> {
        self.token_mac.sign(secret.as_bytes()).to_vec()
    }

    fn sign(&self, payload_type: &str, record: &Value) -> portcullis_gate::Result<Value> {
        Ok(Envelope::sign(self.ring.current(), payload_type, record)?.to_value())
    }

    fn open(
        &self,
        what: &'static str,
        payload_type: &str,
        envelope: Option<&Value>,
    ) -> Result<SignedRecord, IntegrityError> {
        let envelope = envelope.ok_or(IntegrityError::Missing(what))?;
        Envelope::from_value(envelope)
            .and_then(|e| e.verify(&self.ring, payload_type))
            .map_err(|source| IntegrityError::Signature { what, source })
    }
}

/// RFC 3339 with microseconds, as every record writes times.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The SHA-256 of the evidence document's canonical JSON: what approvers were shown.
pub fn evidence_hash(evidence: &Value) -> String {
    portcullis_gate::sha256_hex(&portcullis_gate::canonical::to_vec(evidence))
}

/// The requirement as signed records carry it: the single form stays `{count, group}`, as
/// records written before several groups existed have it; several groups are a list.
fn requirement(r: Option<&RequiredApprovals>) -> Value {
    r.map_or(Value::Null, |r| {
        serde_json::to_value(r).unwrap_or(Value::Null)
    })
}

/// The fields that identify a promotion, shared by its evaluation, votes and statement.
/// Each is written as the text the `v1` records have always held, whatever its Rust type.
fn identity(p: &PromotionRecord) -> Value {
    json!({
        "promotion_id": p.id.to_string(),
        "digest": p.digest.as_str(),
        "source": p.source.to_string(),
        "destination": p.destination_name(),
        "tag": p.tag.as_ref().map(|t| t.as_str()),
        "route": p.route,
        "requested_by": p.requested_by,
        "policy_digest": p.policy_digest.as_str(),
    })
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
        b.extend(e);
    }
    base
}

/// Checks that every identity field of `signed` equals the row's.
fn same_identity(
    what: &'static str,
    signed: &Value,
    p: &PromotionRecord,
) -> Result<(), IntegrityError> {
    let row = identity(p);
    for field in [
        "promotion_id",
        "digest",
        "source",
        "destination",
        "tag",
        "route",
        "requested_by",
        "policy_digest",
    ] {
        if signed.get(field) != row.get(field) {
            return Err(IntegrityError::Mismatch {
                what,
                field,
                signed: signed.get(field).map_or("absent".into(), Value::to_string),
                row: row.get(field).map_or("absent".into(), Value::to_string),
            });
        }
    }
    Ok(())
}

/// What a valid signed evaluation says.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Whether the policy allowed it.
    pub allow: bool,
    /// The approvals it requires.
    pub required: Option<RequiredApprovals>,
    /// The evidence hash judged.
    pub evidence_hash: String,
}

/// What makes an evaluation replayable, signed with it: which decision it records, the
/// SHA-256 of its exact input text and the time `time.now_ns()` answered. Records signed
/// before decisions were replayable lack these fields and still verify.
#[derive(Debug, Clone, Copy)]
pub struct Judged<'a> {
    /// The decision row's id.
    pub decision_id: uuid::Uuid,
    /// SHA-256 of the input document's JSON text.
    pub input_hash: &'a portcullis_core::Digest,
    /// The policy's clock, ns since the epoch.
    pub now_ns: i64,
}

impl GateKeys {
    /// Signs the evaluation of a promotion as judged now: the row's verdict, bound to the
    /// decision it records (`judged`).
    pub fn sign_evaluation(
        &self,
        p: &PromotionRecord,
        judged: &Judged<'_>,
        at: DateTime<Utc>,
    ) -> portcullis_gate::Result<Value> {
        let record = merge(
            identity(p),
            json!({
                "v": 1,
                "type": "evaluation",
                "allow": p.decision.allow,
                "required_approvals": requirement(p.decision.required_approvals.as_ref()),
                "evidence_hash": evidence_hash(&p.evidence),
                "decision_id": judged.decision_id.to_string(),
                "input_hash": judged.input_hash.as_str(),
                // A string: ns since the epoch do not fit a JSON number's exact range.
                "now_ns": judged.now_ns.to_string(),
                "issued_at": timestamp(at),
            }),
        );
        self.sign(EVALUATION_TYPE, &record)
    }

    /// The record of a signed evaluation whose signature verifies (by this gate's key or a
    /// retired one), without comparing it with any row: the replay compares it with the
    /// decision row itself.
    pub fn open_evaluation(&self, envelope: Option<&Value>) -> Result<Value, IntegrityError> {
        Ok(self
            .open("the signed evaluation", EVALUATION_TYPE, envelope)?
            .record)
    }

    /// Verifies a promotion's signed evaluation against its row.
    pub fn verify_evaluation(
        &self,
        p: &PromotionRecord,
        envelope: Option<&Value>,
    ) -> Result<Evaluation, IntegrityError> {
        const WHAT: &str = "the signed evaluation";
        let signed = self.open(WHAT, EVALUATION_TYPE, envelope)?.record;
        same_identity(WHAT, &signed, p)?;
        let allow = signed.get("allow") == Some(&Value::Bool(true));
        let required_signed = signed
            .get("required_approvals")
            .cloned()
            .unwrap_or_default();
        let required_row = requirement(p.decision.required_approvals.as_ref());
        let evidence = evidence_hash(&p.evidence);
        let checks = [
            ("allow", json!(allow), json!(p.decision.allow)),
            ("required_approvals", required_signed, required_row),
            (
                "evidence_hash",
                signed.get("evidence_hash").cloned().unwrap_or_default(),
                json!(evidence),
            ),
        ];
        for (field, s, r) in checks {
            if s != r {
                return Err(IntegrityError::Mismatch {
                    what: WHAT,
                    field,
                    signed: s.to_string(),
                    row: r.to_string(),
                });
            }
        }
        Ok(Evaluation {
            allow,
            required: p.decision.required_approvals.clone(),
            evidence_hash: evidence,
        })
    }

    /// Signs a vote as it is cast.
    pub fn sign_vote(
        &self,
        p: &PromotionRecord,
        vote: &ApprovalRecord,
        groups: &[GroupName],
        evidence_hash: &str,
    ) -> portcullis_gate::Result<Value> {
        let record = merge(
            identity(p),
            json!({
                "v": 1,
                "type": "vote",
                "approver": vote.approver,
                "groups": groups.iter().map(GroupName::as_str).collect::<Vec<_>>(),
                "verdict": vote.verdict.as_str(),
                "comment_sha256": portcullis_gate::sha256_hex(vote.comment.as_bytes()),
                "evidence_hash": evidence_hash,
                "at": timestamp(vote.at),
            }),
        );
        self.sign(VOTE_TYPE, &record)
    }

    /// The votes whose signatures verify and match the row and the promotion; a vote whose
    /// record was altered or inserted by hand is an integrity error, never silently counted.
    pub fn verify_votes(
        &self,
        p: &PromotionRecord,
        votes: &[ApprovalRecord],
        evidence_hash: &str,
    ) -> Result<Vec<SignedRecord>, IntegrityError> {
        const WHAT: &str = "a signed vote";
        let mut out = Vec::new();
        for v in votes {
            let signed = self.open(WHAT, VOTE_TYPE, v.envelope.as_ref())?;
            same_identity(WHAT, &signed.record, p)?;
            let r = &signed.record;
            let checks = [
                ("approver", json!(v.approver)),
                ("verdict", json!(v.verdict.as_str())),
                (
                    "comment_sha256",
                    json!(portcullis_gate::sha256_hex(v.comment.as_bytes())),
                ),
                ("at", json!(timestamp(v.at))),
                ("evidence_hash", json!(evidence_hash)),
            ];
            for (field, row) in checks {
                if r.get(field) != Some(&row) {
                    return Err(IntegrityError::Mismatch {
                        what: WHAT,
                        field,
                        signed: r.get(field).map_or("absent".into(), Value::to_string),
                        row: row.to_string(),
                    });
                }
            }
            out.push(signed);
        }
        Ok(out)
    }

    /// Signs the decision statement that releases a copy; its `kind` is the row's: a
    /// `rollback` statement releases only a channel tag write.
    pub fn sign_statement(
        &self,
        p: &PromotionRecord,
        release: &Release,
        votes: &[SignedRecord],
        evidence_hash: &str,
        at: DateTime<Utc>,
    ) -> portcullis_gate::Result<Value> {
        let record = merge(
            identity(p),
            json!({
                "v": 1,
                "type": "decision",
                "kind": p.kind.as_str(),
                "platforms": release.platforms,
                "allow_tag_overwrite": release.allow_tag_overwrite,
                "required_approvals": requirement(p.decision.required_approvals.as_ref()),
                "votes": votes.iter().map(|v| v.envelope.to_value()).collect::<Vec<_>>(),
                "evidence_hash": evidence_hash,
                "issued_at": timestamp(at),
            }),
        );
        self.sign(DECISION_TYPE, &record)
    }

    /// Signs the decision statement of a break-glass: `actor` (not the requester) promotes
    /// despite the policy's deny or missing approvals, for `justification`. It carries no
    /// votes; the copier accepts it like a promotion statement.
    pub fn sign_break_glass(
        &self,
        p: &PromotionRecord,
        release: &Release,
        actor: &str,
        justification: &str,
        at: DateTime<Utc>,
    ) -> portcullis_gate::Result<Value> {
        let record = merge(
            identity(p),
            json!({
                "v": 1,
                "type": "decision",
                "kind": "break_glass",
                "platforms": release.platforms,
                "allow_tag_overwrite": release.allow_tag_overwrite,
                "actor": actor,
                "justification": justification,
                "policy_allowed": p.decision.allow,
                "issued_at": timestamp(at),
            }),
        );
        self.sign(DECISION_TYPE, &record)
    }

    /// Verifies the decision statement of a `promoting` row: the gate signed it, every field
    /// matches the row, and its signed votes meet its requirement. Returns what the copy may
    /// do and the statement's digest (its identity for the spent check).
    pub fn verify_statement(
        &self,
        p: &PromotionRecord,
        envelope: Option<&Value>,
    ) -> Result<(Release, String), IntegrityError> {
        const WHAT: &str = "the decision statement";
        let signed = self.open(WHAT, DECISION_TYPE, envelope)?;
        let r = &signed.record;
        same_identity(WHAT, r, p)?;
        let kind = r.get("kind").and_then(Value::as_str);
        // A rollback row is released only by a rollback (or break-glass) statement, and a
        // rollback statement releases only a rollback row: a promotion statement copies from
        // the source, a rollback one only moves a tag. The copier acts on the row's kind.
        if kind != Some("break_glass") && kind != Some(p.kind.as_str()) {
            return Err(IntegrityError::Mismatch {
                what: WHAT,
                field: "kind",
                signed: format!("{kind:?}"),
                row: p.kind.to_string(),
            });
        }
        match kind {
            Some("promotion" | "rollback") => self.check_promotion_statement(p, r)?,
            Some("break_glass") => {
                let actor = r.get("actor").and_then(Value::as_str).unwrap_or_default();
                let why = r
                    .get("justification")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if actor.is_empty() || why.trim().is_empty() {
                    return Err(IntegrityError::Votes(
                        "a break-glass statement without actor or justification".into(),
                    ));
                }
                if actor.to_lowercase() == p.requested_by.to_lowercase() {
                    return Err(IntegrityError::Votes(
                        "the requester broke the glass on their own promotion".into(),
                    ));
                }
            }
            other => {
                return Err(IntegrityError::Votes(format!(
                    "statement kind {other:?} is neither a promotion, a rollback nor a break-glass"
                )));
            }
        }
        let release = Release {
            platforms: serde_json::from_value(r.get("platforms").cloned().unwrap_or_default())
                .map_err(|e| IntegrityError::Votes(format!("platforms: {e}")))?,
            allow_tag_overwrite: r.get("allow_tag_overwrite") == Some(&Value::Bool(true)),
            kind: p.kind,
            record: r.clone(),
            statement_digest: signed.digest.clone(),
        };
        Ok((release, signed.digest))
    }

    /// A promotion statement's votes meet its requirement.
    fn check_promotion_statement(
        &self,
        p: &PromotionRecord,
        r: &Value,
    ) -> Result<(), IntegrityError> {
        let required: Option<RequiredApprovals> =
            serde_json::from_value(r.get("required_approvals").cloned().unwrap_or_default())
                .map_err(|e| IntegrityError::Votes(format!("requirement: {e}")))?;
        let evidence_hash = r
            .get("evidence_hash")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let votes = r
            .get("votes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        self.check_signed_votes(p, &votes, required.as_ref(), evidence_hash)
    }

    /// The statement's votes: each signed by the gate for this promotion and evidence, from
    /// distinct approvers who are not the requester and hold the group; no veto; enough.
    fn check_signed_votes(
        &self,
        p: &PromotionRecord,
        votes: &[Value],
        required: Option<&RequiredApprovals>,
        evidence_hash: &str,
    ) -> Result<(), IntegrityError> {
        let required = required.ok_or_else(|| {
            IntegrityError::Votes("the statement names no approval requirement".into())
        })?;
        let mut approvers: BTreeMap<String, Vec<GroupName>> = BTreeMap::new();
        for v in votes {
            let signed = self.open("a counted vote", VOTE_TYPE, Some(v))?.record;
            same_identity("a counted vote", &signed, p)?;
            let field = |k: &str| signed.get(k).and_then(Value::as_str).unwrap_or_default();
            if field("evidence_hash") != evidence_hash {
                return Err(IntegrityError::Votes(
                    "a vote was cast on other evidence".into(),
                ));
            }
            if field("verdict") != Verdict::Approve.as_str() {
                return Err(IntegrityError::Votes(
                    "a counted vote is a rejection".into(),
                ));
            }
            let approver = field("approver").to_lowercase();
            if approver == p.requested_by.to_lowercase() {
                return Err(IntegrityError::Votes("the requester's own vote".into()));
            }
            let groups = signed_groups(&signed);
            if !required.admits(&groups) {
                return Err(IntegrityError::Votes(format!(
                    "{approver} held none of the required groups"
                )));
            }
            approvers.insert(approver, groups);
        }
        let held: Vec<&[GroupName]> = approvers.values().map(Vec::as_slice).collect();
        let filled = required.filled(&held);
        if filled < required.total() {
            return Err(IntegrityError::Votes(format!(
                "{} distinct approvers fill {filled} of {} required approvals",
                approvers.len(),
                required.total()
            )));
        }
        Ok(())
    }
}

/// The groups a signed vote says its approver held.
pub fn signed_groups(vote: &Value) -> Vec<GroupName> {
    vote.get("groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .filter_map(|g| g.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// What a decision statement lets the copier do beyond the row: the route's rules as they
/// were when the promotion was released.
#[derive(Debug, Clone, Default)]
pub struct Release {
    /// The platform subset to copy, if any.
    pub platforms: Option<Vec<String>>,
    /// Whether the production tag may be moved.
    pub allow_tag_overwrite: bool,
    /// What the copier does: copy the image, or (a rollback) only write the tag.
    pub kind: PromotionKind,
    /// The verified statement's record (`Null` before a statement exists): what the
    /// promotion attestation is built from.
    pub record: Value,
    /// The statement's digest (`sha256:` of its canonical payload).
    pub statement_digest: String,
}

impl Release {
    /// The rules of `route` for a promotion to `tag`: its platform subset, and whether the
    /// tag may move (a channel tag always may).
    pub fn for_route(route: Option<&crate::config::Route>, tag: Option<&Tag>) -> Self {
        Self {
            platforms: route.and_then(|r| r.platform_strings()),
            allow_tag_overwrite: route.is_some_and(|r| r.may_move(tag)),
            kind: PromotionKind::Promotion,
            record: Value::Null,
            statement_digest: String::new(),
        }
    }
}
