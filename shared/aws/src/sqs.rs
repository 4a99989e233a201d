//! The work queues on SQS.

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use clinicflow_ports::{Queue, QueueError, QueueName};

/// SQS's limit on messages per `SendMessageBatch`.
pub const BATCH: usize = 10;

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    leads_url: String,
    outbox_url: String,
    blast_url: String,
}

impl SqsQueue {
    pub fn new(
        client: aws_sdk_sqs::Client,
        leads_url: String,
        outbox_url: String,
        blast_url: String,
    ) -> Self {
        SqsQueue {
            client,
            leads_url,
            outbox_url,
            blast_url,
        }
    }

    /// Asks for `queue`'s ARN: a request whose only purpose is the
    /// connection (and its TLS handshake) it leaves in the client's pool.
    pub async fn warm_up(&self, queue: QueueName) -> Result<(), String> {
        self.client
            .get_queue_attributes()
            .queue_url(self.url(queue))
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
    }

    fn url(&self, queue: QueueName) -> &str {
        match queue {
            QueueName::Leads => &self.leads_url,
            QueueName::Outbox => &self.outbox_url,
            QueueName::Blast => &self.blast_url,
        }
    }

    /// Sends one batch; entries SQS refuses are sent once more, then reported.
    async fn send_batch(&self, queue: QueueName, bodies: &[String]) -> Result<(), QueueError> {
        let error = |reason: String| QueueError {
            queue: queue.as_str(),
            reason,
        };
        let mut pending: Vec<(String, &String)> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| (i.to_string(), b))
            .collect();
        for _ in 0..2 {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id.as_str())
                        .message_body(body.as_str())
                        .build()
                        .map_err(|e| error(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(self.url(queue))
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| error(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
            let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
            if failed.is_empty() {
                return Ok(());
            }
            pending.retain(|(id, _)| failed.contains(&id.as_str()));
        }
        Err(error(format!(
            "{} of {} messages refused twice",
            pending.len(),
            bodies.len()
        )))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, queue: QueueName, bodies: Vec<String>) -> Result<(), QueueError> {
        for chunk in bodies.chunks(BATCH) {
            self.send_batch(queue, chunk).await?;
        }
        Ok(())
    }
}
