//! Blasts over the real binary and HTTP: the seed's three scenarios (a
//! doctor's sick afternoon, a holiday closing, a changed Friday schedule)
//! through the staff API, and a kill -9 in the middle of a paced blast.
//! WhatsApp is a local server speaking the Graph API's send endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use common::*;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// Recipients of every send the local Graph API accepted, with the template.
type Sends = Arc<Mutex<Vec<(String, String)>>>;

async fn graph() -> (String, Sends) {
    let sends: Sends = Arc::default();
    async fn send(State(sends): State<Sends>, Json(body): Json<Value>) -> Json<Value> {
        let to = body["to"].as_str().unwrap_or_default().to_owned();
        let template = body["template"]["name"]
            .as_str()
            .unwrap_or("text")
            .to_owned();
        let n = {
            let mut s = sends.lock().unwrap();
            s.push((to.clone(), template));
            s.len()
        };
        Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": to, "wa_id": to }],
            "messages": [{ "id": format!("wamid.E2E{n}") }]
        }))
    }
    let app = axum::Router::new()
        .route("/v23.0/{number}/messages", post(send))
        .with_state(sends.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v23.0", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, sends)
}

fn blast_config(data: &Path, graph: &str, rate: u32) -> String {
    let base = config(data, "1h", "2h");
    let (clinic, other) = base.split_at(base.find("[[tenants]]\nid = \"other\"").unwrap());
    format!(
        r#"{clinic}
[tenants.messaging]
order = ["whatsapp", "sms"]

[tenants.whatsapp]
phone_number_id = "106540352242922"
access_token = "env:E2E_WA_TOKEN"
app_secret = "env:E2E_WA_TOKEN"
verify_token = "env:E2E_WA_TOKEN"
api_url = "{graph}"
messages_per_second = {rate}

[tenants.appointments]
send_hours = "00:00-24:00"
[tenants.journeys.appointment_confirmation]
enabled = false
[tenants.journeys.appointment_nudge]
enabled = false
[tenants.journeys.appointment_reminder]
enabled = false

[tenants.blasts.templates.doctor_out]
purpose = "operational"
text.tr = "{{{{ practitioner }}}} {{{{ date }}}} {{{{ time }}}} randevunuza gelemiyor; yeni saat için yanıtlayın."
text.en = "{{{{ practitioner }}}} cannot see you on {{{{ date }}}} at {{{{ time }}}}; reply for a new time."
whatsapp = {{ name = "doctor_out_v1", category = "utility", params = ["practitioner", "date", "time"] }}

[tenants.blasts.templates.holiday_closing]
purpose = "operational"
text.tr = "{{{{ branch }}}} {{{{ date }}}} günü kapalı; randevunuzu taşıyacağız."
text.en = "{{{{ branch }}}} is closed on {{{{ date }}}}; we will move your appointment."
whatsapp = {{ name = "closing_v1", category = "utility", params = ["branch", "date"] }}

[tenants.blasts.templates.friday_hours]
purpose = "operational"
text.tr = "Cuma çalışma saatlerimiz değişti; {{{{ time }}}} randevunuz için yanıtlayın."
text.en = "Our Friday hours changed; reply about your {{{{ time }}}} appointment."
whatsapp = {{ name = "friday_hours_v1", category = "utility", params = ["time"] }}

[[tenants.practitioners]]
id = "dr-jared"
name = "Dr. Jared Kaya"
branch = "main"

[[tenants.practitioners]]
id = "dr-ada"
name = "Dr. Ada Demir"
branch = "main"

[[tenants.services]]
id = "consult"
name = "Muayene"

{other}"#
    )
}

/// Books patient `n` with `practitioner` at `start` through the FHIR API.
async fn book(server: &Server, n: u32, practitioner: &str, start: Timestamp) {
    let id = format!("{practitioner}-{n}-{}", start.as_second());
    let body = json!({
        "resourceType": "Appointment",
        "identifier": [{ "system": "https://mis.example", "value": id }],
        "status": "booked",
        "serviceType": [{ "coding": [{ "code": "consult" }] }],
        "start": start.to_string(),
        "end": (start + SignedDuration::from_mins(15)).to_string(),
        "contained": [{ "resourceType": "Patient", "id": "p",
                        "name": [{ "given": [format!("Hasta{n}")] }],
                        "telecom": [{ "system": "phone", "value": format!("+90533{n:07}") }] }],
        "participant": [
            { "actor": { "reference": "#p" } },
            { "actor": { "reference": format!("Practitioner/{practitioner}") } }
        ]
    });
    let r = client()
        .put(server.url(&format!(
            "/fhir/Appointment?identifier=https://mis.example|{id}"
        )))
        .bearer_auth(TOKEN)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// A local time on `date` in Istanbul.
fn at(date: jiff::civil::Date, hour: i8, minute: i8) -> Timestamp {
    jiff::tz::TimeZone::get("Europe/Istanbul")
        .unwrap()
        .to_timestamp(date.at(hour, minute, 0, 0))
        .unwrap()
}

/// The next `weekday` at least two days from now, in Istanbul.
fn next(weekday: jiff::civil::Weekday) -> jiff::civil::Date {
    let today = jiff::tz::TimeZone::get("Europe/Istanbul")
        .unwrap()
        .to_datetime(Timestamp::now())
        .date();
    let mut d = today.tomorrow().unwrap().tomorrow().unwrap();
    while d.weekday() != weekday {
        d = d.tomorrow().unwrap();
    }
    d
}

/// Previews, sends and waits until the blast is done; its final view.
async fn blast(server: &Server, request: Value) -> (Value, Value) {
    let (status, preview) = staff_post(server, TOKEN, "/v1/blasts", request).await;
    assert_eq!(status, 201, "{preview}");
    let id = preview["id"].as_str().unwrap().to_owned();
    let (status, sent) =
        staff_post(server, TOKEN, &format!("/v1/blasts/{id}/send"), json!({})).await;
    assert_eq!(status, 202, "{sent}");
    let done = eventually(server, "the blast done", WAIT, || async {
        let (_, b) = staff_get(server, TOKEN, &format!("/v1/blasts/{id}")).await;
        (b["state"] == "done").then_some(b)
    })
    .await;
    (preview, done)
}

fn sent_templates(sends: &Sends) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for (_, t) in sends.lock().unwrap().iter() {
        *by.entry(t.clone()).or_insert(0) += 1;
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_three_blasts_end_to_end() {
    let (graph, sends) = graph().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_env(
        dir.path(),
        &blast_config(&data, &graph, 80),
        &[("E2E_WA_TOKEN", "e2e-token")],
    );
    let thursday = next(jiff::civil::Weekday::Thursday);
    let friday = thursday.tomorrow().unwrap();
    let holiday = friday.tomorrow().unwrap();
    // Thursday: Dr. Jared's morning and afternoon, Dr. Ada's afternoon.
    for n in 0..4 {
        book(&server, n, "dr-jared", at(thursday, 14, 0)).await;
    }
    book(&server, 4, "dr-jared", at(thursday, 10, 0)).await;
    book(&server, 5, "dr-ada", at(thursday, 15, 0)).await;
    // Friday: three mornings, one afternoon. The holiday: two.
    for n in 10..13 {
        book(&server, n, "dr-ada", at(friday, 9, 30)).await;
    }
    book(&server, 13, "dr-ada", at(friday, 16, 0)).await;
    book(&server, 20, "dr-jared", at(holiday, 11, 0)).await;
    book(&server, 21, "dr-ada", at(holiday, 12, 0)).await;

    // 1. Dr. Jared is out sick: his afternoon.
    let (preview, done) = blast(
        &server,
        json!({ "template": "doctor_out", "purpose": "operational",
                "filter": { "date": thursday.to_string(), "part": "afternoon", "practitioner": "dr-jared" } }),
    )
    .await;
    assert_eq!(preview["buckets"]["send"]["whatsapp"], 4, "{preview}");
    assert!(
        preview["sample"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Dr. Jared Kaya")
    );
    assert_eq!(done["progress"]["sent"], 4, "{done}");

    // 2. A holiday closing: every appointment of the day.
    let (_, done) = blast(
        &server,
        json!({ "template": "holiday_closing", "filter": { "date": holiday.to_string() } }),
    )
    .await;
    assert_eq!(done["progress"]["sent"], 2, "{done}");

    // 3. The Friday schedule changed: the morning's patients.
    let (_, done) = blast(
        &server,
        json!({ "template": "friday_hours",
                "filter": { "date": friday.to_string(), "part": "morning" } }),
    )
    .await;
    assert_eq!(done["progress"]["sent"], 3, "{done}");

    let by = sent_templates(&sends);
    assert_eq!(
        by,
        BTreeMap::from([
            ("doctor_out_v1".to_owned(), 4),
            ("closing_v1".to_owned(), 2),
            ("friday_hours_v1".to_owned(), 3),
        ])
    );
    // Refused by field: an unknown practitioner, a wrong purpose.
    let (status, body) = staff_post(
        &server,
        TOKEN,
        "/v1/blasts",
        json!({ "template": "doctor_out", "filter": { "date": thursday.to_string(), "practitioner": "dr-nobody" } }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["fields"][0]["field"], "filter.practitioner",
        "{body}"
    );
    let (status, body) = staff_post(
        &server,
        TOKEN,
        "/v1/blasts",
        json!({ "template": "doctor_out", "purpose": "promotional", "filter": {} }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["fields"][0]["field"].as_str()),
        (422, Some("purpose")),
        "{body}"
    );
    let (status, body) = staff_post(
        &server,
        TOKEN,
        "/v1/blasts",
        json!({ "template": "doctor_out", "filter": { "date": thursday.to_string(), "status": "sleeping" } }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // Another clinic's token sees none of it.
    let (status, list) = staff_get(&server, OTHER_TOKEN, "/v1/blasts").await;
    assert_eq!(
        (status, list["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_blast_sends_nobody_twice_and_the_counts_stay_exact() {
    let (graph, sends) = graph().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let n = 600u32;
    // 100 a second: six seconds of sending.
    let mut server = Server::start_with_env(
        dir.path(),
        &blast_config(&data, &graph, 100),
        &[("E2E_WA_TOKEN", "e2e-token")],
    );
    let thursday = next(jiff::civil::Weekday::Thursday);
    for i in 0..n {
        book(&server, i, "dr-jared", at(thursday, 14, 0)).await;
    }
    let (status, preview) = staff_post(
        &server,
        TOKEN,
        "/v1/blasts",
        json!({ "template": "doctor_out", "filter": { "date": thursday.to_string(), "practitioner": "dr-jared" } }),
    )
    .await;
    assert_eq!(
        (status, preview["planned"].as_u64()),
        (201, Some(u64::from(n))),
        "{preview}"
    );
    let id = preview["id"].as_str().unwrap().to_owned();
    let (status, _) = staff_post(&server, TOKEN, &format!("/v1/blasts/{id}/send"), json!({})).await;
    assert_eq!(status, 202);
    eventually(&server, "the blast under way", WAIT, || async {
        (sends.lock().unwrap().len() >= 150).then_some(())
    })
    .await;
    server.kill9();
    let before = sends.lock().unwrap().len();
    eprintln!("killed after {before} of {n} sends");
    server = Server::restart_with_env(dir.path(), &[("E2E_WA_TOKEN", "e2e-token")]);
    let done = eventually(
        &server,
        "the blast done after the restart",
        WAIT,
        || async {
            let (_, b) = staff_get(&server, TOKEN, &format!("/v1/blasts/{id}")).await;
            (b["state"] == "done").then_some(b)
        },
    )
    .await;
    let p = &done["progress"];
    let count = |k: &str| p[k].as_u64().unwrap();
    assert_eq!(
        count("planned"),
        count("pending")
            + count("in_flight")
            + count("sent")
            + count("failed")
            + count("skipped")
            + count("cancelled"),
        "{p}"
    );
    let sent = sends.lock().unwrap().clone();
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for (to, _) in &sent {
        *per.entry(to.as_str()).or_default() += 1;
    }
    assert!(per.values().all(|c| *c == 1), "a patient got two messages");
    // A send cut off by the kill mid-call is failed for a person to check
    // (the provider cannot tell us whether it went), never sent again, on
    // this channel or the next: at most the sender's turns of one second
    // (100 here) were in flight.
    assert_eq!(count("sent") + count("failed"), u64::from(n), "{p}");
    assert!(count("failed") <= 100, "{p}");
    if (sent.len() as u64) < count("sent") {
        let mut channels: BTreeMap<String, usize> = BTreeMap::new();
        let mut path = format!("/v1/blasts/{id}/recipients?limit=200");
        loop {
            let (_, page) = staff_get(&server, TOKEN, &path).await;
            for r in page["items"].as_array().unwrap() {
                *channels
                    .entry(format!("{} {}", r["channel"], r["state"]))
                    .or_default() += 1;
            }
            match page["next"].as_str() {
                Some(n) => path = format!("/v1/blasts/{id}/recipients?limit=200&cursor={n}"),
                None => break,
            }
        }
        panic!(
            "{} sends at the provider, {p}; recipients by channel: {channels:?}\n{}",
            sent.len(),
            server
                .log_text()
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(
        before < n as usize,
        "the kill came after the blast; the test proved nothing"
    );
}
