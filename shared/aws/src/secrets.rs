//! AWS Secrets Manager behind the secrets port: the credentials a tenant's
//! configuration names as `secret:name#field`, read once at cold start.

use std::sync::OnceLock;

use async_trait::async_trait;
use aws_config::SdkConfig;
use clinicflow_ports::SecretSource;

/// Builds its client at the first secret read: a configuration that names
/// none (most) spares its cold starts the client's construction.
pub struct SecretsManager {
    sdk: SdkConfig,
    client: OnceLock<aws_sdk_secretsmanager::Client>,
}

impl SecretsManager {
    pub fn new(sdk: &SdkConfig) -> Self {
        SecretsManager {
            sdk: sdk.clone(),
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> &aws_sdk_secretsmanager::Client {
        self.client
            .get_or_init(|| aws_sdk_secretsmanager::Client::new(&self.sdk))
    }
}

#[async_trait]
impl SecretSource for SecretsManager {
    async fn secret(&self, id: &str) -> Result<String, String> {
        let out = self
            .client()
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
