//! The providers' webhooks, one URL per tenant and provider. Each request
//! is authenticated by the provider's signature over its exact bytes (401
//! and nothing stored otherwise), parsed into our events (400 if it is not
//! the provider's format), queued durably, and acknowledged: the work is
//! done by the queue's consumer, so the provider gets its 200 fast.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinicflow_channels::credentials::TenantCredentials;
use clinicflow_channels::signature::{
    self, CALCOM_HEADER, CALLBACK_HEADER, CALLBACK_TIMESTAMP, META_HEADER, TWILIO_HEADER,
};
use clinicflow_channels::{google_ads, instagram, meta_leads, twilio, whatsapp};
use clinicflow_core::calcom;
use clinicflow_core::calls;
use clinicflow_core::contact::PhoneNumber;
use clinicflow_core::ids::ConsultantId;
use clinicflow_core::ids::TenantId;
use clinicflow_core::inbound::Inbound;
use clinicflow_core::submission::FieldError;
use clinicflow_core::tenant::Tenant;
use serde::Deserialize;
use tracing::{info, warn};

use super::error::{ApiError, ErrorBody};
use super::{PathParam, body};
use crate::App;
use crate::work::Work;

fn tenant_with<'a>(
    app: &'a App,
    id: &str,
) -> Result<(&'a Arc<Tenant>, &'a TenantCredentials), ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such webhook");
    let id = TenantId::new(id).map_err(|_| not_found())?;
    let tenant = app.directory.tenant(&id).ok_or_else(not_found)?;
    let keys = app.credentials.tenant(&id).ok_or_else(not_found)?;
    Ok((tenant, keys))
}

fn refused(e: &signature::SignatureError) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string())
}

fn unreadable(problem: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "malformed_body", problem)
}

/// Queues each event in one durable write: accepted means stored.
async fn enqueue(app: &App, tenant: &TenantId, events: Vec<Inbound>) -> Result<usize, ApiError> {
    let n = events.len();
    if n == 0 {
        return Ok(0);
    }
    let writes = events
        .into_iter()
        .map(|inbound| {
            Work::Inbound {
                tenant: tenant.clone(),
                inbound,
            }
            .enqueue()
        })
        .collect();
    app.store
        .write(writes)
        .await
        .map_err(|e| ApiError::from(crate::AppError::Unavailable(e.to_string())))?;
    Ok(n)
}

/// The body of a request a Meta app signed (`X-Hub-Signature-256` under
/// `app_secret`: WhatsApp's, a Page's, Instagram's); 401 otherwise.
async fn meta_signed(
    tenant: &Tenant,
    app_secret: &str,
    headers: &HeaderMap,
    body: Body,
    what: &str,
) -> Result<axum::body::Bytes, ApiError> {
    let bytes = body::read(body).await?;
    let given = headers.get(META_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify_meta(app_secret.as_bytes(), &bytes, given) {
        warn!(tenant = %tenant.id, problem = %e, "{what} refused");
        return Err(refused(&e));
    }
    Ok(bytes)
}

#[derive(Debug, Default, Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// What a JSON webhook's answer says: how many events were queued.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Received {
    pub received: usize,
}

/// Meta's verification handshake: echo `hub.challenge` when `hub.mode` is
/// `subscribe` and `hub.verify_token` is the tenant's.
#[utoipa::path(
    get,
    path = "/webhooks/whatsapp/{tenant}",
    tag = "webhooks",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
        ("hub.mode" = Option<String>, Query, description = "`subscribe`"),
        ("hub.verify_token" = Option<String>, Query, description = "The clinic's verify token"),
        ("hub.challenge" = Option<String>, Query, description = "Echoed back when the rest holds"),
    ),
    responses(
        (status = 200, description = "The challenge, echoed", content_type = "text/plain", body = String),
        (status = 403, description = "Not `subscribe`, or not the clinic's verify token", body = ErrorBody),
        (status = 404, description = "No such clinic, or no WhatsApp number configured", body = ErrorBody),
    ),
)]
pub async fn whatsapp_verify(
    State(app): State<Arc<App>>,
    PathParam(tenant): PathParam,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (tenant, keys) = tenant_with(&app, &tenant)?;
    let keys = keys.whatsapp.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no WhatsApp number is configured for this clinic",
        )
    })?;
    let answer = handshake(query.as_deref(), &keys.verify_token)?;
    info!(tenant = %tenant.id, "WhatsApp webhook verified");
    Ok(answer)
}

/// Meta's verification handshake (WhatsApp's, a Page's): the challenge
/// echoed when `hub.mode` is `subscribe` and `hub.verify_token` is ours.
fn handshake(query: Option<&str>, verify_token: &str) -> Result<Response, ApiError> {
    let q: Handshake = serde_urlencoded::from_str(query.unwrap_or_default()).unwrap_or_default();
    let token_ok = q
        .verify_token
        .as_deref()
        .is_some_and(|t| signature::constant_time_eq(t.as_bytes(), verify_token.as_bytes()));
    match (q.mode.as_deref(), token_ok, q.challenge) {
        (Some("subscribe"), true, Some(challenge)) => {
            Ok(([(header::CONTENT_TYPE, "text/plain")], challenge).into_response())
        }
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "verification_failed",
            "hub.mode must be `subscribe` and hub.verify_token the clinic's verify token",
        )),
    }
}

fn no_meta_app() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no Meta app is configured for this clinic's lead ads",
    )
}

/// The Page webhook's verification handshake, for Meta lead ads.
#[utoipa::path(
    get,
    path = "/webhooks/meta/{tenant}",
    tag = "webhooks",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
        ("hub.mode" = Option<String>, Query, description = "`subscribe`"),
        ("hub.verify_token" = Option<String>, Query, description = "The verify token of `[tenants.lead_ads.meta]`"),
        ("hub.challenge" = Option<String>, Query, description = "Echoed back when the rest holds"),
    ),
    responses(
        (status = 200, description = "The challenge, echoed", content_type = "text/plain", body = String),
        (status = 403, description = "Not `subscribe`, or not the clinic's verify token", body = ErrorBody),
        (status = 404, description = "No such clinic, or no Meta app configured", body = ErrorBody),
    ),
)]
pub async fn meta_verify(
    State(app): State<Arc<App>>,
    PathParam(tenant): PathParam,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (tenant, keys) = tenant_with(&app, &tenant)?;
    let keys = keys.meta.as_ref().ok_or_else(no_meta_app)?;
    let answer = handshake(query.as_deref(), &keys.verify_token)?;
    info!(tenant = %tenant.id, "Meta Page webhook verified");
    Ok(answer)
}

/// Meta's Page webhook: each `leadgen` change names a new lead, queued;
/// its answers are read from the Graph API behind the queue.
#[utoipa::path(
    post,
    path = "/webhooks/meta/{tenant}",
    tag = "webhooks",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the HMAC of the body under the app secret"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "The Page notification (`object: page`, `entry[].changes[]` with `field: leadgen`)"),
    responses(
        (status = 200, description = "Verified and queued", body = Received),
        (status = 400, description = "Not a Page notification", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature; nothing stored", body = ErrorBody),
        (status = 404, description = "No such clinic, or no Meta app configured", body = ErrorBody),
    ),
)]
pub async fn meta(
    State(app): State<Arc<App>>,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, keys) = tenant_with(&app, &tenant)?;
    let keys = keys.meta.as_ref().ok_or_else(no_meta_app)?;
    let bytes = meta_signed(
        tenant,
        &keys.app_secret,
        &headers,
        body,
        "Meta Page webhook",
    )
    .await?;
    let notices = meta_leads::parse_webhook(&bytes, app.clock.now()).map_err(unreadable)?;
    // An app may serve Pages of others: only the clinic's are read.
    let (ours, others): (Vec<_>, Vec<_>) = notices
        .into_iter()
        .partition(|n| keys.page_tokens.contains_key(&n.page_id));
    if !others.is_empty() {
        info!(tenant = %tenant.id, skipped = others.len(), "leads of Pages not in lead_ads.meta.pages skipped");
    }
    let events = ours.into_iter().map(Inbound::LeadNotice).collect();
    let n = enqueue(&app, &tenant.id, events).await?;
    info!(tenant = %tenant.id, leads = n, "Meta Page webhook accepted");
    Ok(axum::Json(Received { received: n }).into_response())
}

/// WhatsApp notifications: messages and statuses.
#[utoipa::path(
    post,
    path = "/webhooks/whatsapp/{tenant}",
    tag = "webhooks",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the HMAC of the body under the app secret"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "The Cloud API's notification (`object`, `entry[].changes[].value`)"),
    responses(
        (status = 200, description = "Verified and queued", body = Received),
        (status = 400, description = "Not the Cloud API's notification format", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature; nothing stored", body = ErrorBody),
        (status = 404, description = "No such clinic, or no WhatsApp number configured", body = ErrorBody),
    ),
)]
pub async fn whatsapp(
    State(app): State<Arc<App>>,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, keys) = tenant_with(&app, &tenant)?;
    let (Some(keys), Some(config)) = (
        keys.whatsapp.as_ref(),
        tenant.messaging.providers.whatsapp.as_ref(),
    ) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no WhatsApp number is configured for this clinic",
        ));
    };
    let bytes = meta_signed(tenant, &keys.app_secret, &headers, body, "WhatsApp webhook").await?;
    let events = whatsapp::parse_webhook(&bytes, &config.phone_number_id).map_err(unreadable)?;
    let n = enqueue(&app, &tenant.id, events).await?;
    info!(tenant = %tenant.id, events = n, "WhatsApp webhook accepted");
    Ok(axum::Json(Received { received: n }).into_response())
}

fn no_instagram_account() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no Instagram account is configured for this clinic",
    )
}

/// The Instagram webhook's verification handshake.
#[utoipa::path(
    get,
    path = "/webhooks/instagram/{tenant}",
    tag = "webhooks",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
        ("hub.mode" = Option<String>, Query, description = "`subscribe`"),
        ("hub.verify_token" = Option<String>, Query, description = "The verify token of `[tenants.instagram]`"),
        ("hub.challenge" = Option<String>, Query, description = "Echoed back when the rest holds"),
    ),
    responses(
        (status = 200, description = "The challenge, echoed", content_type = "text/plain", body = String),
        (status = 403, description = "Not `subscribe`, or not the clinic's verify token", body = ErrorBody),
        (status = 404, description = "No such clinic, or no Instagram account configured", body = ErrorBody),
    ),
)]
pub async fn instagram_verify(
    State(app): State<Arc<App>>,
    PathParam(tenant): PathParam,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (tenant, keys) = tenant_with(&app, &tenant)?;
    let keys = keys.instagram.as_ref().ok_or_else(no_instagram_account)?;
    let answer = handshake(query.as_deref(), &keys.verify_token)?;
    info!(tenant = %tenant.id, "Instagram webhook verified");
    Ok(answer)
}

/// Instagram messaging notifications: patients' direct messages (echoes
/// of the account's own skipped) and what they read.
#[utoipa::path(
    post,
    path = "/webhooks/instagram/{tenant}",
    tag = "webhooks",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the HMAC of the body under the app secret"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "The messaging notification (`object: instagram`, `entry[].messaging[]`)"),
    responses(
        (status = 200, description = "Verified and queued", body = Received),
        (status = 400, description = "Not an Instagram notification", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature; nothing stored", body = ErrorBody),
        (status = 404, description = "No such clinic, or no Instagram account configured", body = ErrorBody),
    ),
)]
pub async fn instagram(
    State(app): State<Arc<App>>,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, keys) = tenant_with(&app, &tenant)?;
    let (Some(keys), Some(config)) = (
        keys.instagram.as_ref(),
        tenant.messaging.providers.instagram.as_ref(),
    ) else {
        return Err(no_instagram_account());
    };
    let bytes = meta_signed(
        tenant,
        &keys.app_secret,
        &headers,
        body,
        "Instagram webhook",
    )
    .await?;
    let events = instagram::parse_webhook(&bytes, &config.account_id).map_err(unreadable)?;
    let n = enqueue(&app, &tenant.id, events).await?;
    info!(tenant = %tenant.id, events = n, "Instagram webhook accepted");
    Ok(axum::Json(Received { received: n }).into_response())
}

/// Twilio webhooks: incoming SMS and status callbacks. The signature
/// covers the URL Twilio called, rebuilt from the request as a proxy
/// (API Gateway) forwards it.
#[utoipa::path(
    post,
    path = "/webhooks/twilio/{tenant}",
    tag = "webhooks",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
        ("X-Twilio-Signature" = String, Header, description = "Base64 HMAC-SHA1 of the URL and the sorted parameters under the auth token"),
    ),
    request_body(content = std::collections::BTreeMap<String, String>, content_type = "application/x-www-form-urlencoded", description = "An incoming message (`From`, `Body`, …) or a status callback (`MessageSid`, `MessageStatus`, …)"),
    responses(
        (status = 200, description = "Verified and queued; an empty TwiML answer", content_type = "text/xml", body = String),
        (status = 400, description = "Not form data, or neither a message nor a status", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature; nothing stored", body = ErrorBody),
        (status = 404, description = "No such clinic, or no Twilio account configured", body = ErrorBody),
    ),
)]
pub async fn twilio(
    State(app): State<Arc<App>>,
    PathParam(tenant): PathParam,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, keys) = tenant_with(&app, &tenant)?;
    let keys = keys.sms.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no Twilio account is configured for this clinic",
        )
    })?;
    let bytes = body::read(body).await?;
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| unreadable("the body is not form data".into()))?;
    let url = public_url(&headers, &uri);
    let given = headers.get(TWILIO_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify_twilio(&keys.auth_token, &url, &params, given) {
        warn!(tenant = %tenant.id, problem = %e, "Twilio webhook refused");
        return Err(refused(&e));
    }
    let event = twilio::parse_webhook(&params, app.clock.now()).map_err(unreadable)?;
    let n = enqueue(&app, &tenant.id, event.into_iter().collect()).await?;
    info!(tenant = %tenant.id, events = n, "Twilio webhook accepted");
    // An empty TwiML answer: no automatic reply.
    Ok((
        [(header::CONTENT_TYPE, "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    )
        .into_response())
}

/// Cal.com booking webhooks: verified (`X-Cal-Signature-256`), read into
/// a write of our appointment, queued, and answered.
#[utoipa::path(
    post,
    path = "/webhooks/calcom/{tenant}",
    tag = "webhooks",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
        ("X-Cal-Signature-256" = String, Header, description = "The hex HMAC-SHA256 of the body under the webhook's secret"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "Cal.com's `triggerEvent`, `createdAt` and `payload`"),
    responses(
        (status = 200, description = "Verified; queued (or nothing to do)", body = Received),
        (status = 401, description = "Missing or wrong signature; nothing stored", body = ErrorBody),
        (status = 404, description = "No such clinic, or no Cal.com webhook configured", body = ErrorBody),
        (status = 422, description = "A booking we cannot read, each field named", body = ErrorBody),
    ),
)]
pub async fn calcom(
    State(app): State<Arc<App>>,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, keys) = tenant_with(&app, &tenant)?;
    let secret = keys.calcom_secret.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no Cal.com webhook is configured for this clinic",
        )
    })?;
    let bytes = body::read(body).await?;
    let given = headers.get(CALCOM_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify_calcom(secret.as_bytes(), &bytes, given) {
        warn!(tenant = %tenant.id, problem = %e, "Cal.com webhook refused");
        return Err(refused(&e));
    }
    let write = calcom::parse(&bytes, tenant).map_err(|problems| {
        ApiError::invalid(
            problems
                .into_iter()
                .map(|p| FieldError::new(&p.field, p.problem))
                .collect(),
        )
    })?;
    let queued = match write {
        Some(write) => {
            let work = Work::Calcom {
                tenant: tenant.id.clone(),
                write,
            };
            app.store
                .write(vec![work.enqueue()])
                .await
                .map_err(|e| ApiError::from(crate::AppError::Unavailable(e.to_string())))?;
            1
        }
        None => 0,
    };
    info!(tenant = %tenant.id, queued, "Cal.com webhook accepted");
    Ok(axum::Json(Received { received: queued }).into_response())
}

/// Google Ads lead forms: each lead, with the key set on its form (or the
/// clinic's Google key) compared in constant time, queued as one event.
/// A test lead ("send test data") is queued too, and stored as a test.
#[utoipa::path(
    post,
    path = "/webhooks/google/{tenant}",
    tag = "webhooks",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "Google's lead (`lead_id`, `user_column_data`, `form_id`, `campaign_id`, `adgroup_id`, `creative_id`, `gcl_id`, `google_key`, `is_test`)"),
    responses(
        (status = 200, description = "The key matched; queued", body = Received),
        (status = 400, description = "Not Google's lead format", body = ErrorBody),
        (status = 401, description = "No key, or not the form's key; nothing stored", body = ErrorBody),
        (status = 404, description = "No such clinic", body = ErrorBody),
    ),
)]
pub async fn google(
    State(app): State<Arc<App>>,
    PathParam(tenant): PathParam,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, keys) = tenant_with(&app, &tenant)?;
    let bytes = body::read(body).await?;
    let delivered = google_ads::parse_webhook(&bytes, app.clock.now()).map_err(unreadable)?;
    let expected = keys.google_key_for(&delivered.lead.form_id);
    let matches = match (expected, delivered.key.as_deref()) {
        (Some(expected), Some(given)) => {
            signature::constant_time_eq(expected.as_bytes(), given.as_bytes())
        }
        _ => false,
    };
    if !matches {
        warn!(tenant = %tenant.id, form = %delivered.lead.form_id, "Google lead refused: wrong or missing key");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_key",
            "google_key is missing or is not the key set for this lead form",
        ));
    }
    let n = enqueue(&app, &tenant.id, vec![Inbound::LeadAd(delivered.lead)]).await?;
    info!(tenant = %tenant.id, "Google lead accepted");
    Ok(axum::Json(Received { received: n }).into_response())
}

/// A clinic's call centre or switchboard: one call record, signed the way
/// we sign our own calls (`X-Clinicflow-Timestamp`, and
/// `X-Clinicflow-Signature-256` over `{timestamp}.{body}`), checked, read
/// and queued.
#[utoipa::path(
    post,
    path = "/webhooks/calls/{tenant}",
    tag = "webhooks",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
        ("X-Clinicflow-Timestamp" = String, Header, description = "Unix seconds when it was signed; at most 5 minutes from our clock"),
        ("X-Clinicflow-Signature-256" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of `{timestamp}.{body}` under the clinic's calls secret"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "`id`, `direction` (`inbound`/`outbound`), `status` (`answered`/`missed`), `from`, `to`, `started_at` (RFC 3339), `duration` (seconds), `agent`, `recording_url`, `note`"),
    responses(
        (status = 200, description = "Verified and queued", body = Received),
        (status = 401, description = "Missing, stale or wrong signature; nothing stored", body = ErrorBody),
        (status = 404, description = "No such clinic, or no switchboard configured", body = ErrorBody),
        (status = 422, description = "A record we cannot read, each field named", body = ErrorBody),
    ),
)]
pub async fn calls(
    State(app): State<Arc<App>>,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, keys) = tenant_with(&app, &tenant)?;
    let (Some(secret), Some(policy)) = (keys.calls_secret.as_ref(), tenant.calls.as_ref()) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no switchboard is configured for this clinic",
        ));
    };
    let bytes = body::read(body).await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify_ours(
        secret.as_bytes(),
        header(CALLBACK_TIMESTAMP),
        header(CALLBACK_HEADER),
        &bytes,
        app.clock.now().as_second(),
    ) {
        warn!(tenant = %tenant.id, problem = %e, "call record refused");
        return Err(refused(&e));
    }
    let consultants: Vec<ConsultantId> = tenant.consultants.iter().map(|k| k.id.clone()).collect();
    let call = calls::parse(&bytes, &|agent| policy.consultant(agent, &consultants))
        .map_err(ApiError::invalid)?;
    if let Err(e) = PhoneNumber::parse(&call.patient, tenant.default_branch().phone_region) {
        let field = match call.direction {
            calls::Direction::Inbound => "from",
            calls::Direction::Outbound => "to",
        };
        return Err(ApiError::invalid(vec![FieldError::new(
            field,
            e.to_string(),
        )]));
    }
    let n = enqueue(&app, &tenant.id, vec![Inbound::Call(call)]).await?;
    info!(tenant = %tenant.id, "call record accepted");
    Ok(axum::Json(Received { received: n }).into_response())
}

/// The URL the caller used: scheme and host as forwarded, path and query as sent.
fn public_url(headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scheme = get("x-forwarded-proto").unwrap_or("http");
    let host = get("x-forwarded-host")
        .or_else(|| get(header::HOST.as_str()))
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{scheme}://{host}{path}")
}
