//! Leads from outside our forms, end to end over the real binary: Google
//! Ads lead forms (Google's documented webhook body, its key), Meta lead
//! ads (the Page webhook, signed, and a local server speaking the Graph
//! API that checks the requests), Instagram direct messages (signed, and a
//! local server speaking the Send API), a
//! switchboard's signed call records, and the language a lead is given
//! from what it carries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, TOKEN, client, eventually, lead, post_form, staff_get};
use serde_json::{Value, json};

const FORM_KEY: &str = "google-form-key-0123456789";
const TENANT_KEY: &str = "google-tenant-key-0123456789";
const CALLS_SECRET: &str = "switchboard-secret-0123456789";
const META_SECRET: &str = "meta-app-secret-for-tests";
const META_VERIFY: &str = "meta-verify-token";
const PAGE_TOKEN: &str = "page-access-token-for-tests";
const PAGE: &str = "153125381133";
const META_FORM: &str = "1202838450239489";

/// The common test clinic with two Google lead forms: one mapped (with
/// its own key and the campaign's language), the rest read with the
/// clinic's Google key; a Meta Page whose Graph API is at `graph`; a
/// switchboard.
fn config(dir: &std::path::Path, graph: &str) -> String {
    let lead_ads = r#"
[tenants.lead_ads]
google_key = "env:TEST_GOOGLE_KEY"

[tenants.lead_ads.meta]
app_secret = "env:TEST_META_SECRET"
verify_token = "env:TEST_META_VERIFY"
pages = { "153125381133" = "env:TEST_PAGE_TOKEN" }
api_url = "GRAPH"

[[tenants.lead_ads.forms]]
network = "meta"
id = "1202838450239489"
form = "web"
fields = { full_name = "name", phone_number = "phone", "which_treatment?" = "service" }

[[tenants.lead_ads.forms]]
network = "google"
id = "40000000001"
form = "web"
language = "en"
key = "env:TEST_GOOGLE_FORM_KEY"
fields = { FULL_NAME = "name", PHONE_NUMBER = "phone", EMAIL = "email", "which_treatment?" = "service" }

[tenants.calls]
signing_secret = "env:TEST_CALLS_SECRET"
agents = { "101" = "ayse" }

[[tenants]]
id = "other""#;
    common::config(dir, "1h", "2h").replacen(
        "\n[[tenants]]\nid = \"other\"",
        &lead_ads.replace("GRAPH", graph),
        1,
    )
}

fn start(dir: &std::path::Path) -> Server {
    start_with_graph(dir, "http://127.0.0.1:9/v23.0")
}

fn start_with_graph(dir: &std::path::Path, graph: &str) -> Server {
    Server::start_with_env(
        dir,
        &config(dir, graph),
        &[
            ("TEST_META_SECRET", META_SECRET),
            ("TEST_META_VERIFY", META_VERIFY),
            ("TEST_PAGE_TOKEN", PAGE_TOKEN),
            ("TEST_GOOGLE_KEY", TENANT_KEY),
            ("TEST_GOOGLE_FORM_KEY", FORM_KEY),
            ("TEST_CALLS_SECRET", CALLS_SECRET),
        ],
    )
}

/// Google's lead webhook body, as its documentation gives it.
fn google_lead(lead_id: &str, form_id: u64, key: &str, phone: &str, test: bool) -> Value {
    json!({
        "lead_id": lead_id,
        "user_column_data": [
            {"column_name": "Full Name", "string_value": "Anna Schmidt", "column_id": "FULL_NAME"},
            {"column_name": "User Phone", "string_value": phone, "column_id": "PHONE_NUMBER"},
            {"column_name": "Which treatment?", "string_value": "implant", "column_id": "which_treatment?"}
        ],
        "api_version": "1.0",
        "form_id": form_id,
        "campaign_id": 10000000007u64,
        "google_key": key,
        "is_test": test,
        "gcl_id": "EAIaIQobChMI-test",
        "adgroup_id": 20000000007u64,
        "creative_id": 30000000007u64
    })
}

async fn post_google(server: &Server, body: &Value) -> (u16, Value) {
    let r = client()
        .post(server.url("/webhooks/google/clinic"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn leads(server: &Server) -> Vec<Value> {
    let (status, page) = staff_get(server, TOKEN, "/v1/leads?limit=100").await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_lead_forms_make_one_lead_each_and_unmapped_forms_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());

    // Wrong and missing keys: 401, nothing stored.
    let mut wrong = google_lead("L-wrong", 40000000001, "not-the-key", "+4930901820", false);
    assert_eq!(post_google(&server, &wrong).await.0, 401);
    wrong["google_key"] = Value::Null;
    assert_eq!(post_google(&server, &wrong).await.0, 401);
    // The tenant's key does not open a form that has its own.
    let tenant_key = google_lead("L-wrong", 40000000001, TENANT_KEY, "+4930901820", false);
    assert_eq!(post_google(&server, &tenant_key).await.0, 401);
    let (status, body) = post_google(&server, &json!({"form_id": 1})).await;
    assert_eq!(status, 400, "{body}");

    // Two leads, the first delivered three times and out of order (one
    // copy after the second lead, two at once).
    let a = google_lead("L-A", 40000000001, FORM_KEY, "+4930901820", false);
    let b = google_lead("L-B", 40000000001, FORM_KEY, "+4930901821", false);
    assert_eq!(post_google(&server, &a).await.0, 200);
    assert_eq!(post_google(&server, &b).await.0, 200);
    let (first, second) = tokio::join!(post_google(&server, &a), post_google(&server, &a));
    assert_eq!((first.0, second.0), (200, 200));

    let made = eventually(
        &server,
        "two Google leads",
        Duration::from_secs(20),
        || async {
            let leads = leads(&server).await;
            let google: Vec<Value> = leads
                .into_iter()
                .filter(|l| l["source"] == "google_ads")
                .collect();
            (google.len() == 2 && google.iter().all(|l| l["owner"].is_object())).then_some(google)
        },
    )
    .await;
    let anna = made.iter().find(|l| l["phone"] == "+4930901820").unwrap();
    assert_eq!(anna["name"], "Anna Schmidt");
    assert_eq!(anna["service"], "implant");
    assert_eq!(anna["form"], "web");
    // The mapping's campaign language outranks the phone's country.
    assert_eq!(anna["language"], "en");
    assert_eq!(anna["language_source"], "campaign");
    let ad = &anna["attribution"]["ad"];
    assert_eq!(ad["campaign_id"], "10000000007");
    assert_eq!(ad["adset_id"], "20000000007");
    assert_eq!(ad["ad_id"], "30000000007");
    assert_eq!(ad["click_id"], "EAIaIQobChMI-test");
    assert_eq!(anna["attribution"]["utm_source"], "google_ads");
    // Delivered three times: one lead, one touch.
    let detail = lead(&server, anna["id"].as_str().unwrap()).await;
    assert_eq!(detail["touches"].as_array().unwrap().len(), 1, "{detail}");

    // A form nobody mapped (the tenant's key opens it): a lead all the
    // same, its raw answers on the touch, a task for the manager.
    let unmapped = google_lead("L-C", 40000000099, TENANT_KEY, "0532 123 45 67", false);
    assert_eq!(post_google(&server, &unmapped).await.0, 200);
    let kept = eventually(
        &server,
        "the unmapped lead",
        Duration::from_secs(20),
        || async {
            leads(&server)
                .await
                .into_iter()
                .find(|l| l["phone"] == "+905321234567")
        },
    )
    .await;
    assert_eq!(kept["source"], "google_ads");
    assert!(kept.get("form").is_none(), "{kept}");
    let detail = lead(&server, kept["id"].as_str().unwrap()).await;
    let touch = &detail["touches"][0];
    assert!(
        touch["message"]
            .as_str()
            .unwrap()
            .contains("which_treatment?: implant"),
        "{touch}"
    );
    let task = detail["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "unmapped_lead_form")
        .unwrap_or_else(|| panic!("no task: {detail}"));
    assert_eq!(task["assignee"], "manager");
    assert!(task["title"].as_str().unwrap().contains("40000000099"));

    // Google's test lead: answered, stored as the form's last test, no lead.
    let test = google_lead("TeSter-123", 40000000001, FORM_KEY, "+16505550123", true);
    assert_eq!(post_google(&server, &test).await.0, 200);
    let tests = eventually(
        &server,
        "the stored test",
        Duration::from_secs(20),
        || async {
            let (status, tests) = staff_get(&server, TOKEN, "/v1/lead-ads/tests").await;
            assert_eq!(status, 200);
            (tests.as_array().is_some_and(|t| !t.is_empty())).then_some(tests)
        },
    )
    .await;
    assert_eq!(tests[0]["form_id"], "40000000001");
    assert_eq!(tests[0]["form"], "web");
    assert_eq!(tests[0]["outcome"], "mapped");
    assert_eq!(
        tests[0]["questions"],
        json!(["FULL_NAME", "PHONE_NUMBER", "which_treatment?"])
    );
    assert!(
        !leads(&server)
            .await
            .iter()
            .any(|l| l["phone"] == "+16505550123")
    );
    // Another tenant's staff sees none of it.
    let (_, other) = staff_get(&server, common::OTHER_TOKEN, "/v1/lead-ads/tests").await;
    assert_eq!(other, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_leads_language_comes_from_what_it_carries() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    // The clinic serves tr and en (its consultants'); it defaults to tr.
    type Fields<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Fields<'_>, &str, &str); 4] = [
        (
            &[("phone", "+90 532 111 11 11"), ("language", "en")],
            "en",
            "chosen",
        ),
        (
            &[
                ("phone", "+90 532 111 11 12"),
                (
                    "message",
                    "Hi, I would like to book an appointment for teeth whitening",
                ),
            ],
            "en",
            "message",
        ),
        // German is not served; English, Germany's second, is.
        (&[("phone", "+49 30 901822")], "en", "phone_country"),
        (&[("phone", "+7 912 345 67 89")], "tr", "default"),
    ];
    for (fields, language, source) in cases {
        let (status, body) = post_form(&server, "web", fields).await;
        assert_eq!(status, 202, "{body}");
        let lead = lead(&server, body["id"].as_str().unwrap()).await;
        assert_eq!(
            (lead["language"].as_str(), lead["language_source"].as_str()),
            (Some(language), Some(source)),
            "{fields:?}: {}",
            lead["language_reason"]
        );
        assert!(
            lead["language_reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty())
        );
    }
}

/// Posts a call record signed as a switchboard signs it (`at`: the
/// timestamp's offset from now, in seconds).
async fn post_call(server: &Server, record: &Value, secret: &str, offset: i64) -> (u16, Value) {
    let body = record.to_string();
    let at = jiff::Timestamp::now().as_second() + offset;
    let signature =
        clinicflow_channels::signature::sign_callback(secret.as_bytes(), at, body.as_bytes());
    let r = client()
        .post(server.url("/webhooks/calls/clinic"))
        .header("content-type", "application/json")
        .header("X-Clinicflow-Timestamp", at.to_string())
        .header("X-Clinicflow-Signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn call(id: &str, direction: &str, status: &str, patient: &str) -> Value {
    let (from, to) = match direction {
        "inbound" => (patient, "+902160000000"),
        _ => ("+902160000000", patient),
    };
    json!({
        "id": id, "direction": direction, "status": status, "from": from, "to": to,
        "started_at": jiff::Timestamp::now().to_string(),
        "duration": if status == "answered" { 95 } else { 0 },
        "agent": "101", "recording_url": format!("https://pbx.example/rec/{id}.mp3"),
        "note": "asked about implants"
    })
}

async fn lead_with_phone(server: &Server, phone: &str) -> Option<Value> {
    let found = leads(server)
        .await
        .into_iter()
        .find(|l| l["phone"] == phone)?;
    Some(lead(server, found["id"].as_str()?).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switchboards_calls_make_leads_touches_tasks_and_contacts() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let phone = "+905325550001";

    // Unsigned, wrongly signed, stale: 401, nothing stored. Unreadable: 422.
    let missed = call("c-1", "inbound", "missed", phone);
    assert_eq!(post_call(&server, &missed, "guess", 0).await.0, 401);
    assert_eq!(post_call(&server, &missed, CALLS_SECRET, -600).await.0, 401);
    let r = client()
        .post(server.url("/webhooks/calls/clinic"))
        .json(&missed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (status, body) = post_call(
        &server,
        &call("c-x", "sideways", "busy", phone),
        CALLS_SECRET,
        0,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = post_call(
        &server,
        &call("c-y", "inbound", "missed", "12"),
        CALLS_SECRET,
        0,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "from");
    assert!(leads(&server).await.is_empty());

    // A missed call from a new number, posted twice: one lead, source
    // `call`, assigned and greeted by message.
    assert_eq!(post_call(&server, &missed, CALLS_SECRET, 0).await.0, 200);
    assert_eq!(post_call(&server, &missed, CALLS_SECRET, 0).await.0, 200);
    let first = eventually(
        &server,
        "the caller's lead, greeted",
        Duration::from_secs(20),
        || async {
            let l = lead_with_phone(&server, phone).await?;
            (!common::messages_of(&l, "greeting").is_empty()).then_some(l)
        },
    )
    .await;
    assert_eq!(first["source"], "call");
    assert_eq!(first["language"], "tr");
    assert_eq!(first["language_source"], "phone_country");
    assert_eq!(first["touches"].as_array().unwrap().len(), 1);
    assert_eq!(leads(&server).await.len(), 1);
    let owner = first["owner"]["consultant"].as_str().unwrap().to_owned();

    // Another missed call from them: a touch, and a task for the owner.
    let again = call("c-2", "inbound", "missed", phone);
    assert_eq!(post_call(&server, &again, CALLS_SECRET, 0).await.0, 200);
    let touched = eventually(
        &server,
        "the call-back task",
        Duration::from_secs(20),
        || async {
            let l = lead_with_phone(&server, phone).await?;
            let tasks = l["tasks"].as_array()?.clone();
            tasks
                .iter()
                .any(|t| t["kind"] == "missed_call")
                .then_some(l)
        },
    )
    .await;
    assert_eq!(touched["touches"].as_array().unwrap().len(), 2);
    // Nobody has spoken to them yet: the SLA runs.
    assert!(
        touched["timers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["kind"] == "sla_warn"),
        "{touched}"
    );
    let task = touched["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "missed_call")
        .unwrap();
    assert_eq!(task["assignee"], owner.as_str());

    // The agent calls back and they talk: a recorded contact, by the
    // consultant the agent maps to; the SLA stops.
    let answered = call("c-3", "outbound", "answered", phone);
    assert_eq!(post_call(&server, &answered, CALLS_SECRET, 0).await.0, 200);
    let contacted = eventually(
        &server,
        "the recorded contact",
        Duration::from_secs(20),
        || async {
            let l = lead_with_phone(&server, phone).await?;
            l["first_contact_at"].is_string().then_some(l)
        },
    )
    .await;
    assert_eq!(contacted["stage"], "contacted");
    let recorded = contacted["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "contact_recorded")
        .unwrap()
        .clone();
    assert_eq!(recorded["details"]["contact"], "call");
    assert_eq!(recorded["details"]["by"], "ayse");
    assert!(
        recorded["details"]["note"]
            .as_str()
            .unwrap()
            .contains("https://pbx.example/rec/c-3.mp3")
    );
    assert!(
        !contacted["timers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["kind"].as_str().is_some_and(|n| n.starts_with("sla")))
    );

    // An answered call from a new number: a lead already contacted.
    let other = "+905325550002";
    let talked = call("c-4", "inbound", "answered", other);
    assert_eq!(post_call(&server, &talked, CALLS_SECRET, 0).await.0, 200);
    let l = eventually(
        &server,
        "the answered caller's lead",
        Duration::from_secs(20),
        || async {
            let l = lead_with_phone(&server, other).await?;
            l["first_contact_at"].is_string().then_some(l)
        },
    )
    .await;
    assert_eq!(l["source"], "call");
    assert_eq!(l["stage"], "contacted");
    // Our unanswered call to a number without a lead: nothing.
    let nobody = call("c-5", "outbound", "missed", "+905325550003");
    assert_eq!(post_call(&server, &nobody, CALLS_SECRET, 0).await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(lead_with_phone(&server, "+905325550003").await.is_none());
}

/// A local server speaking the Graph API's lead read: it checks the Page
/// token and the fields asked for, answers the first read of each lead
/// with a 500 (Meta has its outages), then the lead as Meta documents it.
async fn graph_api() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let reads = seen.clone();
    let app = axum::Router::new().route(
        "/v23.0/{lead}",
        axum::routing::get(
            move |axum::extract::Path(lead): axum::extract::Path<String>,
                  axum::extract::RawQuery(query): axum::extract::RawQuery,
                  headers: axum::http::HeaderMap| {
                let reads = reads.clone();
                async move {
                    assert_eq!(headers["authorization"], format!("Bearer {PAGE_TOKEN}").as_str());
                    assert!(query.unwrap_or_default().contains("field_data"));
                    let first = {
                        let mut seen = reads.lock().unwrap();
                        seen.push(lead.clone());
                        seen.iter().filter(|l| **l == lead).count() == 1
                    };
                    if first {
                        return (
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            axum::Json(json!({"error": {"message": "An unexpected error has occurred. Please retry your request later.", "type": "OAuthException", "code": 2, "is_transient": true}})),
                        );
                    }
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(json!({
                            "created_time": "2026-12-01T09:31:00+0000",
                            "id": lead,
                            "form_id": META_FORM,
                            "ad_id": "23850000000000001", "ad_name": "Implant video",
                            "adset_id": "23850000000000002", "adset_name": "DE 35+",
                            "campaign_id": "23850000000000003", "campaign_name": "Implant Germany",
                            "field_data": [
                                {"name": "full_name", "values": ["Anna Schmidt"]},
                                {"name": "phone_number", "values": ["+4930901830"]},
                                {"name": "which_treatment?", "values": ["implant"]}
                            ]
                        })),
                    )
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v23.0", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Meta's Page notification of one new lead, signed with `secret`.
async fn post_leadgen(server: &Server, leadgen_id: &str, secret: &str) -> u16 {
    post_leadgen_of(server, PAGE, leadgen_id, secret).await.0
}

/// [`post_leadgen`] for any Page; the status and the answer.
async fn post_leadgen_of(
    server: &Server,
    page: &str,
    leadgen_id: &str,
    secret: &str,
) -> (u16, Value) {
    let body = json!({
        "object": "page",
        "entry": [{"id": page, "time": 1796032800, "changes": [{"field": "leadgen", "value": {
            "ad_id": "23850000000000001", "form_id": META_FORM, "leadgen_id": leadgen_id,
            "created_time": 1796032790, "page_id": page, "adgroup_id": "23850000000000002"
        }}]}]
    })
    .to_string();
    common::post_meta_signed(server, "/webhooks/meta/clinic", body, secret).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_lead_ads_are_read_from_the_graph_api_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let (graph, reads) = graph_api().await;
    let server = start_with_graph(dir.path(), &graph);

    // The handshake: the challenge echoed for our verify token only.
    let handshake = |token: &str| {
        client()
            .get(server.url(&format!(
                "/webhooks/meta/clinic?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
            )))
            .send()
    };
    let ok = handshake(META_VERIFY).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(handshake("guess").await.unwrap().status().as_u16(), 403);

    // Unsigned or wrongly signed: 401, nothing read, nothing stored.
    assert_eq!(
        post_leadgen(&server, "2026120100000001", "guess").await,
        401
    );

    // One lead: read from the Graph API behind the queue, its first
    // answer a 500, retried.
    assert_eq!(
        post_leadgen(&server, "2026120100000001", META_SECRET).await,
        200
    );
    let made = eventually(
        &server,
        "the Meta lead",
        Duration::from_secs(30),
        || async {
            let l = lead_with_phone(&server, "+4930901830").await?;
            l["owner"].is_object().then_some(l)
        },
    )
    .await;
    assert_eq!(made["source"], "meta_ads");
    assert_eq!(made["name"], "Anna Schmidt");
    assert_eq!(made["service"], "implant");
    assert_eq!(made["attribution"]["utm_campaign"], "Implant Germany");
    assert_eq!(made["attribution"]["ad"]["adset_name"], "DE 35+");
    assert_eq!(made["touches"].as_array().unwrap().len(), 1);
    assert_eq!(
        leads(&server)
            .await
            .iter()
            .filter(|l| l["source"] == "meta_ads")
            .count(),
        1
    );
    assert_eq!(reads.lock().unwrap().len(), 2);
    // Notified twice more: handled already, not read again, no second lead.
    for _ in 0..2 {
        assert_eq!(
            post_leadgen(&server, "2026120100000001", META_SECRET).await,
            200
        );
    }
    // A Page the clinic does not read (the app serves others too): skipped.
    let (status, body) =
        post_leadgen_of(&server, "999000111", "2026120100000009", META_SECRET).await;
    assert_eq!((status, &body["received"]), (200, &json!(0)), "{body}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        leads(&server)
            .await
            .iter()
            .filter(|l| l["source"] == "meta_ads")
            .count(),
        1
    );
    assert_eq!(reads.lock().unwrap().len(), 2);
}

const IG_ACCOUNT: &str = "17841400000000001";
const IG_TOKEN: &str = "instagram-access-token-for-tests";
const IG_SECRET: &str = "instagram-app-secret-for-tests";
const IG_VERIFY: &str = "instagram-verify-token";

/// A local server speaking Instagram's Send API: it checks the account,
/// the token and the body, records each message, and answers a text that
/// asks for it as Meta answers outside the 24-hour window. Its User
/// Profile API knows one account; another's profile is not readable.
async fn instagram_api() -> (String, Arc<Mutex<Vec<Value>>>) {
    let sent: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = sent.clone();
    let profiles = axum::routing::get(
        |axum::extract::Path(id): axum::extract::Path<String>,
         axum::extract::RawQuery(query): axum::extract::RawQuery,
         headers: axum::http::HeaderMap| async move {
            assert_eq!(
                headers["authorization"],
                format!("Bearer {IG_TOKEN}").as_str()
            );
            assert_eq!(query.as_deref(), Some("fields=name,username"));
            if id == "17841400000000042" {
                return (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"name": "Ayşe Kaya", "username": "ayse.kaya", "id": id})),
                );
            }
            (
                axum::http::StatusCode::BAD_REQUEST,
                axum::Json(
                    json!({"error": {"message": "User consent is required to access user profile", "type": "IGApiException", "code": 230, "fbtrace_id": "AbD"}}),
                ),
            )
        },
    );
    let app = axum::Router::new().route("/v23.0/{id}", profiles).route(
        "/v23.0/{account}/messages",
        axum::routing::post(
            move |axum::extract::Path(account): axum::extract::Path<String>,
                  headers: axum::http::HeaderMap,
                  axum::Json(body): axum::Json<Value>| {
                let log = log.clone();
                async move {
                    assert_eq!(account, IG_ACCOUNT);
                    assert_eq!(headers["authorization"], format!("Bearer {IG_TOKEN}").as_str());
                    let recipient = body["recipient"]["id"].as_str().unwrap_or_default();
                    assert!(recipient.bytes().all(|b| b.is_ascii_digit()), "{body}");
                    assert!(body["message"]["text"].is_string(), "{body}");
                    let n = {
                        let mut sent = log.lock().unwrap();
                        sent.push(body.clone());
                        sent.len()
                    };
                    if body["message"]["text"].as_str().unwrap_or_default().contains("too late") {
                        return (
                            axum::http::StatusCode::BAD_REQUEST,
                            axum::Json(json!({"error": {"message": "This message is sent outside of allowed window.", "type": "OAuthException", "code": 10, "error_subcode": 2534022, "fbtrace_id": "AbC"}})),
                        );
                    }
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(json!({"recipient_id": recipient, "message_id": format!("aWdfZAG1faXRlbTox{n}")})),
                    )
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v23.0", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, sent)
}

/// The test clinic with its Instagram account (its Send API at `api`),
/// answering on Instagram first.
fn instagram_config(dir: &std::path::Path, api: &str) -> String {
    let instagram = format!(
        r#"
[tenants.messaging]
order = ["instagram", "whatsapp", "sms", "email"]

[tenants.instagram]
account_id = "{IG_ACCOUNT}"
access_token = "env:TEST_IG_TOKEN"
app_secret = "env:TEST_IG_SECRET"
verify_token = "env:TEST_IG_VERIFY"
api_url = "{api}"

[[tenants]]
id = "other""#
    );
    common::config(dir, "1h", "2h").replacen("\n[[tenants]]\nid = \"other\"", &instagram, 1)
}

/// Instagram's messaging notification: `messaging` events for our
/// account, signed with `secret`.
async fn instagram_webhook(server: &Server, messaging: Value, secret: &str) -> u16 {
    let body = json!({
        "object": "instagram",
        "entry": [{"id": IG_ACCOUNT, "time": 1796032800000u64, "messaging": messaging}]
    })
    .to_string();
    common::post_meta_signed(server, "/webhooks/instagram/clinic", body, secret)
        .await
        .0
}

/// A patient's text as Instagram reports it, sent now.
fn dm(from: &str, mid: &str, text: &str) -> Value {
    json!({
        "sender": {"id": from},
        "recipient": {"id": IG_ACCOUNT},
        "timestamp": jiff::Timestamp::now().as_millisecond(),
        "message": {"mid": mid, "text": text}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instagram_messages_make_leads_and_touches_and_are_answered_there() {
    let dir = tempfile::tempdir().unwrap();
    let (api, sent) = instagram_api().await;
    let server = Server::start_with_env(
        dir.path(),
        &instagram_config(dir.path(), &api),
        &[
            ("TEST_IG_TOKEN", IG_TOKEN),
            ("TEST_IG_SECRET", IG_SECRET),
            ("TEST_IG_VERIFY", IG_VERIFY),
        ],
    );
    let wait = Duration::from_secs(30);
    let patient = "17841400000000042";

    // The handshake: the challenge echoed for our verify token only.
    let handshake = |token: &str| {
        client()
            .get(server.url(&format!(
                "/webhooks/instagram/clinic?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=20261201"
            )))
            .send()
    };
    let ok = handshake(IG_VERIFY).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.unwrap(), "20261201");
    assert_eq!(handshake("guess").await.unwrap().status().as_u16(), 403);

    // Unsigned or wrongly signed: 401, nothing stored.
    let first = dm(
        patient,
        "aWdfZAG1faXRlbToxOklH",
        "Hello, I would like to know the price of a dental implant and when you could see me.",
    );
    assert_eq!(
        instagram_webhook(&server, json!([first.clone()]), "guess").await,
        401
    );
    let unsigned = client()
        .post(server.url("/webhooks/instagram/clinic"))
        .json(&json!({"object": "instagram", "entry": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    // Another clinic has no Instagram account: no webhook there.
    let none = client()
        .post(server.url("/webhooks/instagram/other"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(none.status().as_u16(), 404);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(leads(&server).await.is_empty());

    // A message from an unknown account, delivered three times (the
    // third beside an echo of ours and a read): one lead, one touch,
    // greeted on Instagram.
    let echo = json!({
        "sender": {"id": IG_ACCOUNT}, "recipient": {"id": patient},
        "timestamp": jiff::Timestamp::now().as_millisecond(),
        "message": {"mid": "aWdfZAG1faXRlbToxOklE", "text": "typed in the app", "is_echo": true}
    });
    let read = json!({
        "sender": {"id": patient}, "recipient": {"id": IG_ACCOUNT},
        "timestamp": jiff::Timestamp::now().as_millisecond(),
        "read": {"mid": "aWdfZAG1faXRlbTox1"}
    });
    for batch in [
        json!([first.clone()]),
        json!([first.clone()]),
        json!([echo, first.clone(), read]),
    ] {
        assert_eq!(instagram_webhook(&server, batch, IG_SECRET).await, 200);
    }
    let made = eventually(&server, "the Instagram lead greeted", wait, || async {
        let all = leads(&server).await;
        let l = all.first()?;
        let detail = lead(&server, l["id"].as_str()?).await;
        let greeting = common::messages_of(&detail, "greeting")
            .first()
            .cloned()
            .cloned()?;
        (greeting["status"] == "sent" || greeting["status"] == "read").then_some(detail)
    })
    .await;
    assert_eq!(
        leads(&server).await.len(),
        1,
        "one lead, though delivered three times"
    );
    assert_eq!(made["source"], "instagram");
    assert_eq!(made["instagram"], patient);
    assert_eq!(made["name"], "Ayşe Kaya", "read from Instagram's profile");
    assert!(made.get("phone").is_none());
    assert_eq!(made["language"], "en", "read from the message");
    assert_eq!(made["touches"].as_array().unwrap().len(), 1);
    let greeting = common::messages_of(&made, "greeting")[0].clone();
    assert_eq!(greeting["channel"], "instagram");
    {
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0]["recipient"]["id"], patient);
        let greeting = sent[0]["message"]["text"].as_str().unwrap();
        assert!(greeting.contains("Ayşe"), "{greeting}");
    }
    // The read names our greeting: Instagram's read receipt reaches the ledger.
    let lead_id = made["id"].as_str().unwrap().to_owned();
    instagram_webhook(
        &server,
        json!([{
            "sender": {"id": patient}, "recipient": {"id": IG_ACCOUNT},
            "timestamp": jiff::Timestamp::now().as_millisecond(),
            "read": {"mid": "aWdfZAG1faXRlbTox1"}
        }]),
        IG_SECRET,
    )
    .await;
    eventually(&server, "the greeting read", wait, || async {
        let l = lead(&server, &lead_id).await;
        (common::messages_of(&l, "greeting")[0]["status"] == "read").then_some(())
    })
    .await;

    // The same account writes again: a touch on its lead.
    let again = dm(patient, "aWdfZAG1faXRlbToxOklJ", "Is Saturday possible?");
    assert_eq!(
        instagram_webhook(&server, json!([again]), IG_SECRET).await,
        200
    );
    eventually(&server, "the second touch", wait, || async {
        let l = lead(&server, &lead_id).await;
        (l["touches"].as_array().map_or(0, Vec::len) == 2).then_some(())
    })
    .await;
    assert_eq!(leads(&server).await.len(), 1);

    // Another account's two messages, the later first, each twice: one
    // lead, two touches.
    let other = "17841400000000077";
    let mut earlier = dm(other, "b3RoZXIx", "Merhaba, diş beyazlatma fiyatı nedir?");
    earlier["timestamp"] = json!(jiff::Timestamp::now().as_millisecond() - 60_000);
    let later = dm(other, "b3RoZXIy", "Bu hafta müsait misiniz?");
    for m in [&later, &earlier, &later, &earlier] {
        assert_eq!(instagram_webhook(&server, json!([m]), IG_SECRET).await, 200);
    }
    let second = eventually(&server, "the other account's lead", wait, || async {
        let all = leads(&server).await;
        let l = all.iter().find(|l| l["instagram"] == other)?;
        let detail = lead(&server, l["id"].as_str()?).await;
        (detail["touches"].as_array().map_or(0, Vec::len) == 2).then_some(detail)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(leads(&server).await.len(), 2, "one lead per account");
    assert_eq!(second["source"], "instagram");
    assert!(
        second.get("name").is_none(),
        "a profile not readable: no name, still a lead"
    );

    // The consultant's reply goes back through the Send API.
    let (status, reply) = common::staff_post(
        &server,
        TOKEN,
        &format!("/v1/leads/{lead_id}/messages"),
        json!({ "text": "Yes, Saturday 10:00 works." }),
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["channel"], "instagram");
    eventually(&server, "the reply sent", wait, || async {
        let sent = sent.lock().unwrap();
        sent.iter()
            .any(|m| m["message"]["text"] == "Yes, Saturday 10:00 works.")
            .then_some(())
    })
    .await;
    // Meta refuses a message outside the window: failed for good, shown
    // with Meta's code on the failed-messages panel.
    let (status, _) = common::staff_post(
        &server,
        TOKEN,
        &format!("/v1/leads/{lead_id}/messages"),
        json!({ "text": "Sorry, too late?" }),
    )
    .await;
    assert_eq!(status, 202);
    let failed = eventually(&server, "the refused reply failed", wait, || async {
        let (_, page) = staff_get(&server, TOKEN, "/v1/messages?status=failed&handled=false").await;
        page["items"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(failed["channel"], "instagram");
    assert_eq!(failed["error_code"], "10/2534022", "{failed}");
    assert!(
        !server.log_text().contains(patient),
        "the account id stays out of logs"
    );
}
