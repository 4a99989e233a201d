//! WhatsApp Business Cloud API: sending (`POST /{phone-number-id}/messages`,
//! free-form text inside the 24-hour window, approved templates outside
//! it) and reading its webhooks (messages and statuses).

use async_trait::async_trait;
use clinicflow_core::inbound::{Inbound, InboundMessage, StatusUpdate};
use clinicflow_core::message::{Channel, Failure, Message, MessageStatus};
use clinicflow_ports::{Messenger, Receipt, SendError, SendRate};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::graph::GraphError;
use crate::http::{bad_response, exchange};

pub const PROVIDER: &str = "whatsapp";

pub struct WhatsappSender {
    http: reqwest::Client,
    /// `{api_url}/{phone_number_id}/messages`
    endpoint: String,
    phone_number_id: String,
    access_token: String,
    per_second: u32,
}

impl WhatsappSender {
    pub fn new(
        http: reqwest::Client,
        api_url: &str,
        phone_number_id: &str,
        access_token: String,
        per_second: u32,
    ) -> Self {
        WhatsappSender {
            http,
            endpoint: format!("{api_url}/{phone_number_id}/messages"),
            phone_number_id: phone_number_id.to_owned(),
            access_token,
            per_second,
        }
    }
}

/// WhatsApp's limits on interactive reply buttons: three, titles of 20
/// characters, a body of 1,024.
pub const MAX_REPLY_BUTTONS: usize = 3;
const MAX_BUTTON_TITLE: usize = 20;
const MAX_INTERACTIVE_BODY: usize = 1024;

/// The request body for `message`: a template when the ledger says so (its
/// quick-reply buttons carrying our payloads), reply buttons when the
/// message offers answers and fits them, otherwise text. WhatsApp takes
/// the number without `+`.
pub fn request_body(message: &Message) -> Value {
    let to = message.to.trim_start_matches('+');
    let envelope = |kind: &str, content: Value| {
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": kind,
        });
        body[kind] = content;
        body
    };
    match &message.template {
        Some(t) => {
            let mut template = json!({
                "name": t.name,
                "language": { "code": t.language },
            });
            let mut components = Vec::new();
            if !t.params.is_empty() {
                let parameters: Vec<Value> = t
                    .params
                    .iter()
                    .map(|p| json!({ "type": "text", "text": p }))
                    .collect();
                components.push(json!({ "type": "body", "parameters": parameters }));
            }
            for (index, payload) in t.buttons.iter().enumerate() {
                components.push(json!({
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": index.to_string(),
                    "parameters": [{ "type": "payload", "payload": payload }],
                }));
            }
            if !components.is_empty() {
                template["components"] = Value::Array(components);
            }
            envelope("template", template)
        }
        None if !message.buttons.is_empty()
            && message.buttons.len() <= MAX_REPLY_BUTTONS
            && message.body.chars().count() <= MAX_INTERACTIVE_BODY =>
        {
            let buttons: Vec<Value> = message
                .buttons
                .iter()
                .map(|b| {
                    let title: String = b.title.chars().take(MAX_BUTTON_TITLE).collect();
                    json!({ "type": "reply", "reply": { "id": b.payload, "title": title } })
                })
                .collect();
            envelope(
                "interactive",
                json!({
                    "type": "button",
                    "body": { "text": message.body },
                    "action": { "buttons": buttons },
                }),
            )
        }
        None => envelope(
            "text",
            json!({ "preview_url": false, "body": message.body }),
        ),
    }
}

#[derive(Deserialize)]
struct Sent {
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
}

/// Sorts a Graph API error: rate limits and outages are retried, anything
/// about the recipient, the template or the account is not.
pub fn classify(http_status: u16, code: i64, reason: String) -> SendError {
    let code_str = code.to_string();
    // https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
    let retryable = matches!(
        code,
        4 | 80007 | 130429 | 131000 | 131016 | 131048 | 131056 | 133004
    ) || (http_status >= 500 && !matches!(code, 131026 | 131047));
    SendError::sorted(retryable, code_str, reason)
}

#[async_trait]
impl Messenger for WhatsappSender {
    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        let request = self
            .http
            .post(&self.endpoint)
            .bearer_auth(&self.access_token)
            .json(&request_body(message));
        let (status, body) = exchange(PROVIDER, request).await?;
        if (200..300).contains(&status) {
            let sent: Sent = serde_json::from_slice(&body).map_err(|_| bad_response("WhatsApp"))?;
            let id = sent.messages.into_iter().next().map(|m| m.id);
            return Ok(Receipt {
                provider: PROVIDER.into(),
                provider_id: id.ok_or_else(|| bad_response("WhatsApp"))?,
            });
        }
        let error = GraphError::read(status, &body);
        match error.code {
            Some(code) => Err(classify(status, code, error.reason())),
            None => Err(classify(
                status,
                -i64::from(status),
                format!("WhatsApp answered HTTP {status}"),
            )),
        }
    }

    fn deduplicates(&self, _: &Message) -> bool {
        false
    }

    fn rate(&self, _: &Message) -> Option<SendRate> {
        Some(SendRate {
            sender: format!("whatsapp:{}", self.phone_number_id),
            per_second: self.per_second,
        })
    }
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
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    value: ChangeValue,
}

#[derive(Deserialize)]
struct ChangeValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<WebhookMessage>,
    #[serde(default)]
    statuses: Vec<WebhookStatus>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Contact {
    wa_id: String,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct WebhookMessage {
    from: String,
    id: String,
    timestamp: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: Option<Body>,
    #[serde(default)]
    button: Option<ButtonReply>,
    #[serde(default)]
    interactive: Option<Value>,
    #[serde(default)]
    image: Option<Caption>,
    #[serde(default)]
    video: Option<Caption>,
    #[serde(default)]
    document: Option<Caption>,
    /// Click-to-WhatsApp ads: the ad that started the conversation.
    #[serde(default)]
    referral: Option<Referral>,
    /// The message this one replies to (a tap on a button of ours, a quote).
    #[serde(default)]
    context: Option<Context>,
}

#[derive(Deserialize)]
struct Context {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    body: String,
}

#[derive(Deserialize)]
struct ButtonReply {
    text: String,
    /// Our payload (absent payloads come back as the label).
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Caption {
    #[serde(default)]
    caption: Option<String>,
}

#[derive(Deserialize)]
struct Referral {
    #[serde(default)]
    source_id: Option<String>,
}

#[derive(Deserialize)]
struct WebhookStatus {
    id: String,
    status: String,
    timestamp: String,
    #[serde(default)]
    errors: Vec<StatusError>,
}

#[derive(Deserialize)]
struct StatusError {
    code: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    message: Option<String>,
}

/// What a webhook notification for `phone_number_id` reports, in order.
/// Changes for other phone numbers of the account are skipped; a payload
/// that is not a WhatsApp notification is an error.
pub fn parse_webhook(body: &[u8], phone_number_id: &str) -> Result<Vec<Inbound>, String> {
    let n: Notification =
        serde_json::from_slice(body).map_err(|e| format!("not a WhatsApp notification: {e}"))?;
    if n.object != "whatsapp_business_account" {
        return Err(format!("unexpected object `{}`", n.object));
    }
    let mut events = Vec::new();
    for change in n.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            continue;
        }
        let value = change.value;
        if value
            .metadata
            .as_ref()
            .is_some_and(|m| m.phone_number_id != phone_number_id)
        {
            continue;
        }
        for m in value.messages {
            let name = value
                .contacts
                .iter()
                .find(|c| c.wa_id == m.from)
                .and_then(|c| c.profile.as_ref()?.name.clone());
            let text = message_text(&m);
            let referral = m.referral.as_ref().and_then(|r| r.source_id.clone());
            let payload = button_payload(&m);
            let context = m.context.as_ref().and_then(|c| c.id.clone());
            events.push(Inbound::Message(InboundMessage {
                provider: PROVIDER.into(),
                provider_id: m.id.clone(),
                channel: Channel::Whatsapp,
                from: format!("+{}", m.from.trim_start_matches('+')),
                name,
                text,
                at: unix(&m.timestamp)?,
                referral,
                payload,
                context,
            }));
        }
        for s in value.statuses {
            let Some(status) = status_of(&s.status) else {
                continue;
            };
            let error = s.errors.first().map(|e| Failure {
                code: e.code.to_string(),
                reason: e
                    .message
                    .clone()
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| e.title.clone()),
            });
            events.push(Inbound::Status(StatusUpdate {
                provider: PROVIDER.into(),
                provider_id: s.id,
                status,
                at: unix(&s.timestamp)?,
                error,
            }));
        }
    }
    Ok(events)
}

fn message_text(m: &WebhookMessage) -> String {
    let caption = |c: &Option<Caption>| c.as_ref().and_then(|c| c.caption.clone());
    match m.kind.as_str() {
        "text" => m.text.as_ref().map(|t| t.body.clone()),
        "button" => m.button.as_ref().map(|b| b.text.clone()),
        "interactive" => m.interactive.as_ref().and_then(|i| {
            ["button_reply", "list_reply"]
                .iter()
                .find_map(|k| i.get(k)?.get("title")?.as_str().map(str::to_owned))
        }),
        "image" => caption(&m.image),
        "video" => caption(&m.video),
        "document" => caption(&m.document),
        _ => None,
    }
    .unwrap_or_default()
}

/// The payload of a tapped button: a template's quick reply (`button.payload`)
/// or an interactive reply button's id.
fn button_payload(m: &WebhookMessage) -> Option<String> {
    match m.kind.as_str() {
        "button" => m.button.as_ref().and_then(|b| b.payload.clone()),
        "interactive" => m.interactive.as_ref().and_then(|i| {
            ["button_reply", "list_reply"]
                .iter()
                .find_map(|k| i.get(k)?.get("id")?.as_str().map(str::to_owned))
        }),
        _ => None,
    }
}

fn status_of(s: &str) -> Option<MessageStatus> {
    match s {
        "sent" => Some(MessageStatus::Sent),
        "delivered" => Some(MessageStatus::Delivered),
        "read" => Some(MessageStatus::Read),
        "failed" => Some(MessageStatus::Failed),
        _ => None,
    }
}

fn unix(s: &str) -> Result<Timestamp, String> {
    s.parse::<i64>()
        .ok()
        .and_then(|secs| Timestamp::from_second(secs).ok())
        .ok_or_else(|| format!("`{s}` is not a Unix timestamp"))
}
