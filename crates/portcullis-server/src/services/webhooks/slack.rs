//! The Slack-compatible body of a delivery (`format: slack`): an incoming-webhook message
//! with a `text` line (what notifications show) and the same line as a `mrkdwn` section,
//! which Slack and the chat tools that take its format (Mattermost, Rocket.Chat) render.
//! Every value that came from a request (source, tag, requester, comments, justifications)
//! is escaped as Slack asks (`&`, `<`, `>`), so a tag cannot mention `<!channel>` or forge a
//! link.

use portcullis_store::DueDelivery;
use serde_json::{Value, json};

/// The message for `d`; `ui` is the approver page's base URL (`ui.public_url`), when known,
/// for a link to the promotion.
pub fn message(d: &DueDelivery, ui: Option<&str>) -> Vec<u8> {
    let line = summary(d, ui);
    let body = json!({
        "text": line,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": line}}],
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Slack's escaping of text that is not markup.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn field<'a>(data: &'a Value, key: &str) -> Option<&'a str> {
    data.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `` `text` `` escaped, or `?` when missing.
fn code(text: Option<&str>) -> String {
    format!("`{}`", escape(text.unwrap_or("?")).replace('`', "'"))
}

fn summary(d: &DueDelivery, ui: Option<&str>) -> String {
    let data = &d.data;
    let (icon, what) = match d.event_type.as_str() {
        "requested" => (":inbox_tray:", "requested"),
        "pending_approval" => (":hourglass_flowing_sand:", "awaits approval"),
        "approved" => (":ballot_box_with_check:", "approved, copying"),
        "rejected" => (":no_entry:", "rejected"),
        "denied" => (":no_entry_sign:", "denied by policy"),
        "expired" => (":alarm_clock:", "expired"),
        "promoted" => (":white_check_mark:", "promoted"),
        "failed" => (":x:", "failed"),
        "break_glass" => (":rotating_light:", "break-glass"),
        "integrity_violation" => (":warning:", "integrity violation"),
        _ => (":grey_question:", "event"),
    };
    let mut line = format!("{icon} *{what}*");
    match d.event_type.as_str() {
        "break_glass" | "integrity_violation" => {
            line.push_str(&format!(" on {}", code(field(data, "digest"))));
            if let Some(actor) = field(data, "actor") {
                line.push_str(&format!(" by {}", code(Some(actor))));
            }
            let details = data.get("details").unwrap_or(&Value::Null);
            let why = field(details, "justification").or_else(|| field(details, "reason"));
            if let Some(why) = why {
                line.push_str(&format!(": {}", escape(why)));
            }
        }
        _ => {
            let digest = field(data, "digest").map(|d| d.get(..19).unwrap_or(d));
            line.push_str(&format!(
                " {}@{}",
                code(field(data, "source")),
                escape(digest.unwrap_or("?"))
            ));
            let to = match field(data, "tag") {
                Some(tag) => format!("{}:{tag}", field(data, "destination").unwrap_or("?")),
                None => field(data, "destination").unwrap_or("?").to_owned(),
            };
            line.push_str(&format!(" → {}", code(Some(&to))));
            line.push_str(&format!(
                " (route {}, requested by {})",
                code(field(data, "route")),
                code(field(data, "requested_by"))
            ));
            if let Some(error) = field(data, "error") {
                line.push_str(&format!(": {}", escape(error)));
            }
        }
    }
    if let (Some(base), Some(id)) = (ui, d.promotion_id) {
        line.push_str(&format!(
            " <{}/ui/promotions/{id}|open>",
            base.trim_end_matches('/')
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(event_type: &str, data: Value) -> DueDelivery {
        DueDelivery {
            event_id: uuid::Uuid::nil(),
            subscriber: "chat".into(),
            attempts: 0,
            event_type: event_type.into(),
            promotion_id: Some(uuid::Uuid::nil()),
            data,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_promotion_reads_as_one_line_with_a_link() {
        let d = delivery(
            "pending_approval",
            json!({"source": "staging.example/team/app", "digest": "sha256:0123456789abcdef0123",
                   "destination": "prod.example/team/app", "tag": "v1", "route": "prod",
                   "requested_by": "ci-pipeline"}),
        );
        let body: Value =
            serde_json::from_slice(&message(&d, Some("https://gate.example/"))).unwrap();
        assert_eq!(
            body["text"],
            ":hourglass_flowing_sand: *awaits approval* `staging.example/team/app`@sha256:0123456789ab \
             → `prod.example/team/app:v1` (route `prod`, requested by `ci-pipeline`) \
             <https://gate.example/ui/promotions/00000000-0000-0000-0000-000000000000|open>"
        );
        assert_eq!(body["blocks"][0]["text"]["type"], "mrkdwn");
        assert_eq!(body["blocks"][0]["text"]["text"], body["text"]);
    }

    #[test]
    fn request_values_cannot_mention_everyone_or_forge_links() {
        let d = delivery(
            "failed",
            json!({"source": "s/<!channel>", "digest": "sha256:00", "destination": "p/a",
                   "tag": "<https://evil|click>", "route": "r", "requested_by": "a&b",
                   "error": "copy_failed: <!here>"}),
        );
        let body: Value = serde_json::from_slice(&message(&d, None)).unwrap();
        let text = body["text"].as_str().unwrap();
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(
            text.contains("&lt;!channel&gt;") && text.contains("a&amp;b"),
            "{text}"
        );
    }

    #[test]
    fn a_break_glass_names_its_actor_and_justification() {
        let d = delivery(
            "break_glass",
            json!({"digest": "sha256:ab", "actor": "oncall", "details": {"justification": "CVE fix"}}),
        );
        let body: Value = serde_json::from_slice(&message(&d, None)).unwrap();
        assert_eq!(
            body["text"],
            ":rotating_light: *break-glass* on `sha256:ab` by `oncall`: CVE fix"
        );
    }
}
