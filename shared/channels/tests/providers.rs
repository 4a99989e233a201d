//! Each provider over real HTTP against a local server that checks the
//! request the provider documents (path, headers, auth, body) and answers
//! with the provider's documented success and error bodies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use base64::Engine;
use clinicflow_channels::http;
use clinicflow_channels::twilio::TwilioSms;
use clinicflow_channels::whatsapp::WhatsappSender;
use clinicflow_core::message::Channel;
use clinicflow_core::messaging::TemplateCall;
use clinicflow_core::providers::SmsSender;
use clinicflow_ports::{Messenger, SendError};
use common::message;
use serde_json::{Value, json};

/// One request as the provider's server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A provider's server: records every request, answers from a script.
#[derive(Clone, Default)]
struct Provider {
    seen: Arc<Mutex<Vec<Seen>>>,
    answers: Arc<Mutex<VecDeque<(StatusCode, String)>>>,
}

impl Provider {
    async fn start() -> (Provider, String) {
        let provider = Provider::default();
        let state = provider.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    state.seen.lock().unwrap().push(Seen {
                        method,
                        path: uri.path().to_owned(),
                        headers,
                        body,
                    });
                    let (status, body) = state
                        .answers
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or((StatusCode::INTERNAL_SERVER_ERROR, String::new()));
                    (status, [("content-type", "application/json")], body).into_response()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (provider, base)
    }

    fn answer(&self, status: u16, body: Value) {
        self.answers
            .lock()
            .unwrap()
            .push_back((StatusCode::from_u16(status).unwrap(), body.to_string()));
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request")
    }
}

const WAMID: &str = "wamid.HBgLOTA1MzIxMjM0NTY3FQIAERgSQzVGMjU4QTYxQjI2QzQ0RUFBAA==";

fn whatsapp_sent() -> Value {
    // https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages (response)
    json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": "905321234567", "wa_id": "905321234567" }],
        "messages": [{ "id": WAMID }]
    })
}

fn graph_error(code: i64, message: &str, details: &str) -> Value {
    // https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
    json!({
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": { "messaging_product": "whatsapp", "details": details },
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"
        }
    })
}

async fn whatsapp() -> (Provider, WhatsappSender) {
    let (provider, base) = Provider::start().await;
    let sender = WhatsappSender::new(
        http::client().unwrap(),
        &format!("{base}/v23.0"),
        "106540352242922",
        "EAAJB-test-token".to_owned(),
        80,
    );
    (provider, sender)
}

#[tokio::test]
async fn whatsapp_text_inside_the_window_is_the_documented_request() {
    let (provider, sender) = whatsapp().await;
    provider.answer(200, whatsapp_sent());
    let receipt = sender
        .send(&message(Channel::Whatsapp, "+905321234567", None))
        .await
        .unwrap();
    assert_eq!(receipt.provider, "whatsapp");
    assert_eq!(receipt.provider_id, WAMID);
    let seen = provider.last();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v23.0/106540352242922/messages");
    assert_eq!(seen.headers["authorization"], "Bearer EAAJB-test-token");
    assert_eq!(seen.headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        body,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "905321234567",
            "type": "text",
            "text": { "preview_url": false, "body": "Merhaba Ayşe, Elif sizi arayacak." }
        })
    );
}

#[tokio::test]
async fn whatsapp_template_outside_the_window_is_the_documented_request() {
    let (provider, sender) = whatsapp().await;
    provider.answer(200, whatsapp_sent());
    let call = TemplateCall {
        name: "greeting_v1".into(),
        language: "tr".into(),
        params: vec!["Ayşe".into(), "Elif".into()],
        buttons: vec![],
    };
    sender
        .send(&message(Channel::Whatsapp, "+905321234567", Some(call)))
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&provider.last().body).unwrap();
    assert_eq!(
        body,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "905321234567",
            "type": "template",
            "template": {
                "name": "greeting_v1",
                "language": { "code": "tr" },
                "components": [{
                    "type": "body",
                    "parameters": [
                        { "type": "text", "text": "Ayşe" },
                        { "type": "text", "text": "Elif" }
                    ]
                }]
            }
        })
    );
}

#[tokio::test]
async fn whatsapp_errors_are_sorted_into_retryable_and_permanent() {
    let (provider, sender) = whatsapp().await;
    let m = message(Channel::Whatsapp, "+905321234567", None);
    provider.answer(
        400,
        graph_error(
            130429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
        ),
    );
    assert!(
        matches!(sender.send(&m).await, Err(SendError::Retryable { code, .. }) if code == "130429")
    );
    provider.answer(
        400,
        graph_error(
            131047,
            "Re-engagement message",
            "More than 24 hours have passed since the recipient last replied to the sender number.",
        ),
    );
    match sender.send(&m).await {
        Err(SendError::Permanent { code, reason }) => {
            assert_eq!(code, "131047");
            assert!(reason.contains("24 hours"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    provider.answer(
        400,
        graph_error(131026, "Message Undeliverable", "Message Undeliverable."),
    );
    assert!(
        matches!(sender.send(&m).await, Err(SendError::Permanent { code, .. }) if code == "131026")
    );
    provider.answer(503, json!({}));
    assert!(matches!(
        sender.send(&m).await,
        Err(SendError::Retryable { .. })
    ));
}

async fn twilio(status_callback: Option<String>) -> (Provider, TwilioSms) {
    let (provider, base) = Provider::start().await;
    let sender = TwilioSms::new(
        http::client().unwrap(),
        &base,
        "AC0123456789abcdef0123456789abcdef",
        "twilio-auth-token".to_owned(),
        SmsSender::From("+15005550006".into()),
        status_callback,
        10,
    );
    (provider, sender)
}

fn twilio_created() -> Value {
    // https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
    json!({
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "api_version": "2010-04-01",
        "body": "Merhaba Ayşe, Elif sizi arayacak.",
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
        "direction": "outbound-api",
        "from": "+15005550006",
        "num_segments": "1",
        "sid": "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "status": "queued",
        "to": "+905321234567",
        "uri": "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"
    })
}

fn twilio_error(status: u16, code: i64, message: &str) -> Value {
    // https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status
    })
}

#[tokio::test]
async fn twilio_sms_is_the_documented_request() {
    let (provider, sender) =
        twilio(Some("https://hooks.example/webhooks/twilio/demo".into())).await;
    provider.answer(201, twilio_created());
    let receipt = sender
        .send(&message(Channel::Sms, "+905321234567", None))
        .await
        .unwrap();
    assert_eq!(receipt.provider, "twilio");
    assert_eq!(receipt.provider_id, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    let seen = provider.last();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(
        seen.path,
        "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"
    );
    let basic = base64::engine::general_purpose::STANDARD
        .encode("AC0123456789abcdef0123456789abcdef:twilio-auth-token");
    assert_eq!(
        seen.headers["authorization"],
        format!("Basic {basic}").as_str()
    );
    assert_eq!(
        seen.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&seen.body).unwrap();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        form,
        [
            ("To", "+905321234567"),
            ("From", "+15005550006"),
            ("Body", "Merhaba Ayşe, Elif sizi arayacak."),
            (
                "StatusCallback",
                "https://hooks.example/webhooks/twilio/demo"
            ),
        ]
    );
}

#[tokio::test]
async fn twilio_errors_are_sorted_into_retryable_and_permanent() {
    let (provider, sender) = twilio(None).await;
    let m = message(Channel::Sms, "+905321234567", None);
    provider.answer(
        400,
        twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
    );
    assert!(
        matches!(sender.send(&m).await, Err(SendError::Permanent { code, .. }) if code == "21610")
    );
    provider.answer(
        400,
        twilio_error(400, 21211, "Invalid 'To' Phone Number: +90532"),
    );
    assert!(
        matches!(sender.send(&m).await, Err(SendError::Permanent { code, .. }) if code == "21211")
    );
    provider.answer(429, twilio_error(429, 20429, "Too Many Requests"));
    assert!(
        matches!(sender.send(&m).await, Err(SendError::Retryable { code, .. }) if code == "20429")
    );
    provider.answer(500, json!({}));
    assert!(matches!(
        sender.send(&m).await,
        Err(SendError::Retryable { .. })
    ));
}

#[tokio::test]
async fn an_unreachable_provider_is_retried() {
    // A port nobody listens on: the connection is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let sender = WhatsappSender::new(http::client().unwrap(), &base, "1", "t".into(), 80);
    let m = message(Channel::Whatsapp, "+905321234567", None);
    assert!(
        matches!(sender.send(&m).await, Err(SendError::Retryable { code, .. }) if code == "network")
    );
}

#[tokio::test]
async fn whatsapp_template_quick_replies_carry_our_payloads() {
    let (provider, sender) = whatsapp().await;
    provider.answer(200, whatsapp_sent());
    let call = TemplateCall {
        name: "appt_confirm_v1".into(),
        language: "tr".into(),
        params: vec!["Ayşe".into()],
        buttons: vec!["apt:01KA:v4:confirm".into(), "apt:01KA:v4:cancel".into()],
    };
    sender
        .send(&message(Channel::Whatsapp, "+905321234567", Some(call)))
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&provider.last().body).unwrap();
    // https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates (quick-reply buttons)
    assert_eq!(
        body["template"]["components"],
        json!([
            { "type": "body", "parameters": [{ "type": "text", "text": "Ayşe" }] },
            { "type": "button", "sub_type": "quick_reply", "index": "0",
              "parameters": [{ "type": "payload", "payload": "apt:01KA:v4:confirm" }] },
            { "type": "button", "sub_type": "quick_reply", "index": "1",
              "parameters": [{ "type": "payload", "payload": "apt:01KA:v4:cancel" }] }
        ])
    );
}

#[tokio::test]
async fn whatsapp_answers_inside_the_window_are_reply_buttons() {
    let (provider, sender) = whatsapp().await;
    provider.answer(200, whatsapp_sent());
    let mut m = message(Channel::Whatsapp, "+905321234567", None);
    m.buttons = vec![
        clinicflow_core::message::Button {
            payload: "apt:01KA:v4:confirm".into(),
            title: "Onaylıyorum".into(),
        },
        clinicflow_core::message::Button {
            payload: "apt:01KA:v4:cancel".into(),
            title: "Gelemeyeceğim ama çok üzgünüm".into(),
        },
    ];
    sender.send(&m).await.unwrap();
    let body: Value = serde_json::from_slice(&provider.last().body).unwrap();
    // https://developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-reply-buttons-messages
    assert_eq!(
        body,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "905321234567",
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": { "text": "Merhaba Ayşe, Elif sizi arayacak." },
                "action": { "buttons": [
                    { "type": "reply", "reply": { "id": "apt:01KA:v4:confirm", "title": "Onaylıyorum" } },
                    { "type": "reply", "reply": { "id": "apt:01KA:v4:cancel", "title": "Gelemeyeceğim ama ço" } }
                ] }
            }
        })
    );
}

#[tokio::test]
async fn the_scheduler_callback_is_signed_named_and_retried_on_5xx() {
    use clinicflow_channels::callback::CallbackPoster;
    use hmac::{KeyInit, Mac};
    let (provider, base) = Provider::start().await;
    let poster = CallbackPoster::new(http::client().unwrap(), "callback-secret".into());
    let mut m = message(Channel::Webhook, &format!("{base}/hooks/clinicflow"), None);
    m.body = r#"{"event":"appointment.confirmed","appointment":"01KA"}"#.into();
    provider.answer(204, Value::Null);
    let receipt = poster.send(&m).await.unwrap();
    assert_eq!(receipt.provider_id, m.id.as_str());
    let seen = provider.last();
    assert_eq!(seen.path, "/hooks/clinicflow");
    assert_eq!(seen.headers["x-clinicflow-event-id"], m.id.as_str());
    assert_eq!(seen.body, m.body.as_bytes());
    let timestamp = seen.headers["x-clinicflow-timestamp"].to_str().unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"callback-secret").unwrap();
    mac.update(format!("{timestamp}.{}", m.body).as_bytes());
    assert_eq!(
        seen.headers["x-clinicflow-signature-256"],
        format!("sha256={}", hex::encode(mac.finalize().into_bytes())).as_str()
    );
    provider.answer(503, Value::Null);
    assert!(matches!(
        poster.send(&m).await,
        Err(SendError::Retryable { .. })
    ));
    provider.answer(400, Value::Null);
    assert!(matches!(
        poster.send(&m).await,
        Err(SendError::Permanent { .. })
    ));
}
