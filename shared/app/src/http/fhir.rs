//! `PUT /fhir/Appointment?identifier={system}|{value}`: a clinic's
//! scheduler upserts an R4 `Appointment` by its own business identifier.
//!
//! 201 when created, 200 when updated (or when nothing changed, or when
//! the write is older than what we have), each with `ETag: W/"{version}"`
//! and `Location` of the version; `If-Match` naming another version → 412.
//! Every error is an `OperationOutcome` naming the failing element's path.
//! The staff token authenticates, as on the staff API.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinicflow_core::fhir::{self, Issue};
use serde::Deserialize;

use super::appointments::etag;
use super::body;
use super::staff::staff_tenant;
use crate::App;
use crate::error::AppError;
use crate::usecases::{FeedOutcome, FhirRefusal, FhirWrite};

const FHIR_JSON: &str = "application/fhir+json";

fn outcome(status: StatusCode, issues: &[Issue]) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, FHIR_JSON)],
        fhir::outcome(issues).to_string(),
    )
        .into_response()
}

fn error(
    status: StatusCode,
    code: &'static str,
    path: &str,
    diagnostics: impl Into<String>,
) -> Response {
    outcome(status, &[Issue::error(code, path, diagnostics)])
}

fn refused(e: AppError) -> Response {
    match e {
        AppError::PreconditionFailed(m) => error(
            StatusCode::PRECONDITION_FAILED,
            "conflict",
            "Appointment",
            m,
        ),
        AppError::NotFound(what) => error(
            StatusCode::NOT_FOUND,
            "not-found",
            "Appointment",
            format!("{what} not found"),
        ),
        AppError::Invalid(fields) => outcome(
            StatusCode::UNPROCESSABLE_ENTITY,
            &fields
                .into_iter()
                .map(|f| Issue::error("invalid", f.field, f.problem))
                .collect::<Vec<_>>(),
        ),
        AppError::Conflict(m) => error(StatusCode::CONFLICT, "conflict", "Appointment", m),
        other => {
            let api = super::error::ApiError::from(other);
            error(api.status, "transient", "Appointment", api.message)
        }
    }
}

/// FHIR R4's `OperationOutcome`, as this route answers it (documented
/// here; `core::fhir` builds it).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OperationOutcome {
    /// `OperationOutcome`.
    #[serde(rename = "resourceType")]
    resource_type: String,
    issue: Vec<OutcomeIssue>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OutcomeIssue {
    /// `error` or `information`.
    severity: String,
    /// FHIR's issue type: `invalid`, `required`, `login`, `conflict`, …
    code: String,
    diagnostics: String,
    /// The failing element's path.
    expression: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct Search {
    identifier: Option<String>,
}

/// Create or update an appointment by the scheduler's identifier.
#[utoipa::path(
    put,
    path = "/fhir/Appointment",
    tag = "fhir",
    params(("identifier" = String, Query, description = "`{system}|{value}`: the scheduler's business identifier")),
    request_body(content = String, content_type = "application/fhir+json", description = "An R4 Appointment: identifier, status, start/end, serviceType, participants (a contained Patient with name and telecom, Practitioner/{id}, Location/{id}), cancelationReason, meta.lastUpdated"),
    security(("staff_token" = [])),
    responses(
        (status = 201, description = "Created: an OperationOutcome; ETag and Location name the version", content_type = "application/fhir+json", body = OperationOutcome),
        (status = 200, description = "Updated, unchanged, or older than what is stored (nothing changed): an OperationOutcome saying which", content_type = "application/fhir+json", body = OperationOutcome),
        (status = 400, description = "No or a malformed `identifier`, a bad If-Match, not JSON, or not an Appointment", content_type = "application/fhir+json", body = OperationOutcome),
        (status = 401, description = "No valid staff token", content_type = "application/fhir+json", body = OperationOutcome),
        (status = 404, description = "A practitioner, branch or service it names is not the clinic's", content_type = "application/fhir+json", body = OperationOutcome),
        (status = 409, description = "The appointment cannot change that way", content_type = "application/fhir+json", body = OperationOutcome),
        (status = 412, description = "If-Match names another version", content_type = "application/fhir+json", body = OperationOutcome),
        (status = 413, description = "The body is larger than 64 KiB", content_type = "application/fhir+json", body = OperationOutcome),
        (status = 422, description = "Invalid elements, each named by its path", content_type = "application/fhir+json", body = OperationOutcome),
        (status = 503, description = "Busy or briefly unavailable: try again", content_type = "application/fhir+json", body = OperationOutcome),
    ),
)]
pub async fn put_appointment(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(tenant) = staff_tenant(&app, &headers) else {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "login",
            "Appointment",
            "a valid staff token is required: `Authorization: Bearer <token>`",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    };
    let search: Search =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let Some(identifier) = search.identifier else {
        return error(
            StatusCode::BAD_REQUEST,
            "required",
            "identifier",
            "name the appointment: PUT /fhir/Appointment?identifier={system}|{value}",
        );
    };
    let if_match = match super::appointments::if_match(&headers) {
        Ok(v) => v,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "If-Match",
                "must be an ETag this server gave, such as W/\"3\"",
            );
        }
    };
    let bytes = match body::read(body).await {
        Ok(b) => b,
        Err(e) => return error(e.status, "too-long", "Appointment", e.message),
    };
    let write = FhirWrite {
        identifier: &identifier,
        if_match,
        body: &bytes,
    };
    match app.upsert_fhir(&tenant, write).await {
        Ok(result) => {
            let a = result.appointment();
            let (status, said) = match &result {
                FeedOutcome::Created(_) => (StatusCode::CREATED, "created"),
                FeedOutcome::Updated(_) => (StatusCode::OK, "updated"),
                FeedOutcome::Unchanged(_) => (
                    StatusCode::OK,
                    "unchanged: the stored appointment already says this",
                ),
                FeedOutcome::Stale(_) => (
                    StatusCode::OK,
                    "ignored: older (meta.lastUpdated) than the version stored; nothing changed",
                ),
            };
            let mut response = (
                status,
                [(header::CONTENT_TYPE, FHIR_JSON)],
                fhir::information(&format!(
                    "appointment {} version {}: {said}",
                    a.id, a.version
                ))
                .to_string(),
            )
                .into_response();
            let headers = response.headers_mut();
            headers.insert(header::ETAG, etag(a.version));
            if let Ok(location) = HeaderValue::from_str(&format!(
                "/fhir/Appointment/{}/_history/{}",
                a.id, a.version
            )) {
                headers.insert(header::LOCATION, location);
            }
            response
        }
        Err(FhirRefusal::Invalid(issues)) => {
            let structural = issues.iter().any(|i| i.code == "structure")
                || issues
                    .iter()
                    .any(|i| i.expression.iter().any(|e| e == "Appointment.resourceType"))
                || issues
                    .iter()
                    .any(|i| i.expression.iter().any(|e| e == "identifier"));
            let status = if structural {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            outcome(status, &issues)
        }
        Err(FhirRefusal::App(e)) => refused(e),
    }
}
