//! The encoding the audit chain's hashes cover, pinned.

use super::*;

/// The keyed and legacy hashes cover the same bytes whatever the field types are: the
/// record of a typed event is pinned here byte for byte.
#[test]
fn the_record_of_a_typed_event_keeps_its_v1_encoding() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let at = DateTime::parse_from_rfc3339("2026-11-30T12:00:00.123456Z")
        .unwrap()
        .with_timezone(&Utc);
    let event = AuditEvent {
        seq: 7,
        at,
        actor: "alice".to_owned(),
        action: AuditAction::VoteRefused,
        promotion_id: Some(Uuid::nil()),
        digest: Some(digest.parse().unwrap()),
        details: json!({"code": "self_approval"}),
        request_id: None,
        prev_hash: GENESIS.to_owned(),
        hash: String::new(),
        key_id: None,
    };
    let expected = format!(
        "{{\"action\":\"vote_refused\",\"actor\":\"alice\",\"at\":\"2026-11-30T12:00:00.123456Z\",\
         \"details\":{{\"code\":\"self_approval\"}},\"digest\":\"{digest}\",\
         \"prev_hash\":\"{GENESIS}\",\"promotion_id\":\"00000000-0000-0000-0000-000000000000\",\
         \"seq\":7,\"type\":\"portcullis.audit.event\",\"v\":1}}"
    );
    assert_eq!(String::from_utf8(event.record()).unwrap(), expected);
    assert_eq!(
        event.legacy_hash(),
        "sha256:".to_owned()
            + &hex::encode(Sha256::digest(
                format!(
                    "{GENESIS}\u{1f}7\u{1f}2026-11-30T12:00:00.123456Z\u{1f}alice\u{1f}vote_refused\u{1f}\
                     00000000-0000-0000-0000-000000000000\u{1f}{digest}\u{1f}{{\"code\":\"self_approval\"}}\u{1f}"
                )
                .as_bytes()
            ))
    );
    let none = AuditEvent {
        digest: None,
        ..event
    };
    assert!(
        String::from_utf8(none.record())
            .unwrap()
            .contains("\"digest\":null")
    );
}
