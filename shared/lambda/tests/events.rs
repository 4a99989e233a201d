//! Every sample event in `events/` through its function's handler, on the
//! demo configuration, over the template's resources in the AWS emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use aws_lambda_events::sqs::SqsEvent;
use axum::body::to_bytes;
use clinicflow_app::http::{api_router, intake_router, webhooks_router};
use clinicflow_lambda::handlers;
use common::{Aws, repo};
use serde_json::{Value, json};
use tower::ServiceExt;

fn event(name: &str) -> String {
    std::fs::read_to_string(repo().join("events").join(name)).unwrap()
}

/// A copy of the webhook sample `name` with `from` changed to `to` (the
/// body changed, its signature not) is refused.
async fn forgery_refused(app: &Arc<clinicflow_app::App>, name: &str, from: &str, to: &str) {
    let forged = event(name).replace(from, to);
    let request = lambda_http::request::from_str(&forged).unwrap();
    let response = webhooks_router(app.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

async fn call(router: axum::Router, name: &str) -> (u16, Value) {
    let request = lambda_http::request::from_str(&event(name)).unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The queue sample with its placeholder lead replaced by `lead`.
fn sqs(name: &str, lead: &str) -> SqsEvent {
    serde_json::from_str(&event(name).replace("01JDEMO0000000000000000000", lead)).unwrap()
}

/// The demo clinic with a sample's configuration section appended, its
/// functions over a fresh deployment; `env` holds the section's secrets.
/// The directory holding the configuration lives as long as the result.
async fn demo_with(
    name: &str,
    section: &str,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> (Aws, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("clinicflow.toml");
    let demo = std::fs::read_to_string(repo().join("config/demo.toml")).unwrap();
    std::fs::write(&config, format!("{demo}\n{section}")).unwrap();
    (Aws::start_with(name, &config, env).await, dir)
}

/// The read and write units the emulator counted since its last reset.
fn units(aws: &Aws) -> (f64, f64) {
    aws.usage.capacity().values().fold((0.0, 0.0), |(r, w), c| {
        (r + c.read_units, w + c.total_write_units())
    })
}

/// The demo tenant's leads, newest first.
async fn leads_of(app: &clinicflow_app::App) -> Vec<clinicflow_core::lead::Lead> {
    let tenant = app.directory.tenants().next().unwrap().clone();
    app.list_leads(&tenant, &Default::default(), 10, None)
        .await
        .unwrap()
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sample_event_goes_through_its_handler() {
    let aws = Aws::start("events").await;
    let app = aws.app.clone();

    // intake: the form post (base64 body, allowed origin) is accepted.
    let (status, body) = call(intake_router(app.clone()), "intake-form-post.json").await;
    assert_eq!(status, 202, "{body}");
    let lead = body["id"].as_str().unwrap().to_owned();

    // api: the staff call lists it.
    let (status, body) = call(api_router(app.clone()), "api-list-leads.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["id"], lead.as_str());
    assert_eq!(
        body["items"][0]["attribution"]["utm_campaign"],
        "implant-kasim"
    );

    // assign: the work message is handled, the poisoned one alone fails.
    let batch = sqs("assign-sqs-batch.json", &lead);
    let poisoned = batch.records[1].message_id.clone().unwrap();
    let response = handlers::queue_batch(&app, batch).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, [poisoned.as_str()]);
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": poisoned}]})
    );

    // send: the greeting is delivered.
    let response = handlers::queue_batch(&app, sqs("send-sqs-batch.json", &lead)).await;
    assert!(response.batch_item_failures.is_empty());
    let tenant = app.directory.tenants().next().unwrap().clone();
    let detail = app.lead_detail(&tenant, &lead).await.unwrap();
    assert!(detail.lead.owner.is_some());
    assert_eq!(detail.messages[0].status.as_str(), "sent");

    // sweep: the scheduled event runs a sweep (nothing is due yet).
    let schedule: Value = serde_json::from_str(&event("sweep-schedule.json")).unwrap();
    let report = handlers::scheduled(&app, schedule).await.unwrap();
    assert_eq!(report.failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_sample_becomes_a_lead_through_the_leads_queue() {
    let env = |name: &str| match name {
        "DEMO_WHATSAPP_TOKEN" => Some("token".to_owned()),
        "DEMO_WHATSAPP_APP_SECRET" => Some("sample-app-secret".to_owned()),
        "DEMO_WHATSAPP_VERIFY_TOKEN" => Some("verify".to_owned()),
        _ => None,
    };
    let (aws, _dir) = demo_with("webhooks", &event("webhooks-demo-whatsapp.toml"), &env).await;
    let app = aws.app.clone();

    let (status, body) = call(
        webhooks_router(app.clone()),
        "webhooks-whatsapp-message.json",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], 1);
    // A forged copy (the body changed, the signature not) is refused.
    forgery_refused(&app, "webhooks-whatsapp-message.json", "implant", "implent").await;

    aws.drain_all(2).await;
    let tenant = app.directory.tenants().next().unwrap().clone();
    let leads = app
        .list_leads(&tenant, &Default::default(), 10, None)
        .await
        .unwrap()
        .items;
    assert_eq!(leads.len(), 1, "one lead, though every message came twice");
    assert_eq!(leads[0].source, "whatsapp");
    assert_eq!(
        leads[0].attribution.utm_campaign.as_deref(),
        Some("IG-IMPLANT-11")
    );
    let detail = app
        .lead_detail(&tenant, leads[0].id.as_str())
        .await
        .unwrap();
    let greeting = &detail.messages[0];
    assert_eq!(
        greeting.channel.as_str(),
        "sms",
        "the demo's order is SMS, then e-mail"
    );
    assert_eq!(greeting.status.as_str(), "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fhir_and_calcom_samples_feed_appointments() {
    let env =
        |name: &str| (name == "DEMO_CALCOM_SECRET").then(|| "sample-calcom-secret".to_owned());
    let (aws, _dir) = demo_with("appointments", &event("webhooks-demo-calcom.toml"), &env).await;
    let app = aws.app.clone();
    let tenant = app.directory.tenants().next().unwrap().clone();

    // api: the scheduler's FHIR upsert creates the appointment (201, ETag).
    let request = lambda_http::request::from_str(&event("api-fhir-appointment.json")).unwrap();
    let response = api_router(app.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["etag"], "W/\"1\"");
    // The same write again changes nothing: 200, still version 1.
    let request = lambda_http::request::from_str(&event("api-fhir-appointment.json")).unwrap();
    let response = api_router(app.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["etag"], "W/\"1\"");

    // webhooks: Cal.com's signed booking is queued, then becomes an appointment.
    let (status, body) = call(webhooks_router(app.clone()), "webhooks-calcom-booking.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], 1);
    forgery_refused(
        &app,
        "webhooks-calcom-booking.json",
        "Zeynep Arslan",
        "Zeynep Arsian",
    )
    .await;
    aws.drain_all(2).await;
    for (day, identifier) in [(3, "A-1001"), (4, "bk-7HvQm2")] {
        let filter = clinicflow_app::usecases::AppointmentFilter {
            date: jiff::civil::date(2026, 12, day),
            branch: Some(clinicflow_core::ids::BranchId::new("kadikoy").unwrap()),
            part: None,
            practitioner: None,
            service: None,
            status: None,
            confirmation: None,
        };
        let items = app
            .list_appointments(&tenant, &filter, 10, None)
            .await
            .unwrap()
            .items;
        assert_eq!(items.len(), 1, "{identifier}");
        assert_eq!(items[0].identifiers[0].value, identifier);
    }

    // api: Dr. Aydın's Thursday afternoon previewed as a blast (the
    // patient's send hours are 09:00-21:00: the clock is in them).
    aws.clock
        .set(common::monday(10, 0) + jiff::SignedDuration::from_hours(24));
    let (status, preview) = call(api_router(app.clone()), "api-blast-preview.json").await;
    assert_eq!(status, 201, "{preview}");
    assert_eq!(preview["planned"], 1, "{preview}");
    let blast = preview["id"].as_str().unwrap().to_owned();
    app.send_blast(&tenant, &blast, None)
        .await
        .unwrap()
        .unwrap();
    // blast: its page, as the blast queue delivers it.
    let page: SqsEvent = serde_json::from_str(
        &event("blast-sqs-batch.json").replace("01JDEMOBLAST00000000000000", &blast),
    )
    .unwrap();
    let response = handlers::queue_batch(&app, page).await;
    assert!(response.batch_item_failures.is_empty());
    let view = app.blast_detail(&tenant, &blast).await.unwrap();
    assert_eq!(view.progress.unwrap().sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_automation_samples_save_a_rule_and_arm_it() {
    let aws = Aws::start("automation-events").await;
    let app = aws.app.clone();
    aws.clock.set(common::monday(10, 0));
    let (status, body) = call(intake_router(app.clone()), "intake-form-post.json").await;
    assert_eq!(status, 202, "{body}");
    let lead = body["id"].as_str().unwrap().to_owned();
    aws.drain_all(1).await;

    // api: the rule is saved (201, version 1 as the ETag), then activated.
    let request = lambda_http::request::from_str(&event("api-automation-create.json")).unwrap();
    let response = api_router(app.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["etag"], "W/\"1\"");
    let tenant = app.directory.tenants().next().unwrap().clone();
    app.set_rule_active(&tenant, "visit-follow-up", Some(1), true, true, None)
        .await
        .unwrap();

    // assign: the touch's event, delivered twice, arms one firing.
    for _ in 0..2 {
        let response = handlers::queue_batch(&app, sqs("assign-automation-sqs.json", &lead)).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let pending = app
        .list_firings(&tenant, "visit-follow-up", None, 10, None)
        .await
        .unwrap()
        .items;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state.as_str(), "pending");

    // sweep: three days on, the task for the lead's owner.
    aws.clock
        .set(common::monday(10, 0) + jiff::SignedDuration::from_hours(73));
    let schedule: Value = serde_json::from_str(&event("sweep-schedule.json")).unwrap();
    handlers::scheduled(&app, schedule).await.unwrap();
    let fired = app
        .list_firings(&tenant, "visit-follow-up", None, 10, None)
        .await
        .unwrap()
        .items;
    assert_eq!(fired[0].state.as_str(), "fired", "{:?}", fired[0]);
    let detail = app.lead_detail(&tenant, &lead).await.unwrap();
    let made: Vec<_> = detail.tasks.iter().filter(|t| t.firing.is_some()).collect();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].firing.as_deref(), Some(fired[0].id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_google_lead_sample_becomes_a_lead() {
    let env = |name: &str| (name == "DEMO_GOOGLE_KEY").then(|| "sample-google-key".to_owned());
    let (aws, _dir) = demo_with("google-sample", &event("webhooks-demo-google.toml"), &env).await;
    let app = aws.app.clone();

    let (status, body) = call(webhooks_router(app.clone()), "webhooks-google-lead.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], 1);
    forgery_refused(
        &app,
        "webhooks-google-lead.json",
        "sample-google-key",
        "guessed-key",
    )
    .await;
    aws.drain_all(2).await;
    let leads = leads_of(&app).await;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].source, "google_ads");
    assert_eq!(leads[0].service.as_deref(), Some("Implant"));
    assert_eq!(leads[0].language.as_str(), "de");
    assert!(leads[0].owner.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_sample_becomes_a_lead() {
    let env = |name: &str| (name == "DEMO_CALLS_SECRET").then(|| "sample-calls-secret".to_owned());
    let (aws, _dir) = demo_with("calls-sample", &event("webhooks-demo-calls.toml"), &env).await;
    let app = aws.app.clone();
    // The sample was signed at 2026-11-30T10:00:00Z.
    aws.clock.set("2026-11-30T10:00:30Z".parse().unwrap());

    aws.usage.reset();
    let (status, body) = call(webhooks_router(app.clone()), "webhooks-call-missed.json").await;
    assert_eq!(status, 200, "{body}");
    // The same record, its body changed: refused.
    forgery_refused(
        &app,
        "webhooks-call-missed.json",
        "+905329998811",
        "+905329998812",
    )
    .await;
    // Replayed an hour later: refused.
    aws.clock.set("2026-11-30T11:00:00Z".parse().unwrap());
    let (status, _) = call(webhooks_router(app.clone()), "webhooks-call-missed.json").await;
    assert_eq!(status, 401);
    aws.drain_all(1).await;
    // What a missed call from a new number used of AWS, to its greeting sent.
    let (reads, writes) = units(&aws);
    println!(
        "missed call from a new number: {} requests, {reads:.1} read units, {writes:.1} write units",
        aws.usage.total_requests()
    );
    let leads = leads_of(&app).await;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].source, "call");
    assert!(leads[0].owner.is_some());
}

/// A local server speaking the Graph API's lead read for the Meta sample:
/// it checks the Page token and answers with the lead Meta documents.
async fn graph_api() -> String {
    let app = axum::Router::new().route(
        "/v23.0/{lead}",
        axum::routing::get(
            |axum::extract::Path(lead): axum::extract::Path<String>,
             headers: axum::http::HeaderMap| async move {
                assert_eq!(headers["authorization"], "Bearer sample-page-token");
                axum::Json(json!({
                    "created_time": "2026-11-30T09:59:50+0000",
                    "id": lead,
                    "form_id": "1202838450239489",
                    "campaign_id": "23850000000000003", "campaign_name": "Implant Germany",
                    "field_data": [
                        {"name": "full_name", "values": ["Anna Schmidt"]},
                        {"name": "phone_number", "values": ["+4930901840"]},
                        {"name": "which_treatment?", "values": ["implant"]}
                    ]
                }))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v23.0", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_meta_leadgen_sample_is_read_from_the_graph_api() {
    let graph = graph_api().await;
    let meta = event("webhooks-demo-meta.toml").replace("https://graph.facebook.com/v23.0", &graph);
    let env = |name: &str| match name {
        "DEMO_META_APP_SECRET" => Some("sample-app-secret".to_owned()),
        "DEMO_META_VERIFY_TOKEN" => Some("sample-verify-token".to_owned()),
        "DEMO_META_PAGE_TOKEN" => Some("sample-page-token".to_owned()),
        _ => None,
    };
    let (aws, _dir) = demo_with("meta-sample", &meta, &env).await;
    let app = aws.app.clone();

    aws.usage.reset();
    let (status, body) = call(webhooks_router(app.clone()), "webhooks-meta-leadgen.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], 1);
    forgery_refused(
        &app,
        "webhooks-meta-leadgen.json",
        "2026113000000001",
        "2026113000000002",
    )
    .await;
    aws.drain_all(1).await;
    let (reads, writes) = units(&aws);
    println!(
        "Meta lead: {} AWS requests, {reads:.1} read units, {writes:.1} write units (and one Graph API read)",
        aws.usage.total_requests()
    );
    let leads = leads_of(&app).await;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].source, "meta_ads");
    assert_eq!(leads[0].language.as_str(), "de");
    assert_eq!(
        leads[0].attribution.utm_campaign.as_deref(),
        Some("Implant Germany")
    );
    assert!(leads[0].owner.is_some());
}

/// A local server speaking Instagram's Send API for the Instagram sample:
/// it checks the token and the recipient, and keeps what it was sent.
async fn instagram_api() -> (String, Arc<Mutex<Vec<Value>>>) {
    let sent: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = sent.clone();
    let profile = axum::routing::get(|| async {
        axum::Json(json!({"username": "ayse.kaya", "id": "17841400000000042"}))
    });
    let app = axum::Router::new()
        .route("/v23.0/17841400000000042", profile)
        .route(
        "/v23.0/17841400000000001/messages",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let log = log.clone();
                async move {
                    assert_eq!(headers["authorization"], "Bearer sample-instagram-token");
                    assert_eq!(body["recipient"]["id"], "17841400000000042");
                    log.lock().unwrap().push(body);
                    axum::Json(json!({"recipient_id": "17841400000000042", "message_id": "aWdfZAG1faXRlbToxOklHOK"}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v23.0", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instagram_sample_becomes_a_lead_answered_on_instagram() {
    let (api, sent) = instagram_api().await;
    let section =
        event("webhooks-demo-instagram.toml").replace("https://graph.instagram.com/v23.0", &api);
    let env = |name: &str| match name {
        "DEMO_INSTAGRAM_TOKEN" => Some("sample-instagram-token".to_owned()),
        "DEMO_INSTAGRAM_APP_SECRET" => Some("sample-app-secret".to_owned()),
        "DEMO_INSTAGRAM_VERIFY_TOKEN" => Some("sample-verify-token".to_owned()),
        _ => None,
    };
    let (aws, _dir) = demo_with("instagram-sample", &section, &env).await;
    let app = aws.app.clone();
    // The patient wrote at 2026-11-30T10:00:00Z: the window is open.
    aws.clock.set("2026-11-30T10:00:30Z".parse().unwrap());

    aws.usage.reset();
    let (status, body) = call(
        webhooks_router(app.clone()),
        "webhooks-instagram-message.json",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], 1);
    forgery_refused(
        &app,
        "webhooks-instagram-message.json",
        "dental implant",
        "dental implants",
    )
    .await;
    aws.drain_all(1).await;
    let (reads, writes) = units(&aws);
    println!(
        "Instagram lead: {} AWS requests, {reads:.1} read units, {writes:.1} write units (and one Send API call)",
        aws.usage.total_requests()
    );
    let leads = leads_of(&app).await;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].source, "instagram");
    assert_eq!(leads[0].name.as_deref(), Some("@ayse.kaya"));
    assert_eq!(
        leads[0].language.as_str(),
        "en",
        "{:?}",
        leads[0].language_choice
    );
    assert!(leads[0].owner.is_some());
    let tenant = app.directory.tenants().next().unwrap().clone();
    let detail = app
        .lead_detail(&tenant, leads[0].id.as_str())
        .await
        .unwrap();
    let greeting = &detail.messages[0];
    assert_eq!(greeting.channel.as_str(), "instagram");
    assert_eq!(greeting.status.as_str(), "sent");
    assert_eq!(sent.lock().unwrap().len(), 1);
}
