//! The connections a cold start opens before its first event needs them.
//!
//! Init starts the warm-up and does not wait for it: the runtime fetches
//! the first event meanwhile. The first event then waits for what is left
//! of it, so it uses the warmed connection instead of racing it with a
//! handshake of its own; every later event passes straight through.

use std::sync::{Arc, Mutex, PoisonError};

use clinicflow_aws::DynamoStore;
use clinicflow_ports::QueueName;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// `WARM_UP_QUEUE`: the queue whose connection a function warms (one it
/// sends to: `leads` or `outbox`); unset, only DynamoDB's.
pub const QUEUE_VARIABLE: &str = "WARM_UP_QUEUE";

pub struct WarmUp {
    task: Mutex<Option<JoinHandle<()>>>,
    done: OnceCell<()>,
}

impl WarmUp {
    /// Starts warming `store`'s connections (and `queue`'s) in the background.
    pub fn start(store: Arc<DynamoStore>, queue: Option<QueueName>) -> Arc<WarmUp> {
        let task = tokio::spawn(async move {
            let warmed = store.warm_up(queue).await;
            info!(
                dynamodb_ms = millis(warmed.dynamodb),
                sqs_ms = warmed.sqs.map(millis),
                "warm-up"
            );
            for problem in warmed.problems {
                warn!(%problem, "warm-up request failed");
            }
        });
        Arc::new(WarmUp {
            task: Mutex::new(Some(task)),
            done: OnceCell::new(),
        })
    }

    /// Returns once the warm-up has ended (at once after the first time).
    pub async fn finished(&self) {
        self.done
            .get_or_init(|| async {
                let task = self
                    .task
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(task) = task {
                    let _ = task.await;
                }
            })
            .await;
    }
}

/// The queue `WARM_UP_QUEUE` names.
pub fn queue(value: Option<&str>) -> Option<QueueName> {
    match value?.trim() {
        "leads" => Some(QueueName::Leads),
        "outbox" => Some(QueueName::Outbox),
        "blast" => Some(QueueName::Blast),
        _ => None,
    }
}

pub(crate) fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}
