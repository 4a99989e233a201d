//! Real channels end to end: the `clinicflow` binary sends through a local
//! server that speaks the WhatsApp Cloud API and Twilio's Messages API,
//! and receives their webhooks, signed as the providers sign them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine;
use common::{
    Server, TOKEN, client, eventually, lead, post_form, post_meta_signed, staff_get, staff_post,
};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

const PHONE_NUMBER_ID: &str = "106540352242922";
const APP_SECRET: &str = "meta-app-secret-for-tests";
const VERIFY_TOKEN: &str = "verify-me-please";
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "twilio-auth-token-for-tests";

/// A form body as name/value pairs.
type Form = Vec<(String, String)>;

/// What the providers' server received, in order.
#[derive(Clone, Default)]
struct Providers {
    whatsapp: Arc<Mutex<Vec<Value>>>,
    sms: Arc<Mutex<Vec<Form>>>,
    /// Twilio answers 429 (error 20429) to this many sends first.
    sms_busy: Arc<Mutex<u32>>,
}

impl Providers {
    async fn start() -> (Providers, String) {
        let providers = Providers::default();
        let (wa, sms) = (providers.clone(), providers.clone());
        let app = Router::new()
            .route(
                "/v23.0/{number}/messages",
                post(move |Path(number): Path<String>, headers: HeaderMap, body: Bytes| {
                    let wa = wa.clone();
                    async move {
                        assert_eq!(number, PHONE_NUMBER_ID);
                        assert_eq!(headers["authorization"], "Bearer wa-access-token");
                        let body: Value = serde_json::from_slice(&body).unwrap();
                        let mut seen = wa.whatsapp.lock().unwrap();
                        seen.push(body.clone());
                        let id = format!("wamid.TEST{}", seen.len());
                        axum::Json(json!({
                            "messaging_product": "whatsapp",
                            "contacts": [{ "input": body["to"], "wa_id": body["to"] }],
                            "messages": [{ "id": id }]
                        }))
                    }
                }),
            )
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(move |Path(sid): Path<String>, headers: HeaderMap, body: Bytes| {
                    let sms = sms.clone();
                    async move {
                        assert_eq!(sid, ACCOUNT_SID);
                        let basic = base64::engine::general_purpose::STANDARD
                            .encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
                        assert_eq!(headers["authorization"], format!("Basic {basic}").as_str());
                        {
                            let mut busy = sms.sms_busy.lock().unwrap();
                            if *busy > 0 {
                                *busy -= 1;
                                return (
                                    StatusCode::TOO_MANY_REQUESTS,
                                    axum::Json(json!({"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429})),
                                )
                                    .into_response();
                            }
                        }
                        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
                        let mut seen = sms.sms.lock().unwrap();
                        seen.push(form);
                        let sid = format!("SM{:032}", seen.len());
                        (StatusCode::CREATED, axum::Json(json!({ "sid": sid, "status": "queued" }))).into_response()
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (providers, base)
    }

    fn whatsapp(&self) -> Vec<Value> {
        self.whatsapp.lock().unwrap().clone()
    }

    fn sms(&self) -> Vec<Form> {
        self.sms.lock().unwrap().clone()
    }
}

fn config(data_dir: &std::path::Path, providers: &str, order: &str) -> String {
    format!(
        r#"
[local]
port = 0
data_dir = "{data}"
queue_visibility = "2s"
timer_tick = "200ms"
tuning = {{ lease = "2s", safety_net = "2s", retry_base = "1s" }}

[[tenants]]
id = "clinic"
name = "Test Clinic"
default_language = "tr"
staff_tokens = ["{TOKEN}"]
sla = {{ first_contact = "1h", reassign_after = "2h" }}

[tenants.messaging]
order = {order}
opt_out = {{ stop = {{ tr = ["IPTAL", "DUR"] }} }}

[tenants.whatsapp]
phone_number_id = "{PHONE_NUMBER_ID}"
access_token = "env:CF_TEST_WA_TOKEN"
app_secret = "env:CF_TEST_WA_APP_SECRET"
verify_token = "env:CF_TEST_WA_VERIFY_TOKEN"
api_url = "{providers}/v23.0"

[tenants.whatsapp.templates.greeting]
name = "greeting_v1"
params = ["first_name", "consultant"]

[tenants.sms]
account_sid = "{ACCOUNT_SID}"
auth_token = "env:CF_TEST_TWILIO_TOKEN"
from = "+15005550006"
api_url = "{providers}"

[[tenants.managers]]
id = "manager"
name = "Selin Kaya"
phone = "+90 532 000 00 01"

[[tenants.branches]]
id = "main"
name = "Main"
time_zone = "Europe/Istanbul"
phone_region = "TR"
opening_hours = ["daily 00:00-24:00"]

[[tenants.consultants]]
id = "ayse"
name = "Ayşe Demir"
branch = "main"
languages = ["tr", "en"]
shifts = ["daily 00:00-24:00"]

[[tenants.forms]]
id = "web"
"#,
        data = data_dir.display()
    )
}

const ENV: &[(&str, &str)] = &[
    ("CF_TEST_WA_TOKEN", "wa-access-token"),
    ("CF_TEST_WA_APP_SECRET", APP_SECRET),
    ("CF_TEST_WA_VERIFY_TOKEN", VERIFY_TOKEN),
    ("CF_TEST_TWILIO_TOKEN", AUTH_TOKEN),
];

/// Posts a WhatsApp notification signed with the app secret, as Meta does.
async fn whatsapp_webhook(server: &Server, value: Value, secret: &str) -> u16 {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "value": value, "field": "messages" }] }]
    })
    .to_string();
    post_meta_signed(server, "/webhooks/whatsapp/clinic", body, secret)
        .await
        .0
}

fn text_from(phone: &str, id: &str, text: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
        "contacts": [{ "profile": { "name": "Zeynep" }, "wa_id": phone }],
        "messages": [{
            "from": phone, "id": id, "timestamp": jiff::Timestamp::now().as_second().to_string(),
            "type": "text", "text": { "body": text }
        }]
    })
}

fn status_of(id: &str, status: &str, errors: Value) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
        "statuses": [{
            "id": id, "status": status, "recipient_id": "905321234567",
            "timestamp": jiff::Timestamp::now().as_second().to_string(), "errors": errors
        }]
    })
}

/// Twilio's signature: base64 HMAC-SHA1 over the URL and the sorted parameters.
fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(AUTH_TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn twilio_webhook(server: &Server, params: &[(&str, &str)]) -> u16 {
    let url = server.url("/webhooks/twilio/clinic");
    client()
        .post(&url)
        .header("x-twilio-signature", twilio_signature(&url, params))
        .form(params)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn message_of(
    server: &Server,
    lead_id: &str,
    pred: impl Fn(&Value) -> bool,
) -> Option<Value> {
    lead(server, lead_id).await["messages"]
        .as_array()?
        .iter()
        .find(|m| pred(m))
        .cloned()
}

#[tokio::test]
async fn whatsapp_window_failures_panel_and_opt_out() {
    let (providers, base) = Providers::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        dir.path(),
        &config(&dir.path().join("data"), &base, r#"["whatsapp"]"#),
        ENV,
    );
    let wait = Duration::from_secs(20);

    // Meta's verification handshake.
    let verify = |token: &str| {
        server.url(&format!(
            "/webhooks/whatsapp/clinic?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        ))
    };
    let r = client().get(verify(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "1158201444");
    assert_eq!(
        client().get(verify("wrong")).send().await.unwrap().status(),
        403
    );

    // A form lead: the window is closed, so the greeting is the template.
    let (status, body) = post_form(
        &server,
        "web",
        &[("name", "Zeynep Ak"), ("phone", "0532 111 22 33")],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let lead_id = body["id"].as_str().unwrap().to_owned();
    let greeting = eventually(&server, "the greeting sent", wait, || async {
        message_of(&server, &lead_id, |m| {
            m["kind"] == "greeting" && m["status"] == "sent"
        })
        .await
    })
    .await;
    assert_eq!(greeting["template"], "greeting_v1");
    let sent = providers.whatsapp();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["type"], "template");
    assert_eq!(sent[0]["to"], "905321112233");
    assert_eq!(sent[0]["template"]["name"], "greeting_v1");
    assert_eq!(
        sent[0]["template"]["components"][0]["parameters"],
        json!([{ "type": "text", "text": "Zeynep" }, { "type": "text", "text": "Ayşe" }])
    );
    let wamid = greeting["provider_id"].as_str().unwrap().to_owned();

    // A bad signature is refused and nothing is stored.
    assert_eq!(
        whatsapp_webhook(
            &server,
            status_of(&wamid, "failed", json!([])),
            "not-the-secret"
        )
        .await,
        401
    );
    let r = client()
        .post(server.url("/webhooks/whatsapp/clinic"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // WhatsApp reports the greeting undeliverable: it shows in the panel.
    let failure = json!([{ "code": 131026, "title": "Message undeliverable", "message": "Message undeliverable" }]);
    assert_eq!(
        whatsapp_webhook(&server, status_of(&wamid, "failed", failure), APP_SECRET).await,
        200
    );
    let failed = eventually(&server, "the failure in the panel", wait, || async {
        let (_, page) = staff_get(&server, TOKEN, "/v1/messages?status=failed&handled=false").await;
        page["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    assert_eq!(failed["id"], greeting["id"]);
    assert_eq!(failed["error_code"], "131026");
    assert_eq!(failed["error_reason"], "Message undeliverable");
    assert_eq!(failed["channel"], "whatsapp");

    // Staff correct the number and resend: a new attempt, linked.
    let (status, body) = client()
        .put(server.url(&format!("/v1/leads/{lead_id}/phone")))
        .bearer_auth(TOKEN)
        .json(&json!({ "phone": "+90 532 444 55 66", "by": "ayse" }))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 200, "{:?}", body.text().await);
    let failed_id = failed["id"].as_str().unwrap();
    let (status, resent) = staff_post(
        &server,
        TOKEN,
        &format!("/v1/leads/{lead_id}/messages/{failed_id}/resend"),
        json!({}),
    )
    .await;
    assert_eq!(status, 202, "{resent}");
    assert_eq!(resent["previous"], failed["id"]);
    assert_eq!(resent["to"], "+905324445566");
    // Asked again (a double click): the same attempt, nothing new queued.
    let (status, again) = staff_post(
        &server,
        TOKEN,
        &format!("/v1/leads/{lead_id}/messages/{failed_id}/resend"),
        json!({}),
    )
    .await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["id"], resent["id"]);
    eventually(&server, "the resend sent", wait, || async {
        (providers.whatsapp().len() == 2).then_some(())
    })
    .await;
    assert_eq!(providers.whatsapp()[1]["to"], "905324445566");
    assert_eq!(providers.whatsapp()[1]["type"], "template");
    let (_, open) = staff_get(&server, TOKEN, "/v1/messages?status=failed&handled=false").await;
    assert_eq!(open["items"], json!([]));
    let (_, handled) = staff_get(&server, TOKEN, "/v1/messages?status=failed&handled=true").await;
    assert_eq!(handled["items"][0]["handled_via"], "resent");
    assert_eq!(handled["items"][0]["next"], resent["id"]);

    // Outside the window a free-form reply has no channel.
    let (status, body) = staff_post(
        &server,
        TOKEN,
        &format!("/v1/leads/{lead_id}/messages"),
        json!({ "text": "Yarın 10:00 uygun mu?" }),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // The patient writes: a touch, the window opens, and a reply goes free-form.
    let inbound = text_from(
        "905324445566",
        "wamid.IN1",
        "Merhaba, randevu almak istiyorum",
    );
    for _ in 0..3 {
        // Delivered three times, handled once.
        assert_eq!(
            whatsapp_webhook(&server, inbound.clone(), APP_SECRET).await,
            200
        );
    }
    eventually(&server, "the inbound touch", wait, || async {
        let l = lead(&server, &lead_id).await;
        (l["touches"].as_array().map_or(0, Vec::len) >= 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        lead(&server, &lead_id).await["touches"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, reply) = staff_post(
        &server,
        TOKEN,
        &format!("/v1/leads/{lead_id}/messages"),
        json!({ "text": "Yarın 10:00 uygun mu?" }),
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    eventually(&server, "the reply sent", wait, || async {
        (providers.whatsapp().len() == 3).then_some(())
    })
    .await;
    let free_form = &providers.whatsapp()[2];
    assert_eq!(free_form["type"], "text");
    assert_eq!(free_form["text"]["body"], "Yarın 10:00 uygun mu?");

    // Statuses out of order and repeated leave it read.
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    let sent_reply = eventually(&server, "the reply recorded as sent", wait, || async {
        message_of(&server, &lead_id, |m| {
            m["id"] == reply_id.as_str() && m["status"] == "sent"
        })
        .await
    })
    .await;
    let reply_wamid = sent_reply["provider_id"].as_str().unwrap();
    for s in ["read", "delivered", "delivered", "read", "sent"] {
        assert_eq!(
            whatsapp_webhook(&server, status_of(reply_wamid, s, json!([])), APP_SECRET).await,
            200
        );
    }
    eventually(&server, "the reply read", wait, || async {
        message_of(&server, &lead_id, |m| {
            m["id"] == reply_id.as_str() && m["status"] == "read"
        })
        .await
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = message_of(&server, &lead_id, |m| m["id"] == reply_id.as_str())
        .await
        .unwrap();
    assert_eq!(after["status"], "read");

    // STOP blocks promotional messages, not operational ones.
    assert_eq!(
        whatsapp_webhook(
            &server,
            text_from("905324445566", "wamid.IN2", "IPTAL"),
            APP_SECRET
        )
        .await,
        200
    );
    let refused = eventually(&server, "the opt-out applied", wait, || async {
        let (status, body) = staff_post(
            &server,
            TOKEN,
            &format!("/v1/leads/{lead_id}/messages"),
            json!({ "text": "Kampanya: %20 indirim", "purpose": "promotional" }),
        )
        .await;
        (status == 409).then_some(body)
    })
    .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("opted out"),
        "{refused}"
    );
    let (status, _) = staff_post(
        &server,
        TOKEN,
        &format!("/v1/leads/{lead_id}/messages"),
        json!({ "text": "Randevunuz yarın 10:00" }),
    )
    .await;
    assert_eq!(status, 202);
    eventually(&server, "the operational message sent", wait, || async {
        (providers.whatsapp().len() == 4).then_some(())
    })
    .await;

    // A new number writes with a click-to-chat reference: a new lead,
    // attributed, greeted free-form inside the window it opened.
    let click = text_from(
        "905327778899",
        "wamid.IN3",
        "Merhaba! Bilgi almak istiyorum (ref: IG-IMPLANT-11)",
    );
    assert_eq!(whatsapp_webhook(&server, click, APP_SECRET).await, 200);
    let new_lead = eventually(&server, "the lead from WhatsApp", wait, || async {
        let (_, page) = staff_get(&server, TOKEN, "/v1/leads").await;
        page["items"]
            .as_array()?
            .iter()
            .find(|l| l["source"] == "whatsapp")
            .cloned()
    })
    .await;
    assert_eq!(new_lead["attribution"]["utm_campaign"], "IG-IMPLANT-11");
    eventually(&server, "the free-form greeting", wait, || async {
        providers
            .whatsapp()
            .iter()
            .any(|m| m["to"] == "905327778899" && m["type"] == "text")
            .then_some(())
    })
    .await;
    assert!(
        !server.log_text().contains("905324445566"),
        "a phone number in the log"
    );
}

#[tokio::test]
async fn sms_through_twilio_with_retries_status_callbacks_and_opt_out() {
    let (providers, base) = Providers::start().await;
    *providers.sms_busy.lock().unwrap() = 1;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        dir.path(),
        &config(&dir.path().join("data"), &base, r#"["sms"]"#),
        ENV,
    );
    let wait = Duration::from_secs(20);
    let (status, body) = post_form(
        &server,
        "web",
        &[("name", "Can Er"), ("phone", "0532 999 88 77")],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let lead_id = body["id"].as_str().unwrap().to_owned();
    // Twilio's first answer is 429: retried after the backoff, sent once.
    let greeting = eventually(&server, "the greeting sent by SMS", wait, || async {
        message_of(&server, &lead_id, |m| {
            m["kind"] == "greeting" && m["status"] == "sent"
        })
        .await
    })
    .await;
    assert_eq!(greeting["attempts"], 2);
    let sent = providers.sms();
    assert_eq!(sent.len(), 1);
    let to = sent[0]
        .iter()
        .find(|(k, _)| k == "To")
        .map(|(_, v)| v.as_str());
    assert_eq!(to, Some("+905329998877"));
    let sid = greeting["provider_id"].as_str().unwrap().to_owned();

    // A forged callback is refused; a signed one moves the ledger.
    let r = client()
        .post(server.url("/webhooks/twilio/clinic"))
        .header("x-twilio-signature", "bm90IGEgc2lnbmF0dXJl")
        .form(&[("MessageSid", sid.as_str()), ("MessageStatus", "delivered")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let params = [
        ("MessageSid", sid.as_str()),
        ("MessageStatus", "delivered"),
        ("AccountSid", ACCOUNT_SID),
    ];
    assert_eq!(twilio_webhook(&server, &params).await, 200);
    eventually(&server, "delivered", wait, || async {
        message_of(&server, &lead_id, |m| {
            m["kind"] == "greeting" && m["status"] == "delivered"
        })
        .await
    })
    .await;

    // DUR (a Turkish stop word) by SMS: promotional SMS are refused.
    let stop = [
        ("MessageSid", "SM00000000000000000000000000000099"),
        ("From", "+905329998877"),
        ("To", "+15005550006"),
        ("Body", "Dur"),
        ("AccountSid", ACCOUNT_SID),
    ];
    assert_eq!(twilio_webhook(&server, &stop).await, 200);
    eventually(&server, "the opt-out applied", wait, || async {
        let (status, _) = staff_post(
            &server,
            TOKEN,
            &format!("/v1/leads/{lead_id}/messages"),
            json!({ "text": "Kampanya", "purpose": "promotional" }),
        )
        .await;
        (status == 409).then_some(())
    })
    .await;
}

/// The clinic of `config` with appointments whose journey runs in seconds:
/// the confirmation 25 seconds before the start (as WhatsApp's approved
/// template with quick-reply buttons outside the window), the survey 2
/// seconds after completion; an "east" branch whose patients get SMS.
fn appointments_config(data_dir: &std::path::Path, providers: &str) -> String {
    format!(
        r#"{}
[tenants.appointments]
send_hours = "00:00-24:00"

[tenants.journeys.appointment_confirmation]
before = "25s"
min_lead = "3s"
[tenants.journeys.appointment_nudge]
enabled = false
[tenants.journeys.appointment_reminder]
enabled = false
[tenants.journeys.satisfaction_survey]
delay = "2s"

[tenants.whatsapp.templates.appointment_confirmation]
name = "appt_confirm_v1"
params = ["first_name", "date", "time"]
buttons = ["confirm", "reschedule", "cancel"]

[[tenants.branches]]
id = "east"
name = "East"
time_zone = "Europe/Istanbul"
phone_region = "TR"
opening_hours = ["daily 00:00-24:00"]
channels = ["sms"]

[[tenants.practitioners]]
id = "dr-a"
name = "Dr. Ada Kaya"
branch = "main"

[[tenants.practitioners]]
id = "dr-b"
name = "Dr. Berk Ak"
branch = "east"

[[tenants.services]]
id = "consult"
name = "Muayene"
"#,
        config(data_dir, providers, r#"["whatsapp", "sms"]"#)
    )
}

/// Puts an appointment for `phone` with `practitioner` at `location`,
/// starting `in_secs` from now, through the FHIR upsert; its id.
async fn book(
    server: &Server,
    n: &str,
    phone: &str,
    practitioner: &str,
    location: &str,
    in_secs: i64,
) -> String {
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(in_secs);
    let body = json!({
        "resourceType": "Appointment",
        "identifier": [{ "system": "https://mis.example", "value": n }],
        "status": "booked",
        "serviceType": [{ "coding": [{ "code": "consult" }] }],
        "start": start.to_string(),
        "end": (start + jiff::SignedDuration::from_mins(30)).to_string(),
        "contained": [{ "resourceType": "Patient", "id": "p", "name": [{ "text": "Zeynep Ak" }],
                        "telecom": [{ "system": "phone", "value": phone }] }],
        "participant": [
            { "actor": { "reference": "#p" }, "status": "needs-action" },
            { "actor": { "reference": format!("Practitioner/{practitioner}") } },
            { "actor": { "reference": format!("Location/{location}") } }
        ]
    });
    let r = client()
        .put(server.url(&format!(
            "/fhir/Appointment?identifier=https://mis.example|{n}"
        )))
        .bearer_auth(TOKEN)
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["etag"], "W/\"1\"");
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    location.split('/').nth(3).unwrap().to_owned()
}

async fn appointment(server: &Server, id: &str) -> Value {
    staff_get(server, TOKEN, &format!("/v1/appointments/{id}"))
        .await
        .1
}

#[tokio::test]
async fn appointments_are_confirmed_by_whatsapp_button_and_by_sms() {
    let (providers, base) = Providers::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        dir.path(),
        &appointments_config(&dir.path().join("data"), &base),
        ENV,
    );
    let wait = Duration::from_secs(40);

    // Bad input names the element; nothing is stored.
    let bad = client()
        .put(server.url("/fhir/Appointment?identifier=https://mis.example|bad"))
        .bearer_auth(TOKEN)
        .body(r#"{"resourceType":"Appointment","status":"no-show","start":"2026-12-03T10:00:00"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let outcome: Value = bad.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let paths: Vec<&str> = outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["expression"][0].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"Appointment.status") && paths.contains(&"Appointment.start"),
        "{outcome}"
    );
    let unauthorised = client()
        .put(server.url("/fhir/Appointment?identifier=a|b"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), 401);
    let stale = client()
        .put(server.url("/fhir/Appointment?identifier=https://mis.example|nothing"))
        .bearer_auth(TOKEN)
        .header("if-match", "W/\"7\"")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);

    // WhatsApp: the confirmation is the approved template, its buttons our payloads.
    let a = book(&server, "A-1", "+905321112233", "dr-a", "main", 35).await;
    let sent = eventually(&server, "the confirmation template", wait, || async {
        providers
            .whatsapp()
            .into_iter()
            .find(|b| b["template"]["name"] == "appt_confirm_v1")
    })
    .await;
    let components = sent["template"]["components"].as_array().unwrap();
    assert_eq!(components[1]["sub_type"], "quick_reply");
    let confirm = components
        .iter()
        .filter_map(|c| c["parameters"][0]["payload"].as_str())
        .find(|p| p.ends_with(":confirm"))
        .unwrap()
        .to_owned();
    assert_eq!(confirm, format!("apt:{a}:v1:confirm"));
    let confirmation = eventually(
        &server,
        "the confirmation recorded as sent",
        wait,
        || async {
            appointment(&server, &a).await["messages"]
                .as_array()?
                .iter()
                .find(|m| m["kind"] == "appointment_confirmation" && m["status"] == "sent")
                .cloned()
        },
    )
    .await;
    let wamid = confirmation["provider_id"].as_str().unwrap().to_owned();
    // The patient taps "Onaylıyorum".
    let tap = json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
        "contacts": [{ "profile": { "name": "Zeynep" }, "wa_id": "905321112233" }],
        "messages": [{
            "context": { "from": "15550783881", "id": wamid },
            "from": "905321112233", "id": "wamid.TAP1", "timestamp": jiff::Timestamp::now().as_second().to_string(),
            "type": "button", "button": { "payload": confirm, "text": "Onaylıyorum" }
        }]
    });
    assert_eq!(
        whatsapp_webhook(&server, tap.clone(), APP_SECRET).await,
        200
    );
    assert_eq!(whatsapp_webhook(&server, tap, APP_SECRET).await, 200);
    eventually(&server, "the appointment confirmed", wait, || async {
        (appointment(&server, &a).await["confirmation"] == "accepted").then_some(())
    })
    .await;
    // The answer goes free-form: the tap opened WhatsApp's window.
    let thanks = eventually(&server, "the thanks", wait, || async {
        providers.whatsapp().into_iter().find(|b| {
            b["type"] == "text"
                && b["text"]["body"]
                    .as_str()
                    .is_some_and(|t| t.contains("onaylandı"))
        })
    })
    .await;
    assert_eq!(thanks["to"], "905321112233");

    // Completed: aftercare at once, the survey two seconds later; the
    // patient's "5" quoting it is the visit's score.
    let (status, _) = staff_post(
        &server,
        TOKEN,
        &format!("/v1/appointments/{a}/status"),
        json!({"status": "fulfilled"}),
    )
    .await;
    assert_eq!(status, 200);
    let survey = eventually(&server, "the survey", wait, || async {
        appointment(&server, &a).await["messages"]
            .as_array()?
            .iter()
            .find(|m| m["kind"] == "survey" && m["status"] == "sent")
            .cloned()
    })
    .await;
    let reply = json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
        "contacts": [{ "profile": { "name": "Zeynep" }, "wa_id": "905321112233" }],
        "messages": [{
            "context": { "from": "15550783881", "id": survey["provider_id"] },
            "from": "905321112233", "id": "wamid.SCORE1", "timestamp": jiff::Timestamp::now().as_second().to_string(),
            "type": "text", "text": { "body": "5" }
        }]
    });
    assert_eq!(whatsapp_webhook(&server, reply, APP_SECRET).await, 200);
    let scored = eventually(&server, "the score", wait, || async {
        let d = appointment(&server, &a).await;
        d["survey"]["score"].as_u64()
    })
    .await;
    assert_eq!(scored, 5);

    // SMS (the east branch's order): the confirmation carries the reply
    // words; "1" confirms.
    let b = book(&server, "B-1", "+905324445566", "dr-b", "east", 35).await;
    let sms = eventually(&server, "the confirmation SMS", wait, || async {
        providers.sms().into_iter().find(|f| {
            f.iter()
                .any(|(k, v)| k == "Body" && v.contains("1 = Onaylıyorum"))
        })
    })
    .await;
    assert!(sms.iter().any(|(k, v)| k == "To" && v == "+905324445566"));
    assert_eq!(
        twilio_webhook(
            &server,
            &[
                ("MessageSid", "SMin1"),
                ("From", "+905324445566"),
                ("To", "+15005550006"),
                ("Body", "1")
            ]
        )
        .await,
        200
    );
    eventually(&server, "the SMS answer recorded", wait, || async {
        (appointment(&server, &b).await["confirmation"] == "accepted").then_some(())
    })
    .await;
    let plan = appointment(&server, &b).await["plan"].clone();
    assert!(
        plan.as_array()
            .unwrap()
            .iter()
            .any(|p| p["rule"] == "appointment_confirmation"
                && p["state"] == "sent"
                && p["channel"] == "sms"),
        "{plan:#}"
    );
    assert!(
        !server.log_text().contains("5324445566"),
        "no phone number in the log"
    );
}

/// A patient's WhatsApp message, as the Cloud API notifies it.
fn patient_writes(from: &str, id: &str, message: Value) -> Value {
    let mut message = message;
    message["from"] = json!(from);
    message["id"] = json!(id);
    message["timestamp"] = json!(jiff::Timestamp::now().as_second().to_string());
    json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
        "contacts": [{ "profile": { "name": "Patient" }, "wa_id": from }],
        "messages": [message]
    })
}

async fn lead_by_phone(server: &Server, phone: &str) -> Option<Value> {
    let (_, page) = staff_get(server, TOKEN, "/v1/leads").await;
    let id = page["items"]
        .as_array()?
        .iter()
        .find(|l| l["phone"] == phone)?["id"]
        .as_str()?
        .to_owned();
    Some(lead(server, &id).await)
}

#[tokio::test]
async fn a_whatsapp_lead_of_no_known_language_is_asked_and_assigned_on_the_answer_or_the_wait() {
    let (providers, base) = Providers::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The clinic serves tr, en and ru (Olga's); it asks, and waits 3 s.
    let config = config(&dir.path().join("data"), &base, r#"["whatsapp"]"#)
        .replace(
            "[[tenants.forms]]",
            "[[tenants.consultants]]\nid = \"olga\"\nname = \"Olga Petrova\"\nbranch = \"main\"\nlanguages = [\"ru\"]\nshifts = [\"daily 00:00-24:00\"]\n\n[[tenants.forms]]",
        )
        .replace(
            "[tenants.messaging]",
            "[tenants.language_question]\nwait = \"3s\"\n\n[tenants.messaging]",
        );
    let server = Server::start_with_env(dir.path(), &config, ENV);
    let wait = Duration::from_secs(20);

    // "Hello" from a British number: English is only the phone's hint.
    let hello = patient_writes(
        "447911123456",
        "wamid.Q1",
        json!({ "type": "text", "text": { "body": "Hello" } }),
    );
    assert_eq!(whatsapp_webhook(&server, hello, APP_SECRET).await, 200);
    let asked = eventually(&server, "the language question sent", wait, || async {
        providers
            .whatsapp()
            .into_iter()
            .find(|m| m["to"] == "447911123456")
    })
    .await;
    assert_eq!(asked["type"], "interactive");
    let buttons = asked["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap();
    let titles: Vec<&str> = buttons
        .iter()
        .map(|b| b["reply"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Türkçe", "English", "Русский"]);
    let body = asked["interactive"]["body"]["text"].as_str().unwrap();
    assert!(
        body.contains("hangi dilde") && body.contains("which language"),
        "{body}"
    );
    let waiting = lead_by_phone(&server, "+447911123456").await.unwrap();
    assert!(waiting.get("owner").is_none(), "{waiting}");
    assert!(waiting["language_asked_at"].is_string(), "{waiting}");

    // The patient taps "Русский": the lead is Russian (chosen) and Olga's.
    let tap = patient_writes(
        "447911123456",
        "wamid.Q2",
        json!({ "type": "interactive", "interactive": {
            "type": "button_reply", "button_reply": { "id": "lang.ru", "title": "Русский" }
        } }),
    );
    assert_eq!(whatsapp_webhook(&server, tap, APP_SECRET).await, 200);
    let chosen = eventually(&server, "the lead assigned in Russian", wait, || async {
        let l = lead_by_phone(&server, "+447911123456").await?;
        l["owner"].is_object().then_some(l)
    })
    .await;
    assert_eq!(chosen["language"], "ru");
    assert_eq!(chosen["language_source"], "chosen");
    assert_eq!(chosen["owner"]["consultant"], "olga");
    let greeting = eventually(&server, "the Russian greeting", wait, || async {
        providers.whatsapp().into_iter().find(|m| {
            m["to"] == "447911123456"
                && m["text"]["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with("Здравствуйте"))
        })
    })
    .await;
    assert_eq!(greeting["type"], "text");

    // Asked, the patient writes a sentence instead: its language (the
    // phone's hint, confirmed) is the lead's, from the message.
    let privet = patient_writes(
        "79123456789",
        "wamid.Q5",
        json!({ "type": "text", "text": { "body": "Hi" } }),
    );
    assert_eq!(whatsapp_webhook(&server, privet, APP_SECRET).await, 200);
    eventually(&server, "the second question", wait, || async {
        providers
            .whatsapp()
            .into_iter()
            .find(|m| m["to"] == "79123456789" && m["type"] == "interactive")
    })
    .await;
    let sentence = patient_writes(
        "79123456789",
        "wamid.Q6",
        json!({ "type": "text", "text": { "body": "Здравствуйте, сколько стоит имплант?" } }),
    );
    assert_eq!(whatsapp_webhook(&server, sentence, APP_SECRET).await, 200);
    let told = eventually(&server, "the lead told by a sentence", wait, || async {
        let l = lead_by_phone(&server, "+79123456789").await?;
        l["owner"].is_object().then_some(l)
    })
    .await;
    assert_eq!(told["language"], "ru");
    assert_eq!(told["language_source"], "message");
    assert_eq!(told["owner"]["consultant"], "olga");

    // A Turkish number writing "Merhaba" to a Turkish clinic is not asked.
    let local = patient_writes(
        "905321119988",
        "wamid.Q3",
        json!({ "type": "text", "text": { "body": "Merhaba" } }),
    );
    assert_eq!(whatsapp_webhook(&server, local, APP_SECRET).await, 200);
    let l = eventually(&server, "the local lead assigned", wait, || async {
        let l = lead_by_phone(&server, "+905321119988").await?;
        l["owner"].is_object().then_some(l)
    })
    .await;
    assert_eq!(l["language"], "tr");

    // Nobody answers: after the clinic's wait, the phone's hint stands.
    let hallo = patient_writes(
        "4930901850",
        "wamid.Q4",
        json!({ "type": "text", "text": { "body": "Hallo" } }),
    );
    let posted = std::time::Instant::now();
    assert_eq!(whatsapp_webhook(&server, hallo, APP_SECRET).await, 200);
    let unanswered = eventually(&server, "the unanswered lead assigned", wait, || async {
        let l = lead_by_phone(&server, "+4930901850").await?;
        l["owner"].is_object().then_some(l)
    })
    .await;
    assert!(posted.elapsed() >= Duration::from_secs(3));
    // German is not served; English, Germany's second, is: Ayşe's.
    assert_eq!(unanswered["language"], "en");
    assert_eq!(unanswered["language_source"], "phone_country");
    assert_eq!(unanswered["owner"]["consultant"], "ayse");
    assert!(
        providers
            .whatsapp()
            .iter()
            .any(|m| m["to"] == "4930901850" && m["type"] == "interactive")
    );
}
