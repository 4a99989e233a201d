//! Event handlers: an SQS batch becomes one use-case call per message, and
//! only the messages that failed are reported back for retry; a scheduled
//! event sweeps the due timers.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use clinicflow_app::App;
use clinicflow_app::usecases::SweepReport;
use futures_util::future::join_all;
use lambda_runtime::Error;
use tracing::{info, warn};

/// Handles every message of the batch concurrently; the response lists the
/// ids of those that failed, so SQS retries only them (and, after the
/// queue's maximum receives, moves them to its dead-letter queue).
pub async fn queue_batch(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    for record in &event.records {
        // SQS stamps each message with the millisecond it was sent.
        if let Some(sent) = record
            .attributes
            .get("SentTimestamp")
            .and_then(|t| t.parse::<u128>().ok())
        {
            let queue = record
                .event_source_arn
                .as_deref()
                .and_then(|arn| arn.rsplit(':').next())
                .unwrap_or("unknown");
            let waited = u64::try_from(now.saturating_sub(sent)).unwrap_or(u64::MAX);
            clinicflow_app::metrics::queue_age(queue, std::time::Duration::from_millis(waited));
        }
    }
    let outcomes = join_all(event.records.iter().map(|record| async {
        match record.body.as_deref() {
            Some(body) => app.handle_work(body).await.map_err(|e| e.to_string()),
            None => Err("message without a body".to_owned()),
        }
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (record, outcome) in event.records.iter().zip(outcomes) {
        if let Err(error) = outcome {
            let id = record.message_id.clone().unwrap_or_default();
            warn!(message_id = %id, %error, "queue message failed; SQS will retry it");
            response.add_failure(id);
        }
    }
    response
}

/// Sweeps due timers. The event's content does not matter: the schedule
/// only says "now".
pub async fn scheduled(app: &App, _event: serde_json::Value) -> Result<SweepReport, Error> {
    let report = app.sweep_due_timers().await?;
    info!(
        fired = report.fired,
        failed = report.failed,
        skipped = report.skipped,
        "timers swept"
    );
    Ok(report)
}
