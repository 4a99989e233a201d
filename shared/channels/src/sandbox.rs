//! The sandbox channel: a provider that delivers nowhere. It keeps one
//! delivery record per message id in the store (so, like a provider that
//! takes an idempotency key, it never delivers one message twice), counts
//! how often it was asked, and logs each delivery with the recipient masked
//! and without the text.

use std::sync::Arc;

use async_trait::async_trait;
use clinicflow_core::message::{Channel, Message};
use clinicflow_ports::{
    Condition, Item, ItemStore, Key, Messenger, Receipt, SendError, SendRate, Write, WriteError,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::info;

pub const PROVIDER: &str = "sandbox";

/// How many partitions a tenant's deliveries are spread over.
const SHARDS: u8 = 16;

/// What the sandbox keeps of a delivery: when, on which channel, and how
/// many times it was asked to deliver the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub message: String,
    pub channel: Channel,
    pub delivered_at: Timestamp,
    pub requests: u32,
}

pub struct SandboxMessenger {
    store: Arc<dyn ItemStore>,
}

impl SandboxMessenger {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        SandboxMessenger { store }
    }

    /// The partitions of a tenant's sandbox deliveries: a blast through the
    /// sandbox writes one delivery per message, at up to 1,000 a second,
    /// more than one partition takes (docs/scale.md).
    pub fn partitions(tenant: &str) -> Vec<String> {
        (0..SHARDS)
            .map(|shard| Self::partition(tenant, shard))
            .collect()
    }

    fn partition(tenant: &str, shard: u8) -> String {
        format!("T#{tenant}#SANDBOX#{shard}")
    }

    fn key(message: &Message) -> Key {
        let digest = Sha256::digest(message.id.as_str().as_bytes());
        Key::new(
            Self::partition(message.tenant.as_str(), digest[0] % SHARDS),
            message.id.as_str(),
        )
    }

    fn receipt(message: &Message) -> Receipt {
        Receipt {
            provider: PROVIDER.to_owned(),
            provider_id: format!("sandbox-{}", message.id),
        }
    }

    fn item(key: Key, delivery: &Delivery, version: u64) -> Result<Item, SendError> {
        Ok(Item {
            key,
            version,
            gsi1: None,
            gsi2: None,
            expires_at: None,
            body: serde_json::to_string(delivery).map_err(|e| unavailable(e.to_string()))?,
        })
    }
}

fn unavailable(reason: String) -> SendError {
    SendError::Retryable {
        code: "sandbox_store".into(),
        reason,
    }
}

#[async_trait]
impl Messenger for SandboxMessenger {
    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        let key = Self::key(message);
        let delivery = Delivery {
            message: message.id.to_string(),
            channel: message.channel,
            delivered_at: Timestamp::now(),
            requests: 1,
        };
        let first = Write::Put {
            item: Self::item(key.clone(), &delivery, 1)?,
            condition: Condition::Absent,
        };
        match self.store.write(vec![first]).await {
            Ok(()) => {
                info!(
                    message_id = %message.id,
                    channel = message.channel.as_str(),
                    to = %message.masked_recipient(),
                    chars = message.body.chars().count(),
                    "sandbox: message delivered"
                );
                Ok(Self::receipt(message))
            }
            Err(WriteError::ConditionFailed { .. }) => {
                // Delivered before: count the request, deliver nothing.
                if let Ok(Some(existing)) = self.store.get(&key).await
                    && let Ok(mut seen) = serde_json::from_str::<Delivery>(&existing.body)
                {
                    seen.requests += 1;
                    let again = Write::Put {
                        item: Self::item(key, &seen, existing.version + 1)?,
                        condition: Condition::VersionIs(existing.version),
                    };
                    // A lost race here only loses a count.
                    let _ = self.store.write(vec![again]).await;
                }
                info!(message_id = %message.id, "sandbox: repeat request; not delivered again");
                Ok(Self::receipt(message))
            }
            Err(WriteError::Store(e)) => Err(unavailable(e.to_string())),
        }
    }

    fn deduplicates(&self, _: &Message) -> bool {
        true
    }

    fn rate(&self, _: &Message) -> Option<SendRate> {
        None
    }
}
