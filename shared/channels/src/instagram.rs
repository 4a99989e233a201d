//! Instagram direct messages through the Instagram API with Instagram
//! Login: sending (`POST /{account-id}/messages`, text inside the 24-hour
//! window, offered answers as quick replies) and reading its messaging
//! webhooks (messages, quick replies, ice breakers, reads).

use async_trait::async_trait;
use clinicflow_core::contact::{InstagramId, InstagramProfile};
use clinicflow_core::inbound::{Inbound, InboundMessage, StatusUpdate};
use clinicflow_core::message::{Channel, Message, MessageStatus};
use clinicflow_ports::{FetchError, Messenger, Receipt, SendError, SendRate};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::graph::GraphError;
use crate::http::{bad_response, exchange};

pub const PROVIDER: &str = "instagram";

/// Instagram's limits: a text of 1,000 bytes (UTF-8), 13 quick replies
/// with titles of 20 characters.
pub const MAX_TEXT_BYTES: usize = 1000;
pub const MAX_QUICK_REPLIES: usize = 13;
const MAX_QUICK_REPLY_TITLE: usize = 20;

pub struct InstagramSender {
    http: reqwest::Client,
    /// `{api_url}/{account_id}/messages`
    endpoint: String,
    account_id: String,
    access_token: String,
    per_second: u32,
}

impl InstagramSender {
    pub fn new(
        http: reqwest::Client,
        api_url: &str,
        account_id: &str,
        access_token: String,
        per_second: u32,
    ) -> Self {
        InstagramSender {
            http,
            endpoint: format!("{api_url}/{account_id}/messages"),
            account_id: account_id.to_owned(),
            access_token,
            per_second,
        }
    }
}

/// The request body for `message`: its text to the Instagram-scoped id,
/// the answers it offers as quick replies (their payloads ours).
pub fn request_body(message: &Message) -> Value {
    let mut content = json!({ "text": message.body });
    if !message.buttons.is_empty() && message.buttons.len() <= MAX_QUICK_REPLIES {
        let replies: Vec<Value> = message
            .buttons
            .iter()
            .map(|b| {
                let title: String = b.title.chars().take(MAX_QUICK_REPLY_TITLE).collect();
                json!({ "content_type": "text", "title": title, "payload": b.payload })
            })
            .collect();
        content["quick_replies"] = Value::Array(replies);
    }
    json!({ "recipient": { "id": message.to }, "message": content })
}

#[derive(Deserialize)]
struct Sent {
    message_id: String,
}

#[async_trait]
impl Messenger for InstagramSender {
    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        if message.body.len() > MAX_TEXT_BYTES {
            return Err(SendError::Permanent {
                code: "text_too_long".into(),
                reason: format!(
                    "Instagram takes a text of at most {MAX_TEXT_BYTES} bytes; this one has {}",
                    message.body.len()
                ),
            });
        }
        let request = self
            .http
            .post(&self.endpoint)
            .bearer_auth(&self.access_token)
            .json(&request_body(message));
        let (status, body) = exchange(PROVIDER, request).await?;
        if (200..300).contains(&status) {
            let sent: Sent =
                serde_json::from_slice(&body).map_err(|_| bad_response("Instagram"))?;
            return Ok(Receipt {
                provider: PROVIDER.into(),
                provider_id: sent.message_id,
            });
        }
        // Outside the window Meta answers code 10, subcode 2534022; a
        // person who cannot be messaged, 551: neither is worth a retry.
        let e = GraphError::read(status, &body);
        Err(SendError::sorted(e.retry, e.code_or(status), e.message))
    }

    fn deduplicates(&self, _: &Message) -> bool {
        false
    }

    fn rate(&self, _: &Message) -> Option<SendRate> {
        Some(SendRate {
            sender: format!("instagram:{}", self.account_id),
            per_second: self.per_second,
        })
    }
}

/// The name and username of account `id` (the User Profile API: readable
/// once the person has written to the account).
pub async fn profile(
    http: &reqwest::Client,
    api_url: &str,
    token: &str,
    id: &InstagramId,
) -> Result<InstagramProfile, FetchError> {
    // The id is digits (checked when it was read): nothing to escape.
    let request = http
        .get(format!("{api_url}/{id}?fields=name,username"))
        .bearer_auth(token);
    let (status, body) = exchange(PROVIDER, request).await?;
    if !(200..300).contains(&status) {
        return Err(GraphError::read(status, &body).fetch_error("Instagram profile", status));
    }
    serde_json::from_slice(&body)
        .map_err(|_| FetchError::Retryable("Instagram profile: not a profile".into()))
}

// ---- webhooks ----

#[derive(Deserialize)]
struct Notification {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    #[serde(default)]
    messaging: Vec<Messaging>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Party,
    /// Milliseconds since the epoch.
    timestamp: i64,
    #[serde(default)]
    message: Option<WebhookMessage>,
    /// An ice breaker or a button of a generic template.
    #[serde(default)]
    postback: Option<Postback>,
    #[serde(default)]
    read: Option<Read>,
    /// An ig.me link with a `ref`, or an ad, that opened the conversation.
    #[serde(default)]
    referral: Option<Referral>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct WebhookMessage {
    mid: String,
    #[serde(default)]
    text: Option<String>,
    /// Sent by the account itself (through us, or the Instagram app).
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    quick_reply: Option<QuickReply>,
    #[serde(default)]
    reply_to: Option<ReplyTo>,
    #[serde(default)]
    referral: Option<Referral>,
}

#[derive(Deserialize)]
struct QuickReply {
    payload: String,
}

#[derive(Deserialize)]
struct ReplyTo {
    #[serde(default)]
    mid: Option<String>,
}

#[derive(Deserialize)]
struct Postback {
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Read {
    mid: String,
}

#[derive(Deserialize)]
struct Referral {
    #[serde(rename = "ref", default)]
    reference: Option<String>,
    #[serde(default)]
    ad_id: Option<String>,
}

impl Referral {
    fn code(&self) -> Option<String> {
        self.reference.clone().or_else(|| self.ad_id.clone())
    }
}

/// What a messaging notification for `account_id` reports, in order: the
/// patients' messages (echoes of the account's own, and deletions,
/// skipped) and what they read. Entries of other accounts are skipped; a
/// payload that is not an Instagram notification is an error.
pub fn parse_webhook(body: &[u8], account_id: &str) -> Result<Vec<Inbound>, String> {
    let n: Notification =
        serde_json::from_slice(body).map_err(|e| format!("not an Instagram notification: {e}"))?;
    if n.object != "instagram" {
        return Err(format!("unexpected object `{}`", n.object));
    }
    let mut events = Vec::new();
    for entry in n.entry.into_iter().filter(|e| e.id == account_id) {
        for m in entry.messaging {
            let at = Timestamp::from_millisecond(m.timestamp)
                .map_err(|_| format!("`{}` is not a time in milliseconds", m.timestamp))?;
            let message = |provider_id: String, text: String, payload, context, referral| {
                Inbound::Message(InboundMessage {
                    provider: PROVIDER.into(),
                    provider_id,
                    channel: Channel::Instagram,
                    from: m.sender.id.clone(),
                    name: None,
                    text,
                    at,
                    referral,
                    payload,
                    context,
                })
            };
            let opened_by = m.referral.as_ref().and_then(Referral::code);
            if let Some(msg) = m.message.as_ref().filter(|x| !x.is_echo && !x.is_deleted) {
                events.push(message(
                    msg.mid.clone(),
                    msg.text.clone().unwrap_or_default(),
                    msg.quick_reply.as_ref().map(|q| q.payload.clone()),
                    msg.reply_to.as_ref().and_then(|r| r.mid.clone()),
                    msg.referral.as_ref().and_then(Referral::code).or(opened_by),
                ));
            } else if let Some(p) = &m.postback
                && let Some(mid) = &p.mid
            {
                events.push(message(
                    mid.clone(),
                    p.title.clone().unwrap_or_default(),
                    p.payload.clone(),
                    None,
                    opened_by,
                ));
            } else if let Some(read) = &m.read {
                events.push(Inbound::Status(StatusUpdate {
                    provider: PROVIDER.into(),
                    provider_id: read.mid.clone(),
                    status: MessageStatus::Read,
                    at,
                    error: None,
                }));
            }
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clinicflow_core::ids::{LeadId, MessageId, RecordRef, TenantId};
    use clinicflow_core::message::{Audience, Button, Purpose};
    use clinicflow_core::messaging::Route;
    use clinicflow_core::template::TemplateKind;

    const ACCOUNT: &str = "17841400000000001";

    /// Meta's documented messaging notification, a text and a quick reply
    /// from a patient, an echo of ours, a read, another account's entry.
    fn notification() -> String {
        format!(
            r#"{{
  "object": "instagram",
  "entry": [
    {{
      "id": "{ACCOUNT}",
      "time": 1764581400000,
      "messaging": [
        {{
          "sender": {{ "id": "17841400000000042" }},
          "recipient": {{ "id": "{ACCOUNT}" }},
          "timestamp": 1764581399000,
          "message": {{ "mid": "aWdfZAG1faXRlbToxOklH", "text": "Merhaba, implant fiyatı nedir?" }}
        }},
        {{
          "sender": {{ "id": "17841400000000042" }},
          "recipient": {{ "id": "{ACCOUNT}" }},
          "timestamp": 1764581460000,
          "message": {{
            "mid": "aWdfZAG1faXRlbToxOklI",
            "text": "Türkçe",
            "quick_reply": {{ "payload": "lang.tr" }},
            "reply_to": {{ "mid": "aWdfZAG1faXRlbToxOklQ" }}
          }}
        }},
        {{
          "sender": {{ "id": "{ACCOUNT}" }},
          "recipient": {{ "id": "17841400000000042" }},
          "timestamp": 1764581470000,
          "message": {{ "mid": "aWdfZAG1faXRlbToxOklE", "text": "Merhaba!", "is_echo": true }}
        }},
        {{
          "sender": {{ "id": "17841400000000042" }},
          "recipient": {{ "id": "{ACCOUNT}" }},
          "timestamp": 1764581480000,
          "read": {{ "mid": "aWdfZAG1faXRlbToxOklE" }}
        }}
      ]
    }},
    {{
      "id": "17841400000000999",
      "time": 1764581400000,
      "messaging": [
        {{
          "sender": {{ "id": "17841400000000077" }},
          "recipient": {{ "id": "17841400000000999" }},
          "timestamp": 1764581399000,
          "message": {{ "mid": "b3RoZXI", "text": "hi" }}
        }}
      ]
    }}
  ]
}}"#
        )
    }

    #[test]
    fn the_messaging_webhook_reads_messages_and_reads() {
        let events = parse_webhook(notification().as_bytes(), ACCOUNT).unwrap();
        assert_eq!(events.len(), 3, "{events:?}");
        let Inbound::Message(first) = &events[0] else {
            panic!("{:?}", events[0]);
        };
        assert_eq!(first.channel, Channel::Instagram);
        assert_eq!(first.from, "17841400000000042");
        assert_eq!(first.text, "Merhaba, implant fiyatı nedir?");
        assert_eq!(first.at.to_string(), "2025-12-01T09:29:59Z");
        assert_eq!(
            events[0].event_id(),
            "instagram:aWdfZAG1faXRlbToxOklH",
            "once per message id"
        );
        let Inbound::Message(tap) = &events[1] else {
            panic!("{:?}", events[1]);
        };
        assert_eq!(tap.payload.as_deref(), Some("lang.tr"));
        assert_eq!(tap.context.as_deref(), Some("aWdfZAG1faXRlbToxOklQ"));
        let Inbound::Status(read) = &events[2] else {
            panic!("{:?}", events[2]);
        };
        assert_eq!(read.status, MessageStatus::Read);
        assert_eq!(read.provider_id, "aWdfZAG1faXRlbToxOklE");
        // A payload that is not Instagram's is refused.
        assert!(parse_webhook(br#"{"object":"page","entry":[]}"#, ACCOUNT).is_err());
        assert!(parse_webhook(b"not json", ACCOUNT).is_err());
    }

    #[test]
    fn the_request_is_text_with_quick_replies() {
        let mut message = Message::queued(
            MessageId::new("reply.l1.x").unwrap(),
            TenantId::new("demo").unwrap(),
            RecordRef::Lead(LeadId::new("l1").unwrap()),
            TemplateKind::LanguageQuestion,
            Audience::Patient,
            Route {
                channel: Channel::Instagram,
                to: "17841400000000042".into(),
            },
            Purpose::Operational,
            clinicflow_core::ids::Language::parse("en").unwrap(),
            "Which language do you prefer?".into(),
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(
            request_body(&message),
            json!({
                "recipient": { "id": "17841400000000042" },
                "message": { "text": "Which language do you prefer?" }
            })
        );
        message.buttons = vec![Button {
            payload: "lang.ru".into(),
            title: "Русский язык, пожалуйста".into(),
        }];
        let body = request_body(&message);
        assert_eq!(
            body["message"]["quick_replies"],
            json!([{ "content_type": "text", "title": "Русский язык, пожалу", "payload": "lang.ru" }])
        );
    }
}
