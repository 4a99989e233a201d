//! The lead journey through the functions' handlers over the AWS adapters,
//! against the AWS emulator: form → intake → SQS → assign → DynamoDB →
//! send; sweep → manager alert → reassignment; domain events on the bus.
//! Also: every SQS message delivered twice changes nothing, two sweeps at
//! once fire each timer once, a message that keeps failing reaches the
//! dead-letter queue. Requests to AWS are counted on the wire.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use aws_lambda_events::sqs::SqsBatchResponse;
use axum::body::{Body, to_bytes};
use axum::http::{Request, header};
use clinicflow_app::usecases::{LeadDetail, LeadFilter};
use clinicflow_lambda::handlers;
use clinicflow_ports::Clock;
use common::{Aws, monday, post_form};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn detail(aws: &Aws, lead: &str) -> LeadDetail {
    let tenant = aws.app.directory.tenants().next().unwrap().clone();
    aws.app.lead_detail(&tenant, lead).await.unwrap()
}

fn count(detail: &LeadDetail, kind: &str) -> usize {
    detail
        .messages
        .iter()
        .filter(|m| m.kind.as_str() == kind && m.status.as_str() == "sent")
        .count()
}

/// The largest item of each kind in the table (its sort key up to the
/// first `#`; a load's `C`, a sandbox delivery's message id as `sandbox`),
/// sized by DynamoDB's rules.
async fn item_sizes(aws: &Aws) -> BTreeMap<String, usize> {
    let dynamo = aws_sdk_dynamodb::Client::new(&aws.emulator.sdk_config());
    let mut sizes = BTreeMap::new();
    let mut pages = dynamo
        .scan()
        .table_name(&aws.deployment.resources.table)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.unwrap();
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let (pk, sk) = (text("pk").unwrap(), text("sk").unwrap());
        let kind = if pk.contains("#SANDBOX#") {
            "sandbox".to_owned()
        } else {
            sk.split('#').next().unwrap().to_owned()
        };
        let size = clinicflow_aws::capacity::item_size(&item.into_iter().collect());
        let largest = sizes.entry(kind).or_insert(0);
        *largest = size.max(*largest);
    }
    sizes
}

/// A queue that receives every event of the bus, as a clinic's consumer would.
async fn subscribe(aws: &Aws) -> String {
    let sdk = aws.emulator.sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name("journey-subscriber")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let bus = &aws.deployment.resources.event_bus;
    events
        .put_rule()
        .name("all-leads")
        .event_bus_name(bus)
        .event_pattern(r#"{"source":["clinicflow"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("all-leads")
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("subscriber")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    url
}

/// Every event the subscriber's queue received, read and deleted: each as
/// JSON and as the text that came.
async fn heard(aws: &Aws, subscriber: &str) -> Vec<(Value, String)> {
    let sqs = aws_sdk_sqs::Client::new(&aws.emulator.sdk_config());
    let mut events = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(subscriber)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return events;
        }
        for m in messages {
            let body = m.body().unwrap().to_owned();
            events.push((serde_json::from_str(&body).unwrap(), body));
            sqs.delete_message()
                .queue_url(subscriber)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_goes_from_form_to_reassignment_through_the_functions() {
    let aws = Aws::start("journey").await;
    let subscriber = subscribe(&aws).await;

    aws.usage.reset();
    let lead = post_form(&aws, "0532 123 45 67").await;
    let intake = aws.usage.total_requests();
    // The assignment alone: a tenant without automation rules queues no
    // news of the lead for the engine.
    assert_eq!(aws.drain(&aws.leads_queue(), 1).await, 1);
    assert_eq!(aws.drain(&aws.outbox_queue(), 1).await, 1);
    let requests = aws.usage.requests();
    let capacity = aws.usage.capacity();
    let d = detail(&aws, &lead).await;
    assert_eq!(count(&d, "greeting"), 1, "{:?}", d.messages);
    let first_owner = d.lead.owner.clone().unwrap().consultant;

    // The request budget of one lead, from the form to the greeting sent.
    let mut by_service: BTreeMap<&str, u64> = BTreeMap::new();
    for ((service, operation), n) in &requests {
        println!("{service:>12} {operation:<20} {n}");
        *by_service.entry(service.as_str()).or_default() += n;
    }
    let total: u64 = by_service.values().sum();
    println!("intake {intake}, total {total} requests per lead: {by_service:?}");
    // The budget of 12 (the assignment reads the lead, the patient and
    // the rule-set revision in one request; a tenant without rules queues
    // no news for the automation engine).
    assert!(total <= 12, "{total} requests per lead: {requests:?}");

    // DynamoDB's capacity units of the same lead, at on-demand list prices
    // (us-east-1: $0.125 per million read units, $0.625 per million write units).
    let (mut reads, mut writes) = (0.0, 0.0);
    for (operation, c) in &capacity {
        println!(
            "{operation:<20} read {:>5.1}  write {:>5.1} (table {:.1}, indexes {:.1})",
            c.read_units,
            c.total_write_units(),
            c.write_units,
            c.index_write_units
        );
        reads += c.read_units;
        writes += c.total_write_units();
    }
    println!(
        "DynamoDB per lead: {reads:.1} read units, {writes:.1} write units: ${:.4} per 1,000 leads",
        (reads * 0.125 + writes * 0.625) / 1000.0
    );
    assert!(writes > 0.0 && reads > 0.0, "{capacity:?}");
    // Every item the lead wrote, by kind, as DynamoDB sizes it: under
    // 1 KB each, so each write is one unit (two in a transaction).
    let sizes = item_sizes(&aws).await;
    for (kind, size) in &sizes {
        println!("{kind:<12} {size:>4} bytes");
    }
    assert!(sizes.values().all(|s| *s < 1024), "{sizes:?}");

    // Nobody calls: at 10:10 the sweep warns the manager.
    aws.clock.set(monday(10, 10));
    let report = handlers::scheduled(&aws.app, Value::Null).await.unwrap();
    assert_eq!(report.fired, 1, "{report:?}");
    aws.drain_all(1).await;
    let d = detail(&aws, &lead).await;
    assert_eq!(d.tasks.len(), 1);
    assert_eq!(count(&d, "sla_alert"), 1);

    // At 10:30 the lead goes to another consultant.
    aws.clock.set(monday(10, 30));
    handlers::scheduled(&aws.app, Value::Null).await.unwrap();
    aws.drain_all(1).await;
    let d = detail(&aws, &lead).await;
    assert_eq!(d.lead.past_owners, std::slice::from_ref(&first_owner));
    assert_ne!(d.lead.owner.unwrap().consultant, first_owner);

    // A clinic's consumer heard each step.
    let mut kinds = Vec::new();
    for (event, body) in heard(&aws, &subscriber).await {
        assert_eq!(event["source"], "clinicflow");
        assert_eq!(event["detail"]["lead"], lead.as_str());
        // The patient's number in any form (ids and times may hold "532").
        assert!(
            !body.contains("5321234567") && !body.contains("532 123"),
            "no patient data in events"
        );
        kinds.push(event["detail-type"].as_str().unwrap().to_owned());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "lead.assigned",
            "lead.created",
            "lead.reassigned",
            "lead.sla_breached"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_delivered_twice_changes_nothing() {
    let aws = Aws::start("twice").await;
    let a = post_form(&aws, "0532 111 11 11").await;
    let b = post_form(&aws, "0532 222 22 22").await;
    aws.drain_all(2).await;
    aws.clock.set(monday(10, 10));
    handlers::scheduled(&aws.app, Value::Null).await.unwrap();
    aws.drain_all(2).await;
    let tenant = aws.app.directory.tenants().next().unwrap().clone();
    let leads = aws
        .app
        .list_leads(&tenant, &LeadFilter::default(), 50, None)
        .await
        .unwrap()
        .items;
    assert_eq!(leads.len(), 2);
    for lead in [a, b] {
        let d = detail(&aws, &lead).await;
        assert_eq!(d.messages.len(), 2, "{:?}", d.messages);
        assert_eq!(count(&d, "greeting"), 1);
        assert_eq!(count(&d, "sla_alert"), 1);
        assert!(d.messages.iter().all(|m| m.attempts == 1));
        assert_eq!(d.tasks.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sweeps_at_once_fire_each_timer_once() {
    let aws = Aws::start("sweeps").await;
    for i in 0..10 {
        post_form(&aws, &format!("0532 300 00 {i:02}")).await;
    }
    aws.drain_all(1).await;
    let tenant = aws.app.directory.tenants().next().unwrap().clone();
    let leads = aws
        .app
        .list_leads(&tenant, &LeadFilter::default(), 50, None)
        .await
        .unwrap()
        .items;
    // Each lead's warning is due; its reassignment is not yet.
    let mut due = 0;
    for lead in &leads {
        let d = detail(&aws, lead.id.as_str()).await;
        due += d
            .timers
            .iter()
            .filter(|t| t.due_at <= monday(10, 10))
            .count();
    }
    aws.clock.set(monday(10, 10));
    let (one, two) = tokio::join!(
        handlers::scheduled(&aws.app, Value::Null),
        handlers::scheduled(&aws.app, Value::Null)
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(due, 10);
    assert_eq!(one.fired + two.fired, due, "{one:?} {two:?}");
    assert_eq!(one.failed + two.failed, 0);
    aws.drain_all(1).await;
    let tasks = aws
        .app
        .list_tasks(&tenant, &Default::default(), 100, None)
        .await
        .unwrap()
        .items;
    assert_eq!(tasks.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_reaches_the_dead_letter_queue() {
    let aws = Aws::start("poison").await;
    let sqs = aws_sdk_sqs::Client::new(&aws.emulator.sdk_config());
    let queue = aws.leads_queue();
    sqs.send_message()
        .queue_url(&queue)
        .message_body(r#"{"kind":"no_such_work"}"#)
        .send()
        .await
        .unwrap();
    for _ in 0..aws.deployment.max_receive_count {
        let event = aws.receive(&queue).await;
        assert_eq!(event.records.len(), 1);
        let response: SqsBatchResponse = handlers::queue_batch(&aws.app, event.clone()).await;
        assert_eq!(response.batch_item_failures.len(), 1);
        aws.settle(&queue, &event, &response).await;
        // Make it visible again at once instead of after the timeout.
        sqs.change_message_visibility()
            .queue_url(&queue)
            .receipt_handle(event.records[0].receipt_handle.clone().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    assert!(aws.receive(&queue).await.records.is_empty());
    let dead = sqs
        .receive_message()
        .queue_url(&aws.deployment.leads_dead_letter_url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some(r#"{"kind":"no_such_work"}"#));
}

/// A day of the appointment week at `h:m` in Istanbul (30 November 2026 is a Monday).
fn dec(day: i8, h: i8, m: i8) -> jiff::Timestamp {
    use jiff::civil::date;
    jiff::tz::TimeZone::get("Europe/Istanbul")
        .unwrap()
        .to_timestamp(
            if day == 30 {
                date(2026, 11, 30)
            } else {
                date(2026, 12, day)
            }
            .at(h, m, 0, 0),
        )
        .unwrap()
}

/// The staff API (the api function) as a client calls it.
/// Google's lead webhook body, as its documentation gives it.
fn google_lead(lead_id: &str, key: &str) -> Value {
    json!({
        "lead_id": lead_id,
        "user_column_data": [
            {"column_name": "Full Name", "string_value": "Anna Schmidt", "column_id": "FULL_NAME"},
            {"column_name": "User Phone", "string_value": "+4930901820", "column_id": "PHONE_NUMBER"}
        ],
        "api_version": "1.0",
        "form_id": 40000000001u64,
        "campaign_id": 10000000007u64,
        "google_key": key,
        "is_test": false,
        "gcl_id": "EAIaIQobChMI-test",
        "adgroup_id": 20000000007u64,
        "creative_id": 30000000007u64
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_google_lead_delivered_three_times_is_one_lead_through_the_functions() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("clinicflow.toml");
    let read = |path: &str| std::fs::read_to_string(common::repo().join(path)).unwrap();
    let (demo, google) = (
        read("config/demo.toml"),
        read("events/webhooks-demo-google.toml"),
    );
    std::fs::write(&config, format!("{demo}\n{google}")).unwrap();
    let env = |name: &str| (name == "DEMO_GOOGLE_KEY").then(|| "google-key-0123456789".to_owned());
    let aws = Aws::start_with("google", &config, &env).await;
    let webhook = |body: Value| {
        let request = Request::builder()
            .method("POST")
            .uri("/webhooks/google/demo")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        clinicflow_app::http::webhooks_router(aws.app.clone()).oneshot(request)
    };
    // A wrong key: 401, nothing queued.
    let refused = webhook(google_lead("L-1", "wrong")).await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(aws.drain(&aws.leads_queue(), 1).await, 0);

    aws.usage.reset();
    let accepted = webhook(google_lead("L-1", "google-key-0123456789"))
        .await
        .unwrap();
    assert_eq!(accepted.status().as_u16(), 200);
    let answer = aws.usage.total_requests();
    aws.drain_all(1).await;
    // What one Google lead used of AWS, from its webhook to the greeting sent.
    let (mut reads, mut writes) = (0.0, 0.0);
    for c in aws.usage.capacity().values() {
        reads += c.read_units;
        writes += c.total_write_units();
    }
    println!(
        "Google lead: {answer} request(s) to answer, {} in all; {reads:.1} read units, {writes:.1} write units: ${:.4} per 1,000 leads",
        aws.usage.total_requests(),
        (reads * 0.125 + writes * 0.625) / 1000.0
    );
    // Delivered twice more: nothing new.
    for _ in 0..2 {
        let again = webhook(google_lead("L-1", "google-key-0123456789"))
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 200);
    }
    aws.drain_all(1).await;
    let tenant = aws.app.directory.tenants().next().unwrap().clone();
    let leads = aws
        .app
        .list_leads(&tenant, &LeadFilter::default(), 50, None)
        .await
        .unwrap()
        .items;
    assert_eq!(leads.len(), 1, "{leads:?}");
    let d = detail(&aws, leads[0].id.as_str()).await;
    assert_eq!(d.lead.source, "google_ads");
    assert_eq!(d.touches.len(), 1);
    assert_eq!(count(&d, "greeting"), 1);
    assert_eq!(
        d.lead
            .attribution
            .ad
            .as_ref()
            .and_then(|a| a.campaign_id.as_deref()),
        Some("10000000007")
    );
}

/// A patient's WhatsApp message (or button tap), as the webhooks function
/// queues it for the assign function.
async fn whatsapp_says(aws: &Aws, from: &str, text: &str, payload: Option<&str>) {
    use clinicflow_core::inbound::{Inbound, InboundMessage};
    let work = clinicflow_app::work::Work::Inbound {
        tenant: clinicflow_core::ids::TenantId::new("demo").unwrap(),
        inbound: Inbound::Message(InboundMessage {
            provider: "whatsapp".into(),
            provider_id: format!("wamid.{}", aws.app.ids.new_id()),
            channel: clinicflow_core::message::Channel::Whatsapp,
            from: from.into(),
            name: None,
            text: text.into(),
            at: aws.clock.now(),
            referral: None,
            payload: payload.map(str::to_owned),
            context: None,
        }),
    };
    aws.app.store.write(vec![work.enqueue()]).await.unwrap();
    aws.drain_all(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_question_waits_for_the_answer_through_the_functions() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("clinicflow.toml");
    let demo = std::fs::read_to_string(common::repo().join("config/demo.toml")).unwrap();
    std::fs::write(
        &config,
        format!("{demo}\n[tenants.language_question]\nwait = \"10m\"\n"),
    )
    .unwrap();
    let aws = Aws::start_with("question", &config, &|_| None).await;
    let tenant = aws.app.directory.tenants().next().unwrap().clone();
    let lead_of = |phone: &'static str| {
        let aws = &aws;
        let tenant = tenant.clone();
        async move {
            let leads = aws
                .app
                .list_leads(&tenant, &LeadFilter::default(), 50, None)
                .await
                .unwrap()
                .items;
            let lead = leads
                .iter()
                .find(|l| l.reach.phone.as_ref().is_some_and(|p| p.as_str() == phone))
                .unwrap();
            detail(aws, lead.id.as_str()).await
        }
    };

    // "Hello" from a British number: asked, not assigned.
    whatsapp_says(&aws, "+447911123456", "Hello", None).await;
    let d = lead_of("+447911123456").await;
    assert!(d.lead.owner.is_none() && d.lead.language_asked_at.is_some());
    assert_eq!(count(&d, "language_question"), 1);
    // The tap: Russian, chosen, and assigned at once (the demo's rules
    // put the branch first: Kadıköy's consultant on shift takes it).
    whatsapp_says(&aws, "+447911123456", "Русский", Some("lang.ru")).await;
    let d = lead_of("+447911123456").await;
    assert_eq!(d.lead.language.as_str(), "ru");
    assert_eq!(
        d.lead.language_choice.as_ref().map(|c| c.source),
        Some(clinicflow_core::language::LanguageSource::Chosen)
    );
    assert!(d.lead.owner.is_some());
    assert_eq!(count(&d, "greeting"), 1);

    // Nobody answers: the sweep assigns it when the wait is over.
    whatsapp_says(&aws, "+4930901860", "Hallo", None).await;
    let d = lead_of("+4930901860").await;
    assert!(d.lead.owner.is_none());
    sweep_at(&aws, monday(10, 5)).await;
    assert!(lead_of("+4930901860").await.lead.owner.is_none());
    sweep_at(&aws, monday(10, 11)).await;
    let d = lead_of("+4930901860").await;
    assert!(d.lead.owner.is_some(), "{:?}", d.lead);
    // The phone's hint stands.
    assert_eq!(
        d.lead.language_choice.map(|c| c.source),
        Some(clinicflow_core::language::LanguageSource::PhoneCountry)
    );
}

async fn staff(aws: &Aws, method: &str, path: &str, body: Value) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, "Bearer demo-staff-token-change-me")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = clinicflow_app::http::api_router(aws.app.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A patient's SMS, as the webhooks function queues it for the assign function.
async fn patient_says(aws: &Aws, text: &str) {
    use clinicflow_core::inbound::{Inbound, InboundMessage};
    let work = clinicflow_app::work::Work::Inbound {
        tenant: clinicflow_core::ids::TenantId::new("demo").unwrap(),
        inbound: Inbound::Message(InboundMessage {
            provider: "twilio".into(),
            provider_id: format!("SM{}", aws.app.ids.new_id()),
            channel: clinicflow_core::message::Channel::Sms,
            from: "+905321112233".into(),
            name: None,
            text: text.into(),
            at: aws.clock.now(),
            referral: None,
            payload: None,
            context: None,
        }),
    };
    aws.app.store.write(vec![work.enqueue()]).await.unwrap();
    aws.drain_all(1).await;
}

/// What each step of a journey used of AWS, and the totals.
#[derive(Default)]
struct Steps {
    rows: Vec<(String, u64, String, f64, f64)>,
    requests: u64,
    reads: f64,
    writes: f64,
}

impl Steps {
    /// Records what was used since the last step under `name`.
    fn take(&mut self, aws: &Aws, name: &str) {
        let mut by_service: BTreeMap<String, u64> = BTreeMap::new();
        for ((service, _), n) in aws.usage.requests() {
            *by_service.entry(service).or_default() += n;
        }
        let requests: u64 = by_service.values().sum();
        let (mut reads, mut writes) = (0.0, 0.0);
        for c in aws.usage.capacity().values() {
            reads += c.read_units;
            writes += c.total_write_units();
        }
        let services = by_service
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.rows
            .push((name.to_owned(), requests, services, reads, writes));
        self.requests += requests;
        self.reads += reads;
        self.writes += writes;
        aws.usage.reset();
    }

    fn print(&self) {
        println!("| step | requests | by service | read units | write units |");
        println!("| --- | ---: | --- | ---: | ---: |");
        for (name, requests, services, reads, writes) in &self.rows {
            println!("| {name} | {requests} | {services} | {reads:.1} | {writes:.1} |");
        }
        println!(
            "| **journey** | **{}** | | **{:.1}** | **{:.1}** |",
            self.requests, self.reads, self.writes
        );
        println!(
            "DynamoDB per appointment journey: ${:.4} per 1,000 appointments",
            (self.reads * 0.125 + self.writes * 0.625) / 1000.0
        );
    }
}

/// The sweep (its schedule) at `at`, and the queues after it.
async fn sweep_at(aws: &Aws, at: jiff::Timestamp) {
    aws.clock.set(at);
    handlers::scheduled(&aws.app, Value::Null).await.unwrap();
    aws.drain_all(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appointment_goes_from_booking_to_survey_through_the_functions() {
    let aws = Aws::start("appointment").await;
    let subscriber = subscribe(&aws).await;
    aws.clock.set(dec(30, 10, 0));
    aws.usage.reset();

    // api: the clinic's scheduler books Thursday 14:00 through the FHIR upsert.
    let request = lambda_http::request::from_str(
        &std::fs::read_to_string(common::repo().join("events/api-fhir-appointment.json")).unwrap(),
    )
    .unwrap();
    let response = clinicflow_app::http::api_router(aws.app.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let mut steps = Steps::default();
    steps.take(&aws, "booked (FHIR upsert: api)");
    let (_, listed) = staff(
        &aws,
        "GET",
        "/v1/appointments?branch=kadikoy&date=2026-12-03",
        Value::Null,
    )
    .await;
    aws.usage.reset();
    let id = listed["items"][0]["id"].as_str().unwrap().to_owned();

    // sweep + send: the confirmation (Tuesday 14:00), the patient's "1",
    // the nudge skipped, the reminder (Thursday 12:00); the visit;
    // aftercare; the survey; the score.
    sweep_at(&aws, dec(1, 14, 0)).await;
    steps.take(&aws, "confirmation (sweep, send)");
    aws.clock.set(dec(1, 14, 20));
    patient_says(&aws, "1").await;
    steps.take(&aws, "the patient's \"1\" and the reply (assign, send)");
    sweep_at(&aws, dec(2, 14, 0)).await;
    steps.take(
        &aws,
        "a sweep with nothing due: the nudge died with the confirmation",
    );
    sweep_at(&aws, dec(3, 12, 0)).await;
    steps.take(&aws, "reminder (sweep, send)");
    aws.clock.set(dec(3, 14, 40));
    let (status, _) = staff(
        &aws,
        "POST",
        &format!("/v1/appointments/{id}/status"),
        json!({"status": "fulfilled"}),
    )
    .await;
    assert_eq!(status, 200);
    steps.take(&aws, "completed (api)");
    sweep_at(&aws, dec(3, 14, 41)).await;
    steps.take(&aws, "aftercare (sweep, send)");
    sweep_at(&aws, dec(3, 15, 41)).await;
    steps.take(&aws, "survey (sweep, send)");
    aws.clock.set(dec(3, 16, 0));
    patient_says(&aws, "5").await;
    steps.take(&aws, "the score and the thanks (assign, send)");
    steps.print();
    let (status, detail) = staff(&aws, "GET", &format!("/v1/appointments/{id}"), Value::Null).await;
    assert_eq!(status, 200);
    let sent: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == "sent")
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        sent,
        [
            "appointment_confirmation",
            "answer_confirmed",
            "appointment_reminder",
            "aftercare",
            "survey",
            "survey_thanks"
        ],
        "{detail:#}"
    );
    assert_eq!(detail["confirmation"], "accepted");
    assert_eq!(detail["survey"]["score"], 5);

    // The whole default journey's requests: a ceiling against regressions.
    assert!(steps.requests <= 120, "{} requests", steps.requests);

    // A clinic's consumer heard the appointment's story, without patient data.
    let mut kinds = Vec::new();
    for (event, body) in heard(&aws, &subscriber).await {
        assert!(
            !body.contains("5321112233") && !body.contains("Ayşe"),
            "no patient data in events"
        );
        kinds.push(event["detail-type"].as_str().unwrap().to_owned());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "appointment.booked",
            "appointment.completed",
            "appointment.confirmed",
            "survey.answered"
        ]
    );
}

/// Books patient `n` with Dr. Aydın at Kadıköy on Thursday afternoon
/// through the FHIR upsert (the api function).
async fn book_thursday(aws: &Aws, n: u32) {
    let start = dec(3, 14, 0) + jiff::SignedDuration::from_mins(i64::from(n % 8) * 15);
    let body = json!({
        "resourceType": "Appointment",
        "identifier": [{ "system": "https://mis.example", "value": format!("B-{n}") }],
        "status": "booked",
        "serviceType": [{ "coding": [{ "code": "consultation" }] }],
        "start": start.to_string(),
        "end": (start + jiff::SignedDuration::from_mins(15)).to_string(),
        "contained": [{ "resourceType": "Patient", "id": "p",
                        "name": [{ "given": [format!("Hasta{n}")] }],
                        "telecom": [{ "system": "phone", "value": format!("+90533{n:07}") }] }],
        "participant": [
            { "actor": { "reference": "#p" } },
            { "actor": { "reference": "Practitioner/dr-aydin" } },
            { "actor": { "reference": "Location/kadikoy" } }
        ]
    });
    let (status, body) = staff(
        aws,
        "PUT",
        &format!("/fhir/Appointment?identifier=https://mis.example|B-{n}"),
        body,
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blast_goes_from_preview_to_every_recipient_through_the_functions() {
    let aws = Aws::start("blast").await;
    aws.clock.set(dec(1, 10, 0));
    let n = 60;
    for i in 0..n {
        book_thursday(&aws, i).await;
    }
    // The bookings' own work (their news for the automation engine) is not the blast's.
    aws.drain_all(1).await;
    aws.usage.reset();
    let mut steps = Steps::default();
    let (status, preview) = staff(
        &aws,
        "POST",
        "/v1/blasts",
        json!({ "template": "doctor_out", "purpose": "operational",
                "filter": { "date": "2026-12-03", "branch": "kadikoy", "part": "afternoon", "practitioner": "dr-aydin" } }),
    )
    .await;
    assert_eq!(status, 201, "{preview}");
    assert_eq!(preview["planned"], n);
    steps.take(&aws, "preview (api)");
    let id = preview["id"].as_str().unwrap().to_owned();
    let (status, sent) = staff(&aws, "POST", &format!("/v1/blasts/{id}/send"), json!({})).await;
    assert_eq!(status, 202, "{sent}");
    steps.take(&aws, "send (api)");
    // Each page twice: a redelivering queue.
    while aws.drain(&aws.blast_queue(), 2).await > 0 {}
    steps.take(&aws, "fan-out (blast)");
    let (_, done) = staff(&aws, "GET", &format!("/v1/blasts/{id}"), Value::Null).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["progress"]["sent"], n, "{done}");
    aws.usage.reset();
    // The provider's statuses, as the webhooks function queues them: each
    // message delivered, then read.
    let (_, listed) = staff(
        &aws,
        "GET",
        &format!("/v1/blasts/{id}/recipients?limit=200"),
        Value::Null,
    )
    .await;
    let ids: Vec<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message_id"].as_str().unwrap().to_owned())
        .collect();
    aws.usage.reset();
    for status in [
        clinicflow_core::message::MessageStatus::Delivered,
        clinicflow_core::message::MessageStatus::Read,
    ] {
        let works: Vec<_> = ids
            .iter()
            .map(|m| {
                clinicflow_app::work::Work::Inbound {
                    tenant: clinicflow_core::ids::TenantId::new("demo").unwrap(),
                    inbound: clinicflow_core::inbound::Inbound::Status(
                        clinicflow_core::inbound::StatusUpdate {
                            provider: "sandbox".into(),
                            provider_id: format!("sandbox-{m}"),
                            status,
                            at: aws.clock.now(),
                            error: None,
                        },
                    ),
                }
                .enqueue()
            })
            .collect();
        for batch in works.chunks(10) {
            aws.app.store.write(batch.to_vec()).await.unwrap();
        }
        aws.drain_all(1).await;
    }
    steps.take(&aws, "delivered and read statuses (assign)");
    let (_, done) = staff(&aws, "GET", &format!("/v1/blasts/{id}"), Value::Null).await;
    assert_eq!(done["progress"]["read"], n, "{done}");
    steps.print();
    let per = |x: f64| x / f64::from(n);
    println!(
        "per recipient: {:.1} requests, {:.2} read units, {:.2} write units",
        per(steps.requests as f64),
        per(steps.reads),
        per(steps.writes)
    );
    // A ceiling against regressions (each page handled twice included).
    assert!(
        steps.requests <= u64::from(n) * 24,
        "{} requests for {n} recipients",
        steps.requests
    );
}

/// The deals of the demo tenant in `pipeline`/`stage`.
async fn deals_in(aws: &Aws, pipeline: &str, stage: &str) -> Vec<Value> {
    let (status, page) = staff(
        aws,
        "GET",
        &format!("/v1/deals?pipeline={pipeline}&stage={stage}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automations_fire_once_through_the_functions() {
    let aws = Aws::start("automations").await;
    let subscriber = subscribe(&aws).await;
    aws.clock.set(monday(10, 0));
    let (status, loaded) = staff(&aws, "POST", "/v1/automations/presets/dental", json!({})).await;
    assert_eq!(status, 200, "{loaded}");
    heard(&aws, &subscriber).await;
    aws.usage.reset();
    let mut steps = Steps::default();
    let n: u32 = 10;
    for i in 0..n {
        post_form(&aws, &format!("+90532555{i:04}")).await;
    }
    steps.take(&aws, "form posts (intake)");
    // Every message twice: assign arms each lead's firing once.
    aws.drain_all(2).await;
    steps.take(&aws, "assignment and arming (assign)");
    sweep_at(&aws, monday(10, 1)).await;
    steps.take(
        &aws,
        "firing: a copy into Appointments each (sweep, assign)",
    );
    let requests = deals_in(&aws, "appointments", "new_request").await;
    assert_eq!(requests.len(), n as usize);
    // Staff win each deal; the sweep fans them out.
    for deal in &requests {
        let id = deal["id"].as_str().unwrap();
        let (status, body) = staff(
            &aws,
            "PUT",
            &format!("/v1/deals/{id}/flags"),
            json!({"first_visit": true}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = staff(
            &aws,
            "POST",
            &format!("/v1/deals/{id}/stage"),
            json!({"stage": "patient_arrived"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    steps.take(&aws, "staff win the deals (api)");
    aws.drain_all(2).await;
    steps.take(&aws, "arming the won rules (assign)");
    // Two sweeps at once: each firing once.
    aws.clock.set(monday(10, 2));
    let (a, b) = tokio::join!(
        handlers::scheduled(&aws.app, Value::Null),
        handlers::scheduled(&aws.app, Value::Null)
    );
    a.unwrap();
    b.unwrap();
    aws.drain_all(2).await;
    sweep_at(&aws, monday(10, 3)).await;
    steps.take(
        &aws,
        "firings: fan-out into Patient base and Coordinators (sweep, assign)",
    );
    assert_eq!(
        deals_in(&aws, "patient_base", "patient_base").await.len(),
        n as usize
    );
    assert_eq!(
        deals_in(&aws, "coordinators", "intake_queue").await.len(),
        n as usize
    );
    let (_, tasks) = staff(&aws, "GET", "/v1/tasks?limit=200", Value::Null).await;
    let plans = tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["title"] == "Draw up the comprehensive treatment plan")
        .count();
    assert_eq!(plans, n as usize);
    steps.print();
    // Fired firings: the lead's copy, and two fan-out rules per won deal
    // (the in-treatment one is skipped on its condition).
    let fired = 3.0 * f64::from(n);
    println!(
        "per fired firing: {:.1} requests, {:.2} read units, {:.2} write units",
        steps.requests as f64 / fired,
        steps.reads / fired,
        steps.writes / fired
    );
    let events: Vec<Value> = heard(&aws, &subscriber)
        .await
        .into_iter()
        .map(|(e, _)| e)
        .filter(|e| e["detail-type"] == "automation.fired")
        .collect();
    assert_eq!(events.len(), 3 * n as usize, "{events:?}");
    assert!(events.iter().all(|e| e["detail"]["rule"].is_string()));
}

/// A partition key with its record ids and digests as `…` and its shard
/// number as `{shard}`: keys of one shape hold one record each, or one
/// shard each of what is spread evenly over them.
fn shape(partition: &str) -> String {
    let parts: Vec<&str> = partition.split('#').collect();
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let id = part.len() >= 16 && part.chars().any(|c| c.is_ascii_digit());
            let shard = i == last
                && i > 0
                && (part.chars().all(|c| c.is_ascii_digit()) && part.len() <= 2
                    || part.len() >= 2
                        && part.starts_with('S')
                        && part[1..].chars().all(|c| c.is_ascii_digit()));
            if id {
                "…".to_owned()
            } else if shard {
                "{shard}".to_owned()
            } else {
                (*part).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("#")
}

/// A blast to Dr. Aydın's Thursday patients, sent and fanned out; its recipients.
async fn scale_blast(aws: &Aws) -> u32 {
    let (status, preview) = staff(
        aws,
        "POST",
        "/v1/blasts",
        json!({ "template": "doctor_out", "purpose": "operational",
                "filter": { "date": "2026-12-03", "branch": "kadikoy", "practitioner": "dr-aydin" } }),
    )
    .await;
    assert_eq!(status, 201, "{preview}");
    let id = preview["id"].as_str().unwrap().to_owned();
    let (status, _) = staff(aws, "POST", &format!("/v1/blasts/{id}/send"), json!({})).await;
    assert_eq!(status, 202);
    aws.drain_all(1).await;
    u32::try_from(preview["planned"].as_u64().unwrap()).unwrap()
}

/// Units per partition of one replayed phase.
struct Phase {
    events: u32,
    partitions: BTreeMap<String, clinicflow_aws::Capacity>,
}

impl Phase {
    fn take(aws: &Aws, events: u32) -> Phase {
        let partitions = aws.usage.partitions();
        aws.usage.reset();
        Phase { events, partitions }
    }

    /// Whether `partition` holds one record of many (a lead's, a patient's).
    fn per_record(&self, partition: &str) -> bool {
        let shape = shape(partition);
        if shape.ends_with("{shard}") {
            return false;
        }
        let alike = self
            .partitions
            .keys()
            .filter(|p| self::shape(p) == shape)
            .count();
        alike * 2 >= self.events as usize
    }
}

/// (read, write) units per second on each partition key shape at the
/// peak, an example key, and the shards' keys seen.
type Load = BTreeMap<String, (f64, f64, String, std::collections::BTreeSet<String>)>;

fn add(load: &mut Load, shape: String, busiest: &str, read: f64, write: f64, per_record: bool) {
    let entry = load
        .entry(shape)
        .or_insert((0.0, 0.0, busiest.to_owned(), Default::default()));
    entry.3.insert(busiest.to_owned());
    if per_record {
        if write + read / 3.0 > entry.1 + entry.0 / 3.0 {
            (entry.0, entry.1, entry.2) = (read, write, busiest.to_owned());
        }
    } else {
        entry.0 += read;
        entry.1 += write;
    }
}

/// The load of a large chain's campaign peak on DynamoDB's partitions:
/// leads, appointments (booked, confirmed, reminded) and blasts replayed
/// through the handlers against the emulator, the capacity accounting
/// attributing every unit to the partition key that takes it
/// (`make bench-scale`; docs/scale.md). A partition shared by every event
/// (an index, a shard, a blast's page) takes its units per event times the
/// events per second; a record's own partition (a lead's, a patient's)
/// takes one record's units, within about a second. A blast's partitions
/// are fitted over two blasts of different sizes into units per page and
/// per recipient, and counted at the pages and recipients a second of a
/// 1,000-a-second blast makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: make bench-scale"]
async fn scale_units_per_partition_at_a_campaign_peak() {
    /// 50 branches: 2,000 leads an hour at the peak.
    const LEADS_PER_SECOND: f64 = 2_000.0 / 3_600.0;
    /// 20,000 appointments a day, booked and reminded over a 10-hour day.
    const APPOINTMENTS_PER_SECOND: f64 = 20_000.0 / 36_000.0;
    /// A 100,000-recipient blast at the provider's 1,000 messages a second.
    const RECIPIENTS_PER_SECOND: f64 = 1_000.0;
    let replayed = std::env::var("SCALE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25u32);

    let aws = Aws::start("scale").await;
    aws.usage.reset();
    for i in 0..replayed {
        post_form(&aws, &format!("+90532{:07}", 1_000_000 + i)).await;
    }
    aws.drain_all(1).await;
    let leads = Phase::take(&aws, replayed);

    aws.clock.set(dec(1, 10, 0));
    for i in 0..replayed {
        book_thursday(&aws, i).await;
    }
    aws.drain_all(1).await;
    sweep_at(&aws, dec(1, 14, 0)).await;
    sweep_at(&aws, dec(3, 12, 0)).await;
    let appointments = Phase::take(&aws, replayed);

    aws.clock.set(dec(2, 9, 0));
    let small_n = scale_blast(&aws).await;
    let small = Phase::take(&aws, small_n);
    for i in replayed..replayed * 2 {
        book_thursday(&aws, i).await;
    }
    aws.drain_all(1).await;
    aws.usage.reset();
    aws.clock.set(dec(2, 9, 30));
    let large_n = scale_blast(&aws).await;
    let large = Phase::take(&aws, large_n);
    assert!(large_n > small_n, "{small_n} then {large_n} recipients");

    let mut load = Load::new();
    for (phase, per_second) in [
        (&leads, LEADS_PER_SECOND),
        (&appointments, APPOINTMENTS_PER_SECOND),
    ] {
        for (partition, c) in &phase.partitions {
            let per_record = phase.per_record(partition);
            let scale = if per_record {
                1.0
            } else {
                per_second / f64::from(phase.events)
            };
            add(
                &mut load,
                shape(partition),
                partition,
                c.read_units * scale,
                c.write_units * scale,
                per_record,
            );
        }
    }
    // A blast: units = per page + per recipient × recipients, fitted
    // shape by shape over the two blasts (each one page).
    let pages_per_second = RECIPIENTS_PER_SECOND / 500.0;
    let by_shape = |phase: &Phase| -> BTreeMap<String, (f64, f64, String, bool)> {
        let mut out: BTreeMap<String, (f64, f64, String, bool)> = BTreeMap::new();
        for (partition, c) in &phase.partitions {
            let per_record = phase.per_record(partition);
            let e =
                out.entry(shape(partition))
                    .or_insert((0.0, 0.0, partition.clone(), per_record));
            if per_record {
                e.0 = e.0.max(c.read_units);
                e.1 = e.1.max(c.write_units);
            } else {
                e.0 += c.read_units;
                e.1 += c.write_units;
            }
        }
        out
    };
    let (small_shapes, large_shapes) = (by_shape(&small), by_shape(&large));
    for (shape, (read_l, write_l, busiest, per_record)) in &large_shapes {
        if *per_record {
            add(&mut load, shape.clone(), busiest, *read_l, *write_l, true);
            continue;
        }
        let (read_s, write_s) = small_shapes.get(shape).map_or((0.0, 0.0), |s| (s.0, s.1));
        let span = f64::from(large_n - small_n);
        let fit = |small: f64, large: f64| {
            let per_recipient = ((large - small) / span).max(0.0);
            let per_page = (small - per_recipient * f64::from(small_n)).max(0.0);
            per_page * pages_per_second + per_recipient * RECIPIENTS_PER_SECOND
        };
        add(
            &mut load,
            shape.clone(),
            busiest,
            fit(read_s, *read_l),
            fit(write_s, *write_l),
            false,
        );
        // Every shard of a sharded key, for the per-shard figure.
        if let Some(entry) = load.get_mut(shape) {
            entry.3.extend(
                large
                    .partitions
                    .keys()
                    .filter(|p| self::shape(p) == *shape)
                    .cloned(),
            );
        }
    }

    let share = |read: f64, write: f64| (read / 3_000.0).max(write / 1_000.0);
    // A sharded key's units, spread evenly by its hash: per shard.
    let mut rows: Vec<(String, (f64, f64, String, usize))> = load
        .into_iter()
        .map(|(shape, (read, write, busiest, keys))| {
            let shards = if shape.ends_with("{shard}") {
                keys.len().max(1)
            } else {
                1
            };
            let n = shards as f64;
            (shape, (read / n, write / n, busiest, shards))
        })
        .collect();
    rows.sort_by(|a, b| share(b.1.0, b.1.1).total_cmp(&share(a.1.0, a.1.1)));
    println!(
        "| partition key | shards | example | read units/s | write units/s | of a partition's limit |"
    );
    println!("| --- | ---: | --- | ---: | ---: | ---: |");
    for (shape, (read, write, busiest, shards)) in rows.iter().take(25) {
        println!(
            "| `{shape}` | {shards} | `{busiest}` | {read:.1} | {write:.1} | {:.0} % |",
            share(*read, *write) * 100.0
        );
    }
    let (worst_shape, (read, write, _, _)) = rows.first().cloned().unwrap_or_default();
    let worst = share(read, write);
    println!(
        "\nreplayed {replayed} leads, {replayed} appointments, blasts to {small_n} and {large_n}; busiest `{worst_shape}` at {:.0} % of a partition's limit: reached at {:.1}× this load",
        worst * 100.0,
        1.0 / worst.max(f64::EPSILON)
    );
    let over: Vec<&String> = rows
        .iter()
        .filter(|(_, (r, w, _, _))| share(*r, *w) > 0.5)
        .map(|(s, _)| s)
        .collect();
    assert!(
        over.is_empty(),
        "partitions above half of DynamoDB's per-partition limit: {over:?}"
    );
}
