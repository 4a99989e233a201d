//! AWS Secrets Manager behind the secrets port: the credentials a tenant's
//! configuration names as `secret:name#field`, read once at cold start.

use async_trait::async_trait;
use aws_config::SdkConfig;
use clinicflow_ports::SecretSource;

pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    pub fn new(sdk: &SdkConfig) -> Self {
        SecretsManager {
            client: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}

#[async_trait]
impl SecretSource for SecretsManager {
    async fn secret(&self, id: &str) -> Result<String, String> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read secret {id}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )
            })?;
        out.secret_string
            .ok_or_else(|| format!("secret {id} has no string value"))
    }
}
