//! Twilio Programmable Messaging for SMS: sending (`POST
//! /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth, form
//! body) and reading its webhooks (incoming messages, status callbacks).

use async_trait::async_trait;
use clinicflow_core::inbound::{Inbound, InboundMessage, StatusUpdate};
use clinicflow_core::message::{Channel, Failure, Message, MessageStatus};
use clinicflow_core::providers::SmsSender;
use clinicflow_ports::{Messenger, Receipt, SendError, SendRate};
use jiff::Timestamp;
use serde::Deserialize;

use crate::http::{bad_response, exchange};

pub const PROVIDER: &str = "twilio";

pub struct TwilioSms {
    http: reqwest::Client,
    endpoint: String,
    account_sid: String,
    auth_token: String,
    sender: SmsSender,
    status_callback: Option<String>,
    per_second: u32,
}

impl TwilioSms {
    pub fn new(
        http: reqwest::Client,
        api_url: &str,
        account_sid: &str,
        auth_token: String,
        sender: SmsSender,
        status_callback: Option<String>,
        per_second: u32,
    ) -> Self {
        TwilioSms {
            http,
            endpoint: format!("{api_url}/2010-04-01/Accounts/{account_sid}/Messages.json"),
            account_sid: account_sid.to_owned(),
            auth_token,
            sender,
            status_callback,
            per_second,
        }
    }

    /// The form fields of a send request, in Twilio's names.
    pub fn form(&self, message: &Message) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", message.to.clone())];
        match &self.sender {
            SmsSender::From(from) => form.push(("From", from.clone())),
            SmsSender::MessagingService(sid) => form.push(("MessagingServiceSid", sid.clone())),
        }
        form.push(("Body", message.body.clone()));
        if let Some(url) = &self.status_callback {
            form.push(("StatusCallback", url.clone()));
        }
        form
    }
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    #[serde(default)]
    message: String,
}

/// Sorts a Twilio REST error: too many requests and outages are retried;
/// invalid, unreachable or unsubscribed recipients (21211, 21610, 21614…)
/// and account problems are not.
pub fn classify(http_status: u16, code: Option<i64>, reason: String) -> SendError {
    let code_str = code.map_or_else(|| format!("http_{http_status}"), |c| c.to_string());
    // https://www.twilio.com/docs/api/errors
    let retryable = http_status == 429 || http_status >= 500 || code == Some(20429);
    SendError::sorted(retryable, code_str, reason)
}

#[async_trait]
impl Messenger for TwilioSms {
    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        let request = self
            .http
            .post(&self.endpoint)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&self.form(message));
        let (status, body) = exchange(PROVIDER, request).await?;
        if (200..300).contains(&status) {
            let created: Created =
                serde_json::from_slice(&body).map_err(|_| bad_response("Twilio"))?;
            return Ok(Receipt {
                provider: PROVIDER.into(),
                provider_id: created.sid,
            });
        }
        match serde_json::from_slice::<TwilioError>(&body) {
            Ok(e) => Err(classify(status, e.code, e.message)),
            Err(_) => Err(classify(
                status,
                None,
                format!("Twilio answered HTTP {status}"),
            )),
        }
    }

    fn deduplicates(&self, _: &Message) -> bool {
        false
    }

    fn rate(&self, _: &Message) -> Option<SendRate> {
        Some(SendRate {
            sender: format!("sms:{}", self.sender.as_str()),
            per_second: self.per_second,
        })
    }
}

// ---- webhooks ----

/// What a Twilio webhook (form parameters) reports: a status callback when
/// it carries `MessageStatus`, an incoming message otherwise. Twilio sends
/// no event time; `received_at` is when the webhook arrived.
pub fn parse_webhook(
    params: &[(String, String)],
    received_at: Timestamp,
) -> Result<Option<Inbound>, String> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let sid = get("MessageSid")
        .or_else(|| get("SmsSid"))
        .ok_or("MessageSid is missing")?;
    if let Some(status) = get("MessageStatus").or_else(|| get("SmsStatus"))
        && status != "received"
    {
        let Some(status) = status_of(status) else {
            return Ok(None);
        };
        let error = if status == MessageStatus::Failed {
            let code = get("ErrorCode").unwrap_or("unknown").to_owned();
            Some(Failure {
                reason: error_reason(&code),
                code,
            })
        } else {
            None
        };
        return Ok(Some(Inbound::Status(StatusUpdate {
            provider: PROVIDER.into(),
            provider_id: sid.to_owned(),
            status,
            at: received_at,
            error,
        })));
    }
    let from = get("From").ok_or("From is missing")?;
    Ok(Some(Inbound::Message(InboundMessage {
        provider: PROVIDER.into(),
        provider_id: sid.to_owned(),
        channel: Channel::Sms,
        from: from.to_owned(),
        name: None,
        text: get("Body").unwrap_or_default().to_owned(),
        at: received_at,
        referral: None,
        // Twilio's WhatsApp quick replies send ButtonPayload; plain SMS has none.
        payload: get("ButtonPayload").map(str::to_owned),
        context: get("OriginalRepliedMessageSid").map(str::to_owned),
    })))
}

fn status_of(s: &str) -> Option<MessageStatus> {
    match s {
        "sent" => Some(MessageStatus::Sent),
        "delivered" => Some(MessageStatus::Delivered),
        "read" => Some(MessageStatus::Read),
        "undelivered" | "failed" => Some(MessageStatus::Failed),
        // queued, accepted, sending, scheduled, canceled: nothing to record.
        _ => None,
    }
}

/// A person's words for the delivery errors Twilio reports most.
fn error_reason(code: &str) -> String {
    match code {
        "30003" => "Unreachable destination handset",
        "30004" => "Message blocked by the recipient or their carrier",
        "30005" => "Unknown destination handset (the number may not exist)",
        "30006" => "Landline or unreachable carrier",
        "30007" => "Filtered by the carrier as spam",
        "30008" => "Unknown delivery error",
        "21610" => "The recipient replied STOP and is unsubscribed",
        _ => "Twilio reported the message undelivered",
    }
    .to_owned()
}
