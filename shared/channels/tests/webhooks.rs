//! Reading the providers' documented webhook payloads into our events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clinicflow_channels::{twilio, whatsapp};
use clinicflow_core::inbound::Inbound;
use clinicflow_core::message::{Channel, MessageStatus};
use serde_json::json;

const PHONE_NUMBER_ID: &str = "106540352242922";

fn notification(value: serde_json::Value) -> Vec<u8> {
    // https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{ "value": value, "field": "messages" }]
        }]
    })
    .to_string()
    .into_bytes()
}

fn metadata() -> serde_json::Value {
    json!({ "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID })
}

#[test]
fn a_whatsapp_text_message() {
    let body = notification(json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(),
        "contacts": [{ "profile": { "name": "Ayşe Yılmaz" }, "wa_id": "905321234567" }],
        "messages": [{
            "from": "905321234567",
            "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            "timestamp": "1749416383",
            "type": "text",
            "text": { "body": "Merhaba, implant fiyatı? (ref: IG-IMPLANT-11)" }
        }]
    }));
    let events = whatsapp::parse_webhook(&body, PHONE_NUMBER_ID).unwrap();
    let [Inbound::Message(m)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(m.channel, Channel::Whatsapp);
    assert_eq!(m.from, "+905321234567");
    assert_eq!(m.name.as_deref(), Some("Ayşe Yılmaz"));
    assert_eq!(m.text, "Merhaba, implant fiyatı? (ref: IG-IMPLANT-11)");
    assert_eq!(m.at.as_second(), 1749416383);
    assert_eq!(
        m.provider_id,
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    );
}

#[test]
fn a_click_to_whatsapp_ad_reply_carries_its_referral() {
    let body = notification(json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(),
        "contacts": [{ "profile": { "name": "Olga" }, "wa_id": "79161234567" }],
        "messages": [{
            "referral": {
                "source_url": "https://fb.me/3cr4Wqqkv",
                "source_id": "120226305854810726",
                "source_type": "ad",
                "headline": "Dental implants in Antalya",
                "media_type": "image",
                "ctwa_clid": "Afe_Rh3Fs2-jZ1q2ZEBUkZK5"
            },
            "from": "79161234567",
            "id": "wamid.HBgLNzkxNjEyMzQ1NjcVAgASGBQzQUI0",
            "timestamp": "1749416400",
            "type": "text",
            "text": { "body": "Здравствуйте" }
        }]
    }));
    let events = whatsapp::parse_webhook(&body, PHONE_NUMBER_ID).unwrap();
    let [Inbound::Message(m)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(m.referral.as_deref(), Some("120226305854810726"));
    assert_eq!(m.from, "+79161234567");
}

#[test]
fn whatsapp_statuses_delivered_read_and_failed() {
    let body = notification(json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(),
        "statuses": [
            {
                "id": "wamid.A", "status": "delivered", "timestamp": "1749416500",
                "recipient_id": "905321234567",
                "conversation": { "id": "c1", "origin": { "type": "utility" } },
                "pricing": { "billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular" }
            },
            { "id": "wamid.A", "status": "read", "timestamp": "1749416560", "recipient_id": "905321234567" },
            {
                "id": "wamid.B", "status": "failed", "timestamp": "1749416600", "recipient_id": "905321234568",
                "errors": [{
                    "code": 131026,
                    "title": "Message undeliverable",
                    "message": "Message undeliverable",
                    "error_data": { "details": "Message Undeliverable." },
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
                }]
            }
        ]
    }));
    let events = whatsapp::parse_webhook(&body, PHONE_NUMBER_ID).unwrap();
    let statuses: Vec<_> = events
        .iter()
        .map(|e| match e {
            Inbound::Status(s) => (s.provider_id.as_str(), s.status),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("wamid.A", MessageStatus::Delivered),
            ("wamid.A", MessageStatus::Read),
            ("wamid.B", MessageStatus::Failed)
        ]
    );
    let Inbound::Status(failed) = &events[2] else {
        unreachable!()
    };
    let error = failed.error.as_ref().unwrap();
    assert_eq!(error.code, "131026");
    assert_eq!(error.reason, "Message undeliverable");
    // Each status of a message is its own event.
    assert_ne!(events[0].event_id(), events[1].event_id());
}

#[test]
fn other_numbers_and_other_objects_are_not_ours() {
    let body = notification(json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "1555", "phone_number_id": "999" },
        "statuses": [{ "id": "wamid.X", "status": "sent", "timestamp": "1749416500", "recipient_id": "1" }]
    }));
    assert!(
        whatsapp::parse_webhook(&body, PHONE_NUMBER_ID)
            .unwrap()
            .is_empty()
    );
    let page = json!({ "object": "page", "entry": [] }).to_string();
    assert!(whatsapp::parse_webhook(page.as_bytes(), PHONE_NUMBER_ID).is_err());
    assert!(whatsapp::parse_webhook(b"not json", PHONE_NUMBER_ID).is_err());
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn a_twilio_incoming_sms() {
    // https://www.twilio.com/docs/messaging/guides/webhook-request
    let now = jiff::Timestamp::now();
    let event = twilio::parse_webhook(
        &params(&[
            ("ToCountry", "TR"),
            ("SmsMessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
            ("NumMedia", "0"),
            ("SmsSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
            ("SmsStatus", "received"),
            ("Body", "DUR"),
            ("To", "+908501234567"),
            ("NumSegments", "1"),
            ("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
            ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
            ("From", "+905321234567"),
            ("ApiVersion", "2010-04-01"),
        ]),
        now,
    )
    .unwrap();
    let Some(Inbound::Message(m)) = event else {
        panic!("{event:?}")
    };
    assert_eq!(m.channel, Channel::Sms);
    assert_eq!(m.text, "DUR");
    assert_eq!(m.from, "+905321234567");
    assert_eq!(m.provider_id, "SM1f0e8ae6ade43cb3c0ce4525424e404f");
}

#[test]
fn twilio_status_callbacks() {
    // https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
    let now = jiff::Timestamp::now();
    let delivered = twilio::parse_webhook(
        &params(&[
            ("MessageSid", "SMaaaa"),
            ("MessageStatus", "delivered"),
            ("SmsStatus", "delivered"),
            ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
            ("From", "+15005550006"),
            ("To", "+905321234567"),
        ]),
        now,
    )
    .unwrap();
    assert!(matches!(delivered, Some(Inbound::Status(s)) if s.status == MessageStatus::Delivered));
    let undelivered = twilio::parse_webhook(
        &params(&[
            ("MessageSid", "SMaaaa"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
        ]),
        now,
    )
    .unwrap();
    let Some(Inbound::Status(s)) = undelivered else {
        panic!()
    };
    assert_eq!(s.status, MessageStatus::Failed);
    assert_eq!(s.error.unwrap().code, "30003");
    let queued = twilio::parse_webhook(
        &params(&[("MessageSid", "SMaaaa"), ("MessageStatus", "queued")]),
        now,
    )
    .unwrap();
    assert!(queued.is_none());
    assert!(twilio::parse_webhook(&params(&[("Body", "x")]), now).is_err());
}

#[test]
fn a_tap_on_a_template_button_carries_our_payload_and_the_message_it_answers() {
    // https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/messages/button
    let body = notification(json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(),
        "contacts": [{ "profile": { "name": "Ayşe" }, "wa_id": "905321112233" }],
        "messages": [{
            "context": { "from": "15550783881", "id": "wamid.OURTEMPLATE" },
            "from": "905321112233", "id": "wamid.TAP", "timestamp": "1771855045",
            "type": "button", "button": { "payload": "apt:01KA:v4:confirm", "text": "Onaylıyorum" }
        }]
    }));
    let events = whatsapp::parse_webhook(&body, PHONE_NUMBER_ID).unwrap();
    let [Inbound::Message(m)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(m.payload.as_deref(), Some("apt:01KA:v4:confirm"));
    assert_eq!(m.context.as_deref(), Some("wamid.OURTEMPLATE"));
    assert_eq!(m.text, "Onaylıyorum");
}

#[test]
fn a_tap_on_a_reply_button_carries_its_id() {
    // https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/messages/interactive
    let body = notification(json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(),
        "contacts": [{ "profile": { "name": "Ayşe" }, "wa_id": "905321112233" }],
        "messages": [{
            "context": { "from": "15550783881", "id": "wamid.OURBUTTONS" },
            "from": "905321112233", "id": "wamid.TAP2", "timestamp": "1771855045",
            "type": "interactive",
            "interactive": { "type": "button_reply", "button_reply": { "id": "apt:01KA:v4:cancel", "title": "İptal" } }
        }]
    }));
    let events = whatsapp::parse_webhook(&body, PHONE_NUMBER_ID).unwrap();
    let [Inbound::Message(m)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(m.payload.as_deref(), Some("apt:01KA:v4:cancel"));
    assert_eq!(m.text, "İptal");
}
