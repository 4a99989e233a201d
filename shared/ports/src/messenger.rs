//! The messenger port: one channel delivering one ledger message.

use async_trait::async_trait;
use clinicflow_core::message::Message;

/// The provider's acknowledgement of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub provider: String,
    pub provider_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: rate limits, timeouts, provider outages.
    #[error("{code}: {reason} (will retry)")]
    Retryable { code: String, reason: String },
    /// Will never work as it is: invalid number, opted out, not on the channel.
    #[error("{code}: {reason}")]
    Permanent { code: String, reason: String },
}

impl SendError {
    /// A provider's error, retryable or not as the provider's codes say.
    pub fn sorted(retryable: bool, code: String, reason: String) -> SendError {
        if retryable {
            SendError::Retryable { code, reason }
        } else {
            SendError::Permanent { code, reason }
        }
    }
}

/// How fast one sender (a WhatsApp number, an SMS sender, an e-mail
/// identity) may send, across every consumer that sends for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendRate {
    /// Names the sender; the same for every message it sends.
    pub sender: String,
    pub per_second: u32,
}

#[async_trait]
pub trait Messenger: Send + Sync + 'static {
    async fn send(&self, message: &Message) -> Result<Receipt, SendError>;

    /// Whether sending the same message id again reaches the recipient at
    /// most once (the provider deduplicates by our id). When it does not,
    /// a send interrupted mid-call is failed for a person to check rather
    /// than risk a second copy.
    fn deduplicates(&self, message: &Message) -> bool;

    /// The sender `message` goes out through and its rate, if limited.
    fn rate(&self, message: &Message) -> Option<SendRate>;
}
