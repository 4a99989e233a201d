//! The HTTP API, as axum routers over an [`App`]. The intake Lambda serves
//! [`intake_router`], the API Lambda [`api_router`], and the local server
//! both ([`router`]): the same routes everywhere.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::App;

mod appointments;
mod automations;
mod blasts;
mod body;
mod dto;
mod error;
mod fhir;
mod forms;
mod lead_ads;
mod links;
mod openapi;
mod outreach;
mod staff;
mod webhooks;

pub use error::ApiError;

/// A path parameter whose rejection (an id that is not UTF-8, say) is
/// answered as JSON, like every other error: there is no such resource.
pub(crate) struct PathParam(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParam(value))
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource"))
    }
}
/// Two path parameters (a lead and one of its messages), like [`PathParam`].
pub(crate) struct PathPair(pub String, pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathPair {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path((a, b))| PathPair(a, b))
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource"))
    }
}

pub use openapi::document;

/// Every route: what the local server serves.
pub fn router(app: Arc<App>) -> Router {
    finish(
        form_routes().merge(staff_routes()).merge(webhook_routes()),
        app,
    )
}

/// The providers' webhooks: what the webhooks Lambda serves.
pub fn webhooks_router(app: Arc<App>) -> Router {
    finish(webhook_routes(), app)
}

/// What providers, schedulers and patients' links call: the webhooks
/// function serves them.
fn webhook_routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/webhooks/whatsapp/{tenant}",
            get(webhooks::whatsapp_verify).post(webhooks::whatsapp),
        )
        .route("/webhooks/twilio/{tenant}", post(webhooks::twilio))
        .route("/webhooks/calcom/{tenant}", post(webhooks::calcom))
        .route("/webhooks/google/{tenant}", post(webhooks::google))
        .route(
            "/webhooks/meta/{tenant}",
            get(webhooks::meta_verify).post(webhooks::meta),
        )
        .route(
            "/webhooks/instagram/{tenant}",
            get(webhooks::instagram_verify).post(webhooks::instagram),
        )
        .route("/webhooks/calls/{tenant}", post(webhooks::calls))
        .route("/a/{tenant}/{token}", get(links::show).post(links::answer))
}

/// The public form endpoint: what the intake Lambda serves.
pub fn intake_router(app: Arc<App>) -> Router {
    finish(form_routes(), app)
}

/// The staff API and the API's documentation: what the API Lambda serves.
pub fn api_router(app: Arc<App>) -> Router {
    finish(staff_routes(), app)
}

fn form_routes() -> Router<Arc<App>> {
    Router::new().route(
        "/v1/forms/{form_id}/leads",
        post(forms::submit).options(forms::preflight),
    )
}

fn staff_routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/leads", get(staff::list_leads))
        .route("/v1/lead-ads/tests", get(lead_ads::tests))
        .route("/v1/leads/{lead_id}", get(staff::get_lead))
        .route("/v1/leads/{lead_id}/contacts", post(staff::record_contact))
        .route("/v1/leads/{lead_id}/stage", post(staff::move_stage))
        .route("/v1/leads/{lead_id}/messages", post(outreach::send_reply))
        .route("/v1/leads/{lead_id}/phone", put(outreach::correct_phone))
        .route(
            "/v1/leads/{lead_id}/messages/{message_id}/resend",
            post(outreach::resend),
        )
        .route(
            "/v1/leads/{lead_id}/messages/{message_id}/handled",
            post(outreach::mark_handled),
        )
        .route(
            "/v1/appointments",
            get(appointments::list).post(appointments::book),
        )
        .route(
            "/v1/appointments/{appointment_id}",
            get(appointments::detail),
        )
        .route(
            "/v1/appointments/{appointment_id}/move",
            post(appointments::move_to),
        )
        .route(
            "/v1/appointments/{appointment_id}/cancel",
            post(appointments::cancel),
        )
        .route(
            "/v1/appointments/{appointment_id}/status",
            post(appointments::status),
        )
        .route("/v1/surveys", get(appointments::surveys))
        .route(
            "/v1/automations",
            get(automations::list).post(automations::create),
        )
        .route(
            "/v1/automations/{rule_id}",
            get(automations::detail)
                .put(automations::update)
                .delete(automations::delete),
        )
        .route(
            "/v1/automations/{rule_id}/versions/{version}",
            get(automations::version),
        )
        .route(
            "/v1/automations/{rule_id}/activate",
            post(automations::activate),
        )
        .route(
            "/v1/automations/{rule_id}/deactivate",
            post(automations::deactivate),
        )
        .route(
            "/v1/automations/{rule_id}/preview",
            get(automations::preview),
        )
        .route("/v1/automations/{rule_id}/run", post(automations::run))
        .route(
            "/v1/automations/{rule_id}/firings",
            get(automations::firings),
        )
        .route(
            "/v1/automations/triggers/{code}",
            post(automations::trigger),
        )
        .route("/v1/automations/presets/{name}", post(automations::preset))
        .route("/v1/pipelines", get(automations::pipelines))
        .route(
            "/v1/pipelines/{pipeline_id}",
            put(automations::put_pipeline).delete(automations::delete_pipeline),
        )
        .route(
            "/v1/deals",
            get(automations::list_deals).post(automations::create_deal),
        )
        .route("/v1/deals/{deal_id}", get(automations::deal))
        .route("/v1/deals/{deal_id}/stage", post(automations::move_deal))
        .route("/v1/deals/{deal_id}/flags", put(automations::flag_deal))
        .route("/v1/blasts", get(blasts::list).post(blasts::preview))
        .route("/v1/blasts/{blast_id}", get(blasts::detail))
        .route("/v1/blasts/{blast_id}/send", post(blasts::send))
        .route("/v1/blasts/{blast_id}/test", post(blasts::test))
        .route("/v1/blasts/{blast_id}/pause", post(blasts::pause))
        .route("/v1/blasts/{blast_id}/resume", post(blasts::resume))
        .route("/v1/blasts/{blast_id}/cancel", post(blasts::cancel))
        .route("/v1/blasts/{blast_id}/recipients", get(blasts::recipients))
        .route("/fhir/Appointment", put(fhir::put_appointment))
        .route("/v1/messages", get(staff::list_messages))
        .route("/v1/tasks", get(staff::list_tasks))
        .route("/v1/tasks/{task_id}/done", post(staff::complete_task))
        .route("/openapi.json", get(openapi::serve))
}

fn finish(routes: Router<Arc<App>>, app: Arc<App>) -> Router {
    routes
        .route("/healthz", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = dto::Health)))]
async fn health() -> Json<dto::Health> {
    Json(dto::Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
    .into_response()
}

async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response()
}
