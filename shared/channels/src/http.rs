//! The HTTPS client the providers share: rustls with the ring provider and
//! Mozilla's root certificates compiled in (nothing read from disk at
//! start), bounded timeouts, no redirects.

use std::sync::Arc;
use std::time::Duration;

use clinicflow_ports::SendError;
use rustls::RootCertStore;

/// How long a provider call may take in all; a send that times out is retried.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The providers' client: TLS as below, bounded timeouts, no redirects.
pub fn client() -> Result<reqwest::Client, String> {
    builder()?
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("clinicflow/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// A client builder with rustls on ring and the compiled-in roots: every
/// HTTP client of the workspace (tests and benchmarks too) starts here.
pub fn builder() -> Result<reqwest::ClientBuilder, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls))
}

/// Sends a provider call and reads its whole answer: the HTTP status and
/// the body. No answer at all (refused, timed out) is a retryable error.
pub async fn exchange(
    provider: &str,
    request: reqwest::RequestBuilder,
) -> Result<(u16, Vec<u8>), SendError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(provider, &e))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(provider, &e))?;
    Ok((status, body.to_vec()))
}

/// A success answer without what a success carries (the message's id).
pub fn bad_response(provider: &str) -> SendError {
    SendError::Retryable {
        code: "bad_response".into(),
        reason: format!("{provider} answered without a message id"),
    }
}

/// A transport failure (no answer at all) as a retryable send error.
fn transport_error(provider: &str, e: &reqwest::Error) -> SendError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    SendError::Retryable {
        code: if e.is_timeout() { "timeout" } else { "network" }.into(),
        reason: format!("{provider}: {what}"),
    }
}
