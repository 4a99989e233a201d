//! Calls to a clinic's own scheduler: each patient answer (confirmed,
//! cancelled, reschedule asked, survey scored) as a JSON `POST` to the
//! tenant's `callback_url`, signed (see [`crate::signature::sign_callback`])
//! and named by `X-Clinicflow-Event-Id` (the ledger message's id, the same
//! on every retry, so the receiver can drop repeats). A 2xx answer is
//! delivery; 408, 429, 5xx and no answer are retried with the ledger's
//! backoff; any other answer fails for a person to see.

use async_trait::async_trait;
use clinicflow_core::message::Message;
use clinicflow_ports::{Messenger, Receipt, SendError, SendRate};
use jiff::Timestamp;

use crate::http::exchange;
use crate::signature::{CALLBACK_HEADER, CALLBACK_TIMESTAMP, sign_callback};

pub const PROVIDER: &str = "callback";
pub const EVENT_ID_HEADER: &str = "X-Clinicflow-Event-Id";

pub struct CallbackPoster {
    http: reqwest::Client,
    secret: String,
}

impl CallbackPoster {
    pub fn new(http: reqwest::Client, secret: String) -> Self {
        CallbackPoster { http, secret }
    }
}

#[async_trait]
impl Messenger for CallbackPoster {
    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        let timestamp = Timestamp::now().as_second();
        let signature = sign_callback(self.secret.as_bytes(), timestamp, message.body.as_bytes());
        let request = self
            .http
            .post(&message.to)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, message.id.as_str())
            .header(CALLBACK_TIMESTAMP, timestamp.to_string())
            .header(CALLBACK_HEADER, signature)
            .body(message.body.clone());
        let (status, _) = exchange(PROVIDER, request).await?;
        if (200..300).contains(&status) {
            return Ok(Receipt {
                provider: PROVIDER.into(),
                provider_id: message.id.to_string(),
            });
        }
        let retryable = status == 408 || status == 429 || status >= 500;
        Err(SendError::sorted(
            retryable,
            format!("http_{status}"),
            format!("the clinic's scheduler answered HTTP {status}"),
        ))
    }

    /// Every call names its event; receivers drop repeats by it.
    fn deduplicates(&self, _: &Message) -> bool {
        true
    }

    fn rate(&self, _: &Message) -> Option<SendRate> {
        None
    }
}
