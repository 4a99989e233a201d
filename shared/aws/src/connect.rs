//! The SDK configuration and the clients, built once per cold start.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{SharedHttpClient, SharedInterceptor};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::{DynamoStore, EventBus, SqsQueue, Usage};

/// The AWS resources a deployment uses, as the template names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resources {
    pub table: String,
    pub leads_queue_url: String,
    pub outbox_queue_url: String,
    pub blast_queue_url: String,
    pub event_bus: String,
}

/// The SDK configuration from aws-config's default credential and region
/// chains, HTTPS through rustls with ring trusting `trust`'s roots, and
/// `AWS_ENDPOINT_URL` for an emulator when it is set: what a function falls
/// back to when its environment lacks the region or the credentials.
pub async fn sdk_config(trust: Trust) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client_trusting(trust))
        .load()
        .await
}

/// The SDK configuration from a Lambda function's environment alone:
/// the region (`AWS_REGION`), the role's credentials
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// valid for the life of the execution environment) and
/// `AWS_ENDPOINT_URL` when set. aws-config's provider chains (profile
/// files, SSO, the instance metadata service) find nothing more there and
/// cost about 7 ms of a cold start. `None` without region or credentials.
pub fn lambda_sdk_config(get: impl Fn(&str) -> Option<String>, trust: Trust) -> Option<SdkConfig> {
    use aws_config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::{Credentials, Region, SharedCredentialsProvider};
    let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"))?;
    let credentials = Credentials::new(
        get("AWS_ACCESS_KEY_ID")?,
        get("AWS_SECRET_ACCESS_KEY")?,
        get("AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    );
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(https_client_trusting(trust))
        .retry_config(RetryConfig::standard())
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep()?)
        .time_source(aws_smithy_async::time::SystemTimeSource::new());
    if let Some(endpoint) = get("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    Some(config.build())
}

/// The SDK's HTTP client: hyper with rustls on ring, trusting the
/// system's roots.
pub fn https_client() -> SharedHttpClient {
    https_client_trusting(Trust::System)
}

/// The certificate authorities the SDK's connections trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Amazon Trust Services' roots alone, which every AWS service
    /// endpoint chains to: no trust store to read from disk at a cold start
    /// (reading the system's costs ≈ 3 ms), and nothing else trusted.
    Amazon,
    /// The system's roots (`/etc/ssl/certs` and the like): for endpoints
    /// that are not Amazon's own, such as the China regions' or a proxy's.
    System,
}

impl Trust {
    /// `CLINICFLOW_AWS_TRUST` (`amazon`, the default, or `system`) in
    /// `region`; the China partition's endpoints are not under Amazon
    /// Trust Services, so they get the system's roots when it is unset.
    pub fn parse(value: Option<&str>, region: Option<&str>) -> Result<Trust, String> {
        match value.map(str::trim) {
            None | Some("") if region.is_some_and(|r| r.starts_with("cn-")) => Ok(Trust::System),
            None | Some("") | Some("amazon") => Ok(Trust::Amazon),
            Some("system") => Ok(Trust::System),
            Some(other) => Err(format!(
                "is {other:?}: use `amazon` (Amazon Trust Services' roots) or `system` (the system's)"
            )),
        }
    }
}

/// Amazon Trust Services' root certificates (Amazon Root CA 1 to 4 and
/// Starfield Services Root Certificate Authority - G2), as
/// <https://www.amazontrust.com/repository/> publishes them.
pub const AMAZON_ROOTS: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

fn https_client_trusting(trust: Trust) -> SharedHttpClient {
    let store = match trust {
        Trust::Amazon => tls::TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_ROOTS),
        Trust::System => tls::TrustStore::default(),
    };
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    match tls::TlsContext::builder().with_trust_store(store).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Only an unsupported TLS provider fails here; rustls is not one.
        Err(_) => builder.build_https(),
    }
}

impl Resources {
    /// The store over these resources, its queues and bus; with a
    /// `usage`, every client counts its requests in it and the store its
    /// capacity units (the tests and measurements do; a deployed function
    /// has no use for them).
    pub fn store(&self, sdk: &SdkConfig, usage: Option<&Usage>) -> DynamoStore {
        let counting = usage.map(|u| SharedInterceptor::new(u.clone()));
        let mut dynamo = aws_sdk_dynamodb::config::Builder::from(sdk);
        let mut sqs = aws_sdk_sqs::config::Builder::from(sdk);
        let mut events = aws_sdk_eventbridge::config::Builder::from(sdk);
        if let Some(interceptor) = counting {
            dynamo.push_interceptor(interceptor.clone());
            sqs.push_interceptor(interceptor.clone());
            events.push_interceptor(interceptor);
        }
        let (dynamo, sqs, events) = (dynamo.build(), sqs.build(), events.build());
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(dynamo),
            self.table.clone(),
            SqsQueue::new(
                aws_sdk_sqs::Client::from_conf(sqs),
                self.leads_queue_url.clone(),
                self.outbox_queue_url.clone(),
                self.blast_queue_url.clone(),
            ),
            EventBus::new(
                aws_sdk_eventbridge::Client::from_conf(events),
                self.event_bus.clone(),
            ),
        );
        match usage {
            Some(usage) => store.with_usage(usage.clone()),
            None => store,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{CertificateDer, pem::PemObject};

    /// The bundle is what rustls will be handed: five roots, each a
    /// certificate it can anchor a chain on, with Amazon's names.
    #[test]
    fn amazons_roots_are_five_trust_anchors() {
        let certs: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(AMAZON_ROOTS)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(certs.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        let (added, refused) = roots.add_parsable_certificates(certs);
        assert_eq!((added, refused), (5, 0));
        let text = String::from_utf8_lossy(AMAZON_ROOTS);
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(text.contains(&format!("CN = {name}\n")), "{name}");
        }
    }
}
