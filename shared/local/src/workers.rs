//! The background work of the one-machine runtime: a consumer pool per
//! queue (what Lambda's SQS event source does on AWS) and the timer sweep
//! (what the EventBridge schedule does).

use std::sync::Arc;
use std::time::Duration;

use clinicflow_app::App;
use clinicflow_embedded::EmbeddedQueue;
use clinicflow_ports::QueueName;
use futures_util::future::join_all;
use tokio::sync::watch;
use tracing::{debug, warn};

/// Messages taken per receive, as Lambda's SQS batches.
const BATCH: usize = 10;

/// How long to wait before retrying work that failed.
const RETRY_DELAY: Duration = Duration::from_secs(2);

/// Receives and handles messages of `queue` until shutdown.
pub async fn consume(
    app: Arc<App>,
    queues: EmbeddedQueue,
    queue: QueueName,
    visibility: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        let batch = match queues.receive(queue, BATCH, visibility).await {
            Ok(batch) => batch,
            Err(e) => {
                warn!(queue = queue.as_str(), error = %e, "receive failed");
                sleep_or_shutdown(&mut shutdown, RETRY_DELAY).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = queues.wait(queue, Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let outcomes = join_all(batch.iter().map(|d| app.handle_work(&d.body))).await;
        let mut done = Vec::with_capacity(batch.len());
        for (delivery, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                Ok(()) => done.push(delivery.id),
                Err(e) => {
                    warn!(queue = queue.as_str(), id = delivery.id, receives = delivery.receive_count, error = %e, "work failed; will retry");
                    if let Err(e) = queues.retry_later(queue, delivery.id, RETRY_DELAY).await {
                        warn!(queue = queue.as_str(), error = %e, "could not schedule the retry; it comes back after the visibility timeout");
                    }
                }
            }
        }
        if let Err(e) = queues.delete(queue, &done).await {
            // Handled but not deleted: redelivered later, and the work is idempotent.
            warn!(queue = queue.as_str(), error = %e, "delete failed");
        }
    }
}

/// Sweeps due timers every `tick` until shutdown.
pub async fn sweep(app: Arc<App>, tick: Duration, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        match app.sweep_due_timers().await {
            Ok(report) if report.fired + report.failed > 0 => {
                debug!(
                    fired = report.fired,
                    failed = report.failed,
                    skipped = report.skipped,
                    "timers swept"
                );
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "timer sweep failed"),
        }
        sleep_or_shutdown(&mut shutdown, tick).await;
    }
}

async fn sleep_or_shutdown(shutdown: &mut watch::Receiver<bool>, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = shutdown.changed() => {}
    }
}
