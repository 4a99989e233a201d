//! The background work of the one-machine runtime: a consumer pool per
//! queue (what Lambda's SQS event source does on AWS) and the timer sweep
//! (what the EventBridge schedule does).
//!
//! It runs on a runtime of its own, in threads of lower CPU priority than
//! the HTTP server's: when the machine is idle it runs at full speed; when
//! forms pour in, answering them comes first and the pipeline catches up
//! after. (The store's writer does the same for disk commits.)

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use clinicflow_app::App;
use clinicflow_embedded::{EmbeddedQueue, EmbeddedStore};
use clinicflow_ports::QueueName;
use futures_util::future::join_all;
use tokio::sync::watch;
use tracing::{debug, warn};

/// Messages taken per receive, as Lambda's SQS batches.
const BATCH: usize = 10;

/// A blast page is sent at the provider's pace, minutes at a low rate: it
/// is taken alone and kept out of sight that long (the blast queue's
/// visibility timeout on AWS).
const BLAST_VISIBILITY: Duration = Duration::from_secs(900);

/// How long to wait before retrying work that failed.
const RETRY_DELAY: Duration = Duration::from_secs(2);

/// Niceness of the background threads on the 0 (lowest) to 99 (highest)
/// scale of `thread-priority`: about nice 10 on Linux.
const BACKGROUND_PRIORITY: u8 = 25;

/// Starts the consumers of every queue (`workers` each) and the sweep
/// (every `tick`) on a background thread that runs until `shutdown`.
pub fn start(
    app: Arc<App>,
    store: EmbeddedStore,
    queues: EmbeddedQueue,
    workers: usize,
    visibility: Duration,
    tick: Duration,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("clinicflow-background")
        .on_thread_start(lower_priority)
        .build()?;
    std::thread::Builder::new()
        .name("clinicflow-background".into())
        .spawn(move || {
            lower_priority();
            runtime.block_on(async move {
                let mut tasks = Vec::new();
                for queue in QueueName::ALL {
                    for _ in 0..workers.max(1) {
                        tasks.push(tokio::spawn(consume(
                            app.clone(),
                            queues.clone(),
                            queue,
                            visibility,
                            shutdown.clone(),
                        )));
                    }
                }
                tasks.push(tokio::spawn(sweep(app, store, tick, shutdown)));
                join_all(tasks).await;
            });
        })
}

/// Where the OS lets us (it always lets a process lower itself); else
/// the background runs at normal priority.
fn lower_priority() {
    use thread_priority::{ThreadPriority, ThreadPriorityValue, set_current_thread_priority};
    if let Ok(value) = ThreadPriorityValue::try_from(BACKGROUND_PRIORITY)
        && let Err(e) = set_current_thread_priority(ThreadPriority::Crossplatform(value))
    {
        debug!(error = ?e, "background threads keep normal priority");
    }
}

/// Receives and handles messages of `queue` until shutdown.
async fn consume(
    app: Arc<App>,
    queues: EmbeddedQueue,
    queue: QueueName,
    visibility: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let (batch_size, visibility) = match queue {
        QueueName::Blast => (1, visibility.max(BLAST_VISIBILITY)),
        _ => (BATCH, visibility),
    };
    while !*shutdown.borrow() {
        let batch = match queues.receive(queue, batch_size, visibility).await {
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
        let received = jiff::Timestamp::now().as_millisecond();
        for delivery in &batch {
            let waited = u64::try_from(received.saturating_sub(delivery.sent_at)).unwrap_or(0);
            clinicflow_app::metrics::queue_age(queue.as_str(), Duration::from_millis(waited));
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

/// How often items past their expiry are deleted (DynamoDB's TTL does
/// the same on AWS).
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Sweeps due timers every `tick`, and purges expired items every hour,
/// until shutdown.
async fn sweep(
    app: Arc<App>,
    store: EmbeddedStore,
    tick: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut purged = std::time::Instant::now();
    while !*shutdown.borrow() {
        if purged.elapsed() >= PURGE_EVERY {
            purged = std::time::Instant::now();
            match store.purge_expired(app.clock.now().as_second()).await {
                Ok(n) if n > 0 => debug!(items = n, "expired items purged"),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "purging expired items failed"),
            }
        }
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
