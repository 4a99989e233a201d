//! The secrets port: credentials kept outside the configuration file
//! (AWS Secrets Manager on Lambda).

use async_trait::async_trait;

#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The secret's string value, by name or ARN.
    async fn secret(&self, id: &str) -> Result<String, String>;
}
