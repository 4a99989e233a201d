//! The queue port: at-least-once delivery of JSON work messages between
//! functions. Consumers are driven by their runtime (a Lambda event source
//! mapping on AWS, a polling loop locally) and must be idempotent.

use async_trait::async_trait;

/// The queues between functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueName {
    /// intake → assign: new leads to assign and greet.
    Leads,
    /// assign / sweep → send: ledger messages to deliver.
    Outbox,
    /// api / sweep → blast: pages of a blast's audience to send, apart
    /// from the outbox so that a 100,000-patient blast never delays a
    /// greeting or a reminder.
    Blast,
}

impl QueueName {
    pub const ALL: [QueueName; 3] = [QueueName::Leads, QueueName::Outbox, QueueName::Blast];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Leads => "leads",
            QueueName::Outbox => "outbox",
            QueueName::Blast => "blast",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("queue {queue} unavailable: {reason}")]
pub struct QueueError {
    pub queue: &'static str,
    pub reason: String,
}

#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Sends `bodies`; they are durable when this returns.
    async fn send(&self, queue: QueueName, bodies: Vec<String>) -> Result<(), QueueError>;
}
