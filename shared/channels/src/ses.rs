//! Amazon SES (API v2) for e-mail: `SendEmail` with a simple text body.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message as SesMessage};
use aws_smithy_http_client::tls;
use clinicflow_core::message::Message;
use clinicflow_core::providers::EmailSender;
use clinicflow_ports::{Messenger, Receipt, SendError, SendRate};

pub const PROVIDER: &str = "ses";

pub struct SesEmail {
    client: Client,
    sender: EmailSender,
}

impl SesEmail {
    /// A sender through SES with `sdk`'s credentials and region. The
    /// client makes one attempt per send: a retried `SendEmail` whose first
    /// answer was lost would send twice; the ledger retries instead, with
    /// its own backoff and bounded attempts.
    pub fn new(sdk: &SdkConfig, sender: EmailSender) -> Self {
        let config = aws_sdk_sesv2::config::Builder::from(sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .build();
        SesEmail {
            client: Client::from_conf(config),
            sender,
        }
    }
}

/// The SDK configuration for e-mail on one machine: the default credential
/// and region chains (`AWS_PROFILE`, `AWS_REGION`, …), HTTPS through rustls
/// with ring. Lambda functions pass their own.
pub async fn local_sdk_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .load()
        .await
}

fn content(text: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::Permanent {
            code: "invalid_content".into(),
            reason: e.to_string(),
        })
}

/// SES's errors: throttling and outages are retried; a rejected message,
/// an unverified sender or a paused account is not.
pub fn classify(code: &str, reason: String, http_status: Option<u16>) -> SendError {
    let retryable = matches!(
        code,
        "TooManyRequestsException" | "LimitExceededException" | "ThrottlingException"
    ) || http_status.is_some_and(|s| s >= 500);
    SendError::sorted(retryable, code.to_owned(), reason)
}

#[async_trait]
impl Messenger for SesEmail {
    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        let subject = message.subject.clone().unwrap_or_default();
        let email = SesMessage::builder()
            .subject(content(&subject)?)
            .body(Body::builder().text(content(&message.body)?).build())
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(&self.sender.from)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(EmailContent::builder().simple(email).build())
            .set_configuration_set_name(self.sender.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(out) => Ok(Receipt {
                provider: PROVIDER.into(),
                provider_id: out.message_id.unwrap_or_default(),
            }),
            Err(SdkError::ServiceError(e)) => {
                let status = e.raw().status().as_u16();
                let err = e.err();
                let code = err.code().unwrap_or("Unknown").to_owned();
                let reason = err
                    .message()
                    .unwrap_or("SES refused the message")
                    .to_owned();
                Err(classify(&code, reason, Some(status)))
            }
            Err(SdkError::TimeoutError(_)) => Err(SendError::Retryable {
                code: "timeout".into(),
                reason: "SES did not answer in time".into(),
            }),
            Err(e) => Err(SendError::Retryable {
                code: "network".into(),
                reason: format!("SES: {}", aws_sdk_sesv2::error::DisplayErrorContext(&e)),
            }),
        }
    }

    fn deduplicates(&self, _: &Message) -> bool {
        false
    }

    fn rate(&self, _: &Message) -> Option<SendRate> {
        Some(SendRate {
            sender: format!("email:{}", self.sender.from),
            per_second: self.sender.messages_per_second,
        })
    }
}
