//! The functions on the AWS emulator: the template's resources in moto,
//! the `App` the functions build over them, and a stand-in for Lambda's
//! SQS event source mapping (receive a batch, hand it to the handler,
//! delete what did not fail).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use axum::body::{Body, to_bytes};
use axum::http::{Request, header};
use clinicflow_app::App;
use clinicflow_app::http::intake_router;
use clinicflow_aws::Usage;
use clinicflow_aws::emulator::{Deployment, Emulator};
use clinicflow_lambda::{handlers, wiring};
use clinicflow_ports::ManualClock;
use jiff::Timestamp;
use jiff::civil::date;
use jiff::tz::TimeZone;
use serde_json::Value;
use tower::ServiceExt;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Monday 2026-11-23 at `h:m` in Istanbul, when the demo clinic is open.
pub fn monday(h: i8, m: i8) -> Timestamp {
    TimeZone::get("Europe/Istanbul")
        .unwrap()
        .to_timestamp(date(2026, 11, 23).at(h, m, 0, 0))
        .unwrap()
}

pub struct Aws {
    pub emulator: Emulator,
    pub deployment: Deployment,
    pub usage: Usage,
    pub clock: Arc<ManualClock>,
    pub app: Arc<App>,
    sqs: aws_sdk_sqs::Client,
}

impl Aws {
    /// The demo clinic's functions over a fresh deployment in a fresh emulator.
    pub async fn start(name: &str) -> Aws {
        Aws::start_with(name, &repo().join("config/demo.toml"), &|_| None).await
    }

    /// The functions of the tenants in `config`, with `env` as their environment.
    pub async fn start_with(
        name: &str,
        config: &std::path::Path,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Aws {
        let emulator = Emulator::start();
        let deployment = emulator.deploy(name).await;
        let sdk = emulator.sdk_config();
        let usage = Usage::default();
        let clock = Arc::new(ManualClock::new(monday(10, 0)));
        let app = wiring::app(
            config,
            &sdk,
            &deployment.resources,
            Some(&usage),
            env,
            clock.clone(),
        )
        .await
        .unwrap();
        Aws {
            sqs: aws_sdk_sqs::Client::new(&sdk),
            emulator,
            deployment,
            usage,
            clock,
            app,
        }
    }

    pub fn leads_queue(&self) -> String {
        self.deployment.resources.leads_queue_url.clone()
    }

    pub fn outbox_queue(&self) -> String {
        self.deployment.resources.outbox_queue_url.clone()
    }

    pub fn blast_queue(&self) -> String {
        self.deployment.resources.blast_queue_url.clone()
    }

    /// Up to ten messages of `queue` as Lambda delivers them.
    pub async fn receive(&self, queue: &str) -> SqsEvent {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            )
            .send()
            .await
            .unwrap();
        let records = out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id;
                record.receipt_handle = m.receipt_handle;
                record.body = m.body;
                record.event_source_arn = Some(format!(
                    "arn:aws:sqs:us-east-1:123456789012:{}",
                    queue.rsplit('/').next().unwrap_or_default()
                ));
                for (name, value) in m.attributes.unwrap_or_default() {
                    record.attributes.insert(name.as_str().to_owned(), value);
                }
                record
            })
            .collect();
        let mut event = SqsEvent::default();
        event.records = records;
        event
    }

    /// Deletes the messages of `event` that `response` does not list as failed.
    pub async fn settle(&self, queue: &str, event: &SqsEvent, response: &SqsBatchResponse) {
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let entries: Vec<_> = event
            .records
            .iter()
            .filter(|r| !failed.contains(&r.message_id.as_deref().unwrap_or_default()))
            .enumerate()
            .map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r.receipt_handle.clone().unwrap())
                    .build()
                    .unwrap()
            })
            .collect();
        if !entries.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(queue)
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap();
        }
    }

    /// Hands every message of `queue` to the handler `times` times (a
    /// queue that delivers each message more than once), until the queue
    /// is empty; the number of messages handled. A message the handler
    /// reports as failed (say, it lost a race for a consultant's load) is
    /// made visible again at once, as SQS would after its timeout.
    pub async fn drain(&self, queue: &str, times: usize) -> usize {
        let mut handled = 0;
        for _ in 0..100 {
            let event = self.receive(queue).await;
            if event.records.is_empty() {
                return handled;
            }
            let mut response = SqsBatchResponse::default();
            for _ in 0..times {
                response = handlers::queue_batch(&self.app, event.clone()).await;
            }
            self.settle(queue, &event, &response).await;
            for failure in &response.batch_item_failures {
                let record = event
                    .records
                    .iter()
                    .find(|r| r.message_id.as_deref() == Some(failure.item_identifier.as_str()))
                    .unwrap();
                self.sqs
                    .change_message_visibility()
                    .queue_url(queue)
                    .receipt_handle(record.receipt_handle.clone().unwrap())
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            }
            handled += event.records.len() - response.batch_item_failures.len();
        }
        panic!("{queue} did not drain in 100 batches");
    }

    /// Drains the queues, leads first, until none has work.
    pub async fn drain_all(&self, times: usize) {
        while self.drain(&self.leads_queue(), times).await
            + self.drain(&self.outbox_queue(), times).await
            + self.drain(&self.blast_queue(), times).await
            > 0
        {}
    }
}

/// Posts the demo form as a browser would; the lead id.
pub async fn post_form(aws: &Aws, phone: &str) -> String {
    let body = serde_urlencoded::to_string([
        ("name", "Ayşe Kaya"),
        ("phone", phone),
        ("service", "implant"),
        ("utm_source", "instagram"),
    ])
    .unwrap();
    let request = Request::post("/v1/forms/demo-web/leads")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "http://localhost:8080")
        .body(Body::from(body))
        .unwrap();
    let response = intake_router(aws.app.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value =
        serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
    body["id"].as_str().unwrap().to_owned()
}
