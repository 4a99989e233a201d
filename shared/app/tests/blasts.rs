//! Blasts on the real embedded store, sent through the real WhatsApp
//! client to a local server that speaks the Graph API's send endpoint
//! (and answers its error codes when told to): the preview's buckets and
//! refusals, a changed audience refused, every page delivered three times
//! to two consumers, pause and resume during a send, the provider's rate
//! limits, restrictions and per-patient answers, quiet hours, and replies
//! and bookings attributed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clinicflow_app::AppError;
use clinicflow_app::usecases::{BlastInput, FhirWrite};
use clinicflow_channels::whatsapp::WhatsappSender;
use clinicflow_core::blast::{BlastState, Exclusion, Filter, RecipientState};
use clinicflow_core::ids::PractitionerId;
use clinicflow_core::message::{Channel, Purpose};
use clinicflow_ports::{Messenger, QueueName};
use common::World;
use futures_util::StreamExt;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const CONFIG: &str = r#"
[[tenants]]
id = "clinic"
name = "Test Clinic"
default_language = "tr"
staff_tokens = ["blasts-staff-token-000001"]

[tenants.messaging]
order = ["whatsapp", "sms"]

[tenants.appointments]
send_hours = "SEND_HOURS"
booking_link = "https://clinic.example/book"

[tenants.journeys.appointment_confirmation]
enabled = false
[tenants.journeys.appointment_nudge]
enabled = false
[tenants.journeys.appointment_reminder]
enabled = false

[tenants.blasts]
whatsapp_daily_limit = 100000
operational_reserve = 1000

[tenants.blasts.prices]
as_of = "2026-07-01"
currency = "USD"
whatsapp = { TR = { operational = 0.0053, promotional = 0.0109 } }

[tenants.blasts.templates.doctor_out]
purpose = "operational"
text.tr = "Merhaba {{ first_name }}, {{ practitioner }} {{ date }} {{ time }} randevunuza gelemiyor. Yeni saat için yanıtlayın."
text.en = "Hello {{ first_name }}, {{ practitioner }} cannot see you on {{ date }} at {{ time }}. Reply for a new time."
whatsapp = { name = "schedule_change_v1", category = "utility", params = ["first_name", "practitioner", "date", "time"] }

[tenants.blasts.templates.spring]
purpose = "promotional"
text.tr = "Bahar kontrolü {{ branch }} şubesinde %20 indirimli."
whatsapp = { name = "spring_promo", category = "marketing" }

[tenants.blasts.templates.turkish_only]
purpose = "operational"
text.tr = "Yarın kapalıyız."

[[tenants.managers]]
id = "selin"
name = "Selin Kaya"
phone = "+90 532 000 00 01"

[[tenants.branches]]
id = "kadikoy"
name = "Kadıköy"
time_zone = "Europe/Istanbul"
phone_region = "TR"
opening_hours = ["mon-sat 09:00-19:00"]

[[tenants.consultants]]
id = "elif"
name = "Elif Demir"
branch = "kadikoy"
languages = ["tr", "en"]
shifts = ["mon-sat 09:00-19:00"]
phone = "+90 532 000 00 02"

[[tenants.practitioners]]
id = "dr-jared"
name = "Dr. Jared Kaya"
branch = "kadikoy"

[[tenants.practitioners]]
id = "dr-ada"
name = "Dr. Ada Demir"
branch = "kadikoy"

[[tenants.services]]
id = "checkup"
name = "Kontrol"

[[tenants.forms]]
id = "web"
"#;

fn config(send_hours: &str) -> String {
    CONFIG.replace("SEND_HOURS", send_hours)
}

fn ist(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
    TimeZone::get("Europe/Istanbul")
        .unwrap()
        .to_timestamp(jiff::civil::datetime(y, mo, d, h, mi, 0, 0))
        .unwrap()
}

/// Monday 30 November 2026, 10:00 in Istanbul; the blasts are about Thursday.
fn monday() -> Timestamp {
    ist(2026, 11, 30, 10, 0)
}

const THURSDAY: &str = "2026-12-03";

/// What the local Graph API does with each send.
#[derive(Default)]
struct Graph {
    /// Recipients (without `+`) of every accepted send, in order.
    sent: Mutex<Vec<String>>,
    /// The template names of accepted sends.
    templates: Mutex<Vec<String>>,
    calls: AtomicU64,
    /// Error code to answer for a recipient, always.
    per_recipient: Mutex<BTreeMap<String, i64>>,
    /// Error code to answer on call number n (1-based), once.
    on_call: Mutex<BTreeMap<u64, i64>>,
    /// Answer 130429 to this many calls first.
    throttle_first: AtomicU64,
    delay: Mutex<Duration>,
}

async fn messages(State(g): State<Arc<Graph>>, Json(body): Json<Value>) -> Response {
    let n = g.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let delay = *g.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    let code = if g
        .throttle_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
    {
        Some(130429)
    } else {
        g.on_call
            .lock()
            .unwrap()
            .remove(&n)
            .or_else(|| g.per_recipient.lock().unwrap().get(&to).copied())
    };
    if let Some(code) = code {
        // The Graph API's error envelope.
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": {
                "message": format!("error {code}"),
                "type": "OAuthException",
                "code": code,
                "error_data": { "messaging_product": "whatsapp", "details": format!("details of {code}") },
                "fbtrace_id": "AbCdEf"
            }})),
        )
            .into_response();
    }
    g.sent.lock().unwrap().push(to.clone());
    if let Some(name) = body["template"]["name"].as_str() {
        g.templates.lock().unwrap().push(name.to_owned());
    }
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": format!("wamid.TEST{n}") }]
    }))
    .into_response()
}

async fn graph() -> (String, Arc<Graph>) {
    let g = Arc::new(Graph::default());
    let app = axum::Router::new()
        .route("/v23.0/{number}/messages", post(messages))
        .with_state(g.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v23.0", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, g)
}

async fn world(send_hours: &str, at: Timestamp) -> (World, Arc<Graph>) {
    let (base, g) = graph().await;
    let w = World::with_messenger(&config(send_hours), at, |_| {
        Arc::new(WhatsappSender::new(
            clinicflow_channels::http::client().unwrap(),
            &base,
            "106540352242922",
            "token".into(),
            100_000,
        )) as Arc<dyn Messenger>
    });
    (w, g)
}

fn phone(n: u32) -> String {
    format!("+90533{n:07}")
}

/// An appointment of patient `n` with `practitioner` on Thursday at `hour`.
async fn book(w: &World, n: u32, practitioner: &str, hour: i8, language: &str) {
    let start = ist(2026, 12, 3, hour, (n % 4) as i8 * 15);
    let body = json!({
        "resourceType": "Appointment",
        "identifier": [{ "system": "https://mis.example/appointments", "value": format!("A-{n}-{practitioner}-{hour}") }],
        "status": "booked",
        "serviceType": [{ "coding": [{ "code": "checkup" }] }],
        "start": start.to_string(),
        "end": (start + SignedDuration::from_mins(15)).to_string(),
        "contained": [{
            "resourceType": "Patient", "id": "p",
            "name": [{ "given": [format!("Hasta{n}")], "family": "Test" }],
            "telecom": [{ "system": "phone", "value": phone(n) }],
            "communication": [{ "language": { "coding": [{ "code": language }] } }]
        }],
        "participant": [
            { "actor": { "reference": "#p" }, "status": "needs-action" },
            { "actor": { "reference": format!("Practitioner/{practitioner}") } },
            { "actor": { "reference": "Location/kadikoy" } }
        ]
    });
    let bytes = serde_json::to_vec(&body).unwrap();
    let identifier = format!("https://mis.example/appointments|A-{n}-{practitioner}-{hour}");
    w.app
        .upsert_fhir(
            &w.tenant(),
            FhirWrite {
                identifier: &identifier,
                if_match: None,
                body: &bytes,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
}

async fn book_many(w: &World, patients: std::ops::Range<u32>) {
    futures_util::stream::iter(patients)
        .map(|n| book(w, n, "dr-jared", 14, "tr"))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

fn sick_afternoon() -> BlastInput {
    BlastInput {
        template: "doctor_out".into(),
        purpose: Some(Purpose::Operational),
        filter: Filter {
            date: Some(THURSDAY.parse().unwrap()),
            part: Some("afternoon".into()),
            practitioner: Some(PractitionerId::new("dr-jared").unwrap()),
            ..Filter::default()
        },
        name: Some("Dr. Jared is out sick".into()),
    }
}

/// Handles every blast page queued (and what it queues), each `times` times.
async fn drain_blast(w: &World, times: usize) {
    loop {
        let batch = w
            .queue
            .receive(QueueName::Blast, 10, Duration::from_secs(60))
            .await
            .unwrap();
        if batch.is_empty() {
            return;
        }
        for d in &batch {
            for _ in 0..times {
                w.app.handle_work(&d.body).await.unwrap();
            }
        }
        let ids: Vec<i64> = batch.iter().map(|d| d.id).collect();
        w.queue.delete(QueueName::Blast, &ids).await.unwrap();
    }
}

fn duplicates(sent: &[String]) -> usize {
    sent.len() - sent.iter().collect::<BTreeSet<_>>().len()
}

#[tokio::test]
async fn a_doctors_sick_afternoon_is_previewed_explained_and_sent_once() {
    let (w, g) = world("00:00-24:00", monday()).await;
    let t = w.tenant();
    for n in 0..3 {
        book(&w, n, "dr-jared", 14, "tr").await;
    }
    book(&w, 3, "dr-jared", 15, "en").await;
    // Patient 0 also has a second afternoon appointment: one message.
    book(&w, 0, "dr-jared", 16, "tr").await;
    // Not in the filter: a morning, another doctor.
    book(&w, 10, "dr-jared", 10, "tr").await;
    book(&w, 11, "dr-ada", 14, "tr").await;

    let preview = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    let b = &preview.blast;
    assert_eq!(b.state, BlastState::Previewed);
    assert_eq!(b.buckets.audience, 5);
    assert_eq!(b.buckets.send.get(&Channel::Whatsapp), Some(&4));
    assert_eq!(b.buckets.excluded.get(&Exclusion::Duplicate), Some(&1));
    let sum: u32 = b.buckets.send.values().sum::<u32>()
        + b.buckets.deferred.values().sum::<u32>()
        + b.buckets.excluded.values().sum::<u32>();
    assert_eq!(
        sum, b.buckets.audience,
        "the buckets partition the audience"
    );
    assert_eq!(b.planned, 4);
    assert!(
        b.sample[0].text.contains("Dr. Jared Kaya"),
        "{:?}",
        b.sample
    );
    assert!(
        !b.sample[0].to.contains("5320000"),
        "the sample's number is masked"
    );
    assert_eq!(b.cost.lines[0].messages, 4);
    assert_eq!(b.cost.total, 0.0212);
    assert_eq!(g.calls.load(Ordering::SeqCst), 0, "a preview sends nothing");

    let sent = w
        .app
        .send_blast(&t, b.id.as_str(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.blast.state, BlastState::Sending);
    // A double click sends nothing twice.
    w.app
        .send_blast(&t, b.id.as_str(), None)
        .await
        .unwrap()
        .unwrap();
    drain_blast(&w, 1).await;
    let sent = g.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert_eq!(duplicates(&sent), 0);
    assert!(
        g.templates
            .lock()
            .unwrap()
            .iter()
            .all(|t| t == "schedule_change_v1")
    );

    let view = w.app.blast_detail(&t, b.id.as_str()).await.unwrap();
    let p = view.progress.unwrap();
    assert_eq!((p.planned, p.sent, p.pending, p.in_flight), (4, 4, 0, 0));
    assert_eq!(view.blast.state, BlastState::Done);
    let listed = w
        .app
        .blast_recipients(&t, b.id.as_str(), &Default::default(), 50, None)
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 4);
    assert!(listed.items.iter().all(|r| r.state == RecipientState::Sent));
    // The timer records it done.
    w.clock.set(monday() + SignedDuration::from_mins(10));
    w.app.sweep_due_timers().await.unwrap();
    let stored = w.app.list_blasts(&t, 10, None).await.unwrap();
    assert_eq!(stored.items[0].state, BlastState::Done);
}

#[tokio::test]
async fn bad_filters_templates_and_purposes_are_refused_by_field() {
    let (w, _) = world("00:00-24:00", monday()).await;
    let t = w.tenant();
    book(&w, 1, "dr-jared", 14, "en").await;
    let field = |e: AppError| match e {
        AppError::Invalid(fields) => fields.into_iter().map(|f| f.field).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let mut input = sick_afternoon();
    input.filter.practitioner = Some(PractitionerId::new("dr-nobody").unwrap());
    let e = w.app.preview_blast(&t, input).await.unwrap_err();
    assert_eq!(field(e), ["filter.practitioner"]);

    let mut input = sick_afternoon();
    input.purpose = Some(Purpose::Promotional);
    assert_eq!(
        field(w.app.preview_blast(&t, input).await.unwrap_err()),
        ["purpose"]
    );

    let mut input = sick_afternoon();
    input.template = "spring".into();
    input.purpose = Some(Purpose::Operational);
    assert_eq!(
        field(w.app.preview_blast(&t, input).await.unwrap_err()),
        ["purpose"]
    );

    // Patient 1 reads English; the template has only Turkish.
    let mut input = sick_afternoon();
    input.template = "turkish_only".into();
    assert_eq!(
        field(w.app.preview_blast(&t, input).await.unwrap_err()),
        ["template"]
    );

    let mut input = sick_afternoon();
    input.filter.date = None;
    assert_eq!(
        field(w.app.preview_blast(&t, input).await.unwrap_err()),
        ["filter.part"]
    );
    assert!(
        w.app
            .list_blasts(&t, 10, None)
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing planned"
    );
}

#[tokio::test]
async fn a_send_whose_audience_changed_is_refused_with_the_new_preview() {
    let (w, g) = world("00:00-24:00", monday()).await;
    let t = w.tenant();
    book_many(&w, 0..3).await;
    let preview = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    book(&w, 3, "dr-jared", 14, "tr").await;
    let refused = w
        .app
        .send_blast(&t, preview.blast.id.as_str(), None)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.preview.blast.planned, 4);
    drain_blast(&w, 1).await;
    assert_eq!(g.calls.load(Ordering::SeqCst), 0, "nothing was sent");
    let again = w
        .app
        .send_blast(&t, refused.preview.blast.id.as_str(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.blast.state, BlastState::Sending);
    drain_blast(&w, 1).await;
    assert_eq!(g.sent.lock().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_recipients_each_page_thrice_to_two_consumers_one_message_each() {
    let (w, g) = world("00:00-24:00", monday()).await;
    let t = w.tenant();
    book_many(&w, 0..10_000).await;
    let preview = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    assert_eq!(preview.blast.planned, 10_000);
    w.app
        .send_blast(&t, preview.blast.id.as_str(), None)
        .await
        .unwrap()
        .unwrap();
    // Every page message three times, to two consumers at once.
    let mut bodies = Vec::new();
    loop {
        let batch = w
            .queue
            .receive(QueueName::Blast, 10, Duration::from_secs(60))
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        bodies.extend(batch.iter().map(|d| d.body.clone()));
        let ids: Vec<i64> = batch.iter().map(|d| d.id).collect();
        w.queue.delete(QueueName::Blast, &ids).await.unwrap();
    }
    assert_eq!(bodies.len(), 20);
    let deliveries: Vec<String> = bodies
        .iter()
        .flat_map(|b| [b.clone(), b.clone(), b.clone()])
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|c| {
            let app = w.app.clone();
            let mine: Vec<String> = deliveries
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == c)
                .map(|(_, b)| b.clone())
                .collect();
            tokio::spawn(async move {
                futures_util::stream::iter(mine)
                    .map(|b| {
                        let app = app.clone();
                        async move {
                            let outcome = app.handle_work(&b).await;
                            (b, outcome)
                        }
                    })
                    .buffer_unordered(4)
                    .collect::<Vec<_>>()
                    .await
            })
        })
        .collect();
    // A page that was busy (its blast still waited for its first message)
    // is delivered again, as the queue would.
    let mut busy = Vec::new();
    for c in consumers {
        for (body, outcome) in c.await.unwrap() {
            match outcome {
                Ok(()) => {}
                Err(AppError::Busy(_)) => busy.push(body),
                Err(e) => panic!("a blast page failed: {e}"),
            }
        }
    }
    let mut deliveries = 0;
    while let Some(body) = busy.pop() {
        deliveries += 1;
        assert!(deliveries <= 100, "busy pages kept coming back");
        if let Err(e) = w.app.handle_work(&body).await {
            assert!(matches!(e, AppError::Busy(_)), "a blast page failed: {e}");
            busy.push(body);
        }
    }
    let sent = g.sent.lock().unwrap().clone();
    assert_eq!(duplicates(&sent), 0);
    assert_eq!(sent.len(), 10_000);
    let p = w
        .app
        .blast_detail(&t, preview.blast.id.as_str())
        .await
        .unwrap()
        .progress
        .unwrap();
    assert_eq!(
        (p.planned, p.sent, p.failed, p.pending, p.in_flight),
        (10_000, 10_000, 0, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_twenty_times_during_a_send_sends_nobody_twice() {
    let (w, g) = world("00:00-24:00", monday()).await;
    *g.delay.lock().unwrap() = Duration::from_millis(3);
    let t = w.tenant();
    book_many(&w, 0..1500).await;
    let preview = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    let id = preview.blast.id.to_string();
    w.app.send_blast(&t, &id, None).await.unwrap().unwrap();
    let consumer = {
        let queue = w.queue.clone();
        let app = w.app.clone();
        tokio::spawn(async move {
            let mut idle = 0;
            while idle < 50 {
                let batch = queue
                    .receive(QueueName::Blast, 10, Duration::from_secs(60))
                    .await
                    .unwrap();
                if batch.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                idle = 0;
                let outcomes =
                    futures_util::future::join_all(batch.iter().map(|d| app.handle_work(&d.body)))
                        .await;
                // As the real consumers do: a page that is busy (its blast
                // still waits for its first message) comes back later.
                let mut done = Vec::new();
                for (d, o) in batch.iter().zip(outcomes) {
                    match o {
                        Ok(()) => done.push(d.id),
                        Err(AppError::Busy(_)) => queue
                            .retry_later(QueueName::Blast, d.id, Duration::from_millis(20))
                            .await
                            .unwrap(),
                        Err(e) => panic!("a blast page failed: {e}"),
                    }
                }
                queue.delete(QueueName::Blast, &done).await.unwrap();
            }
        })
    };
    let mut exact = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let paused = w.app.pause_blast(&t, &id).await.unwrap();
        let p = paused.progress.unwrap();
        assert_eq!(
            p.planned,
            p.pending + p.in_flight + p.sent + p.failed + p.skipped + p.cancelled
        );
        exact += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
        w.app.resume_blast(&t, &id).await.unwrap();
    }
    consumer.await.unwrap();
    let sent = g.sent.lock().unwrap().clone();
    assert_eq!(duplicates(&sent), 0);
    let p = w.app.blast_detail(&t, &id).await.unwrap().progress.unwrap();
    assert_eq!(exact, 20);
    assert_eq!((p.sent, p.pending, p.in_flight), (1500, 0, 0), "{p:?}");
    assert_eq!(sent.len(), 1500);
}

#[tokio::test]
async fn rate_limits_slow_the_blast_and_restrictions_pause_or_fail_it() {
    let (w, g) = world("00:00-24:00", monday()).await;
    let t = w.tenant();
    book_many(&w, 0..40).await;
    // Too fast, at first: nobody fails for it.
    g.throttle_first.store(5, Ordering::SeqCst);
    // Meta's per-user marketing cap and a "stop promotions" for two patients.
    g.per_recipient
        .lock()
        .unwrap()
        .insert(phone(7).trim_start_matches('+').into(), 131049);
    g.per_recipient
        .lock()
        .unwrap()
        .insert(phone(8).trim_start_matches('+').into(), 131050);
    // The number is restricted for spam on the 20th call.
    g.on_call.lock().unwrap().insert(20, 131048);
    let preview = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    let id = preview.blast.id.to_string();
    w.app.send_blast(&t, &id, None).await.unwrap().unwrap();
    drain_blast(&w, 1).await;
    let view = w.app.blast_detail(&t, &id).await.unwrap();
    assert_eq!(view.blast.state, BlastState::Paused);
    assert!(
        view.blast.reason.as_deref().unwrap().starts_with("131048"),
        "{:?}",
        view.blast.reason
    );
    let p = view.progress.unwrap();
    assert!(p.pending + p.in_flight > 0, "{p:?}");
    assert_eq!(p.failed, 0, "a rate limit or a pause fails nobody: {p:?}");

    w.app.resume_blast(&t, &id).await.unwrap();
    drain_blast(&w, 1).await;
    // The messages the rate limit held back go on their timers.
    w.clock.set(monday() + SignedDuration::from_secs(10));
    w.app.sweep_due_timers().await.unwrap();
    w.drain(1).await;
    let view = w.app.blast_detail(&t, &id).await.unwrap();
    let p = view.progress.unwrap();
    assert_eq!(
        (p.sent, p.skipped, p.failed, p.pending, p.in_flight),
        (38, 2, 0, 0, 0),
        "{p:?}"
    );
    assert_eq!(duplicates(&g.sent.lock().unwrap()), 0);
    let skipped = w
        .app
        .blast_recipients(
            &t,
            &id,
            &clinicflow_app::usecases::RecipientFilter {
                state: Some(RecipientState::Skipped),
            },
            50,
            None,
        )
        .await
        .unwrap();
    let codes: BTreeSet<_> = skipped
        .items
        .iter()
        .filter_map(|r| r.code.clone())
        .collect();
    assert_eq!(
        codes,
        BTreeSet::from(["131049".to_owned(), "131050".to_owned()])
    );
    // 131050 is the patient's opt-out of promotions on WhatsApp; 131049 is not.
    let mut promo = sick_afternoon();
    promo.template = "spring".into();
    promo.purpose = Some(Purpose::Promotional);
    let promo = w.app.preview_blast(&t, promo).await.unwrap();
    assert_eq!(
        promo
            .blast
            .buckets
            .excluded
            .get(&Exclusion::NoPromotionalConsent),
        Some(&40)
    );

    // A template that does not exist fails a blast at its first send.
    let (w, g) = world("00:00-24:00", monday()).await;
    let t = w.tenant();
    book_many(&w, 0..30).await;
    g.on_call.lock().unwrap().insert(1, 132001);
    let preview = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    let id = preview.blast.id.to_string();
    w.app.send_blast(&t, &id, None).await.unwrap().unwrap();
    drain_blast(&w, 1).await;
    let view = w.app.blast_detail(&t, &id).await.unwrap();
    assert_eq!(view.blast.state, BlastState::Failed);
    let p = view.progress.unwrap();
    assert_eq!(p.sent, 0, "{p:?}");
    assert_eq!(p.planned, p.failed + p.cancelled + p.in_flight, "{p:?}");
}

#[tokio::test]
async fn quiet_hours_defer_a_blast_to_the_morning_in_the_patients_zone() {
    // 22:00 in Istanbul: outside 09:00-21:00.
    let evening = ist(2026, 11, 30, 22, 0);
    let (w, g) = world("09:00-21:00", evening).await;
    let t = w.tenant();
    book_many(&w, 0..5).await;
    let preview = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    assert_eq!(
        preview.blast.buckets.deferred.get(&Channel::Whatsapp),
        Some(&5)
    );
    let id = preview.blast.id.to_string();
    w.app.send_blast(&t, &id, None).await.unwrap().unwrap();
    drain_blast(&w, 1).await;
    assert_eq!(g.calls.load(Ordering::SeqCst), 0, "nothing at night");
    w.clock.set(ist(2026, 12, 1, 9, 0));
    w.app.sweep_due_timers().await.unwrap();
    drain_blast(&w, 1).await;
    assert_eq!(g.sent.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn a_scheduled_blast_starts_on_time_and_a_cancelled_one_never_sends() {
    let (w, g) = world("00:00-24:00", monday()).await;
    let t = w.tenant();
    book_many(&w, 0..3).await;
    let at = monday() + SignedDuration::from_hours(2);
    let a = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    let scheduled = w
        .app
        .send_blast(&t, a.blast.id.as_str(), Some(at))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(scheduled.blast.state, BlastState::Scheduled);
    let b = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    w.app
        .send_blast(&t, b.blast.id.as_str(), Some(at))
        .await
        .unwrap()
        .unwrap();
    let cancelled = w.app.cancel_blast(&t, b.blast.id.as_str()).await.unwrap();
    assert_eq!(cancelled.progress.unwrap().cancelled, 3);
    w.app.sweep_due_timers().await.unwrap();
    drain_blast(&w, 1).await;
    assert_eq!(g.calls.load(Ordering::SeqCst), 0, "not yet");
    w.clock.set(at);
    w.app.sweep_due_timers().await.unwrap();
    drain_blast(&w, 1).await;
    assert_eq!(g.sent.lock().unwrap().len(), 3, "the scheduled one, once");
}

#[tokio::test]
async fn a_test_goes_to_staff_only() {
    let (w, g) = world("00:00-24:00", monday()).await;
    let t = w.tenant();
    book_many(&w, 0..2).await;
    let b = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    let e = w
        .app
        .test_blast(&t, b.blast.id.as_str(), &phone(1))
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Invalid(_)), "{e:?}");
    let m = w
        .app
        .test_blast(&t, b.blast.id.as_str(), "+90 532 000 00 02")
        .await
        .unwrap();
    assert!(m.body.contains("Dr. Jared Kaya"));
    w.drain(1).await;
    assert_eq!(g.sent.lock().unwrap().as_slice(), ["905320000002"]);
}

/// A patient's WhatsApp message, as the webhook queues it.
async fn whatsapp_from(w: &World, n: u32, text: &str, context: Option<&str>) {
    let event =
        clinicflow_core::inbound::Inbound::Message(clinicflow_core::inbound::InboundMessage {
            provider: "whatsapp".into(),
            provider_id: format!("in-{}", w.app.ids.new_id()),
            channel: Channel::Whatsapp,
            from: phone(n),
            name: None,
            text: text.into(),
            at: w.app.clock.now(),
            referral: None,
            payload: None,
            context: context.map(str::to_owned),
        });
    w.app
        .handle_inbound(
            &clinicflow_core::ids::TenantId::new("clinic").unwrap(),
            &event,
        )
        .await
        .unwrap();
    w.drain(1).await;
}

#[tokio::test]
async fn replies_and_rebookings_are_counted_as_the_blasts_outcome() {
    let (w, _) = world("00:00-24:00", monday()).await;
    let t = w.tenant();
    book_many(&w, 0..4).await;
    let preview = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    let id = preview.blast.id.to_string();
    w.app.send_blast(&t, &id, None).await.unwrap().unwrap();
    drain_blast(&w, 1).await;
    // Patient 0 answers the blast's very message (WhatsApp quotes it).
    let theirs = w
        .app
        .blast_recipients(&t, &id, &Default::default(), 10, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|r| r.planned.route.to == phone(0))
        .and_then(|r| r.provider_id)
        .unwrap();
    w.clock.set(monday() + SignedDuration::from_hours(1));
    whatsapp_from(&w, 0, "Cuma olur mu?", Some(&theirs)).await;
    // Patient 1 writes the next day: within 72 hours.
    w.clock.set(monday() + SignedDuration::from_hours(30));
    whatsapp_from(&w, 1, "Merhaba", None).await;
    // Patient 2 writes four days later: not the blast's doing.
    w.clock.set(monday() + SignedDuration::from_hours(96));
    whatsapp_from(&w, 2, "Merhaba", None).await;
    // Patient 3's appointment is moved within the week.
    w.clock.set(monday() + SignedDuration::from_hours(100));
    let start = ist(2026, 12, 7, 11, 0);
    let body = json!({
        "resourceType": "Appointment",
        "identifier": [{ "system": "https://mis.example/appointments", "value": "A-3-dr-jared-14" }],
        "status": "booked",
        "serviceType": [{ "coding": [{ "code": "checkup" }] }],
        "start": start.to_string(),
        "end": (start + SignedDuration::from_mins(15)).to_string(),
        "contained": [{ "resourceType": "Patient", "id": "p",
                        "name": [{ "given": ["Hasta3"], "family": "Test" }],
                        "telecom": [{ "system": "phone", "value": phone(3) }] }],
        "participant": [
            { "actor": { "reference": "#p" } },
            { "actor": { "reference": "Practitioner/dr-ada" } },
            { "actor": { "reference": "Location/kadikoy" } }
        ]
    });
    let bytes = serde_json::to_vec(&body).unwrap();
    w.app
        .upsert_fhir(
            &t,
            FhirWrite {
                identifier: "https://mis.example/appointments|A-3-dr-jared-14",
                if_match: None,
                body: &bytes,
            },
        )
        .await
        .unwrap();
    let p = w.app.blast_detail(&t, &id).await.unwrap().progress.unwrap();
    assert_eq!((p.sent, p.replied, p.rebooked), (4, 2, 1), "{p:?}");
    let recipients = w
        .app
        .blast_recipients(&t, &id, &Default::default(), 10, None)
        .await
        .unwrap()
        .items;
    let replied: BTreeSet<String> = recipients
        .iter()
        .filter(|r| r.replied_at.is_some())
        .map(|r| r.planned.route.to.clone())
        .collect();
    assert_eq!(replied, BTreeSet::from([phone(0), phone(1)]));
}

#[tokio::test]
async fn a_paused_blast_cancelled_settles_what_it_held_and_sends_no_more() {
    let (w, g) = world("00:00-24:00", monday()).await;
    let t = w.tenant();
    book_many(&w, 0..30).await;
    g.on_call.lock().unwrap().insert(10, 132015);
    let preview = w.app.preview_blast(&t, sick_afternoon()).await.unwrap();
    let id = preview.blast.id.to_string();
    w.app.send_blast(&t, &id, None).await.unwrap().unwrap();
    drain_blast(&w, 1).await;
    assert_eq!(
        w.app.blast_detail(&t, &id).await.unwrap().blast.state,
        BlastState::Paused
    );
    let sent_before = g.sent.lock().unwrap().len();
    let cancelled = w.app.cancel_blast(&t, &id).await.unwrap();
    assert_eq!(cancelled.blast.state, BlastState::Cancelled);
    drain_blast(&w, 1).await;
    w.clock.set(monday() + SignedDuration::from_mins(10));
    w.app.sweep_due_timers().await.unwrap();
    w.drain(1).await;
    assert_eq!(
        g.sent.lock().unwrap().len(),
        sent_before,
        "nothing after the cancel"
    );
    let p = w.app.blast_detail(&t, &id).await.unwrap().progress.unwrap();
    assert_eq!(p.in_flight, 0, "{p:?}");
    assert_eq!(p.planned, p.sent + p.cancelled, "{p:?}");
    assert_eq!(p.sent as usize, sent_before);
}
