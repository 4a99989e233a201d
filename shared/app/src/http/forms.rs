//! The public form endpoint, with a per-form CORS allow-list.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::PathParam;
use super::body;
use super::dto::{Accepted, SubmissionFields};
use super::error::{ApiError, ErrorBody};
use crate::App;

/// Submit a lead from a web form.
///
/// Answers 202 with the lead's id once the lead is stored; the greeting and
/// the assignment follow within a second. A repeat submission from a patient
/// with an open lead answers with that lead's id.
#[utoipa::path(
    post,
    path = "/v1/forms/{form_id}/leads",
    tag = "forms",
    params(("form_id" = String, Path, description = "The form's public id")),
    request_body(content(
        (SubmissionFields = "application/x-www-form-urlencoded"),
        (SubmissionFields = "application/json"),
    )),
    responses(
        (status = 202, description = "Accepted", body = Accepted),
        (status = 400, description = "The body does not parse", body = ErrorBody),
        (status = 403, description = "The page's origin may not post this form", body = ErrorBody),
        (status = 404, description = "No such form", body = ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB", body = ErrorBody),
        (status = 415, description = "Neither form data nor JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    ),
)]
pub async fn submit(
    State(app): State<Arc<App>>,
    PathParam(form_id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let result = async {
        let (_, form) = app.directory.form(&form_id).ok_or_else(not_found)?;
        if let Some(origin) = &origin
            && !form.allows_origin(origin)
        {
            return Err(origin_refused());
        }
        let bytes = body::read(body).await?;
        let fields = body::form_fields(&headers, &bytes)?;
        let submitted = app
            .submit_form(&form_id, &fields)
            .await
            .map_err(ApiError::from)?;
        Ok(Accepted {
            id: submitted.id().to_owned(),
            status: "accepted",
        })
    }
    .await;
    let mut response = match result {
        Ok(accepted) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Err(e) => e.into_response(),
    };
    // Let an allowed page read the answer, errors included.
    if let Some(origin) = origin
        && let Some((_, form)) = app.directory.form(&form_id)
        && form.allows_origin(&origin)
    {
        allow_origin(response.headers_mut(), &origin);
    }
    response
}

/// CORS preflight for browsers posting JSON from an allowed page.
#[utoipa::path(
    options,
    path = "/v1/forms/{form_id}/leads",
    tag = "forms",
    params(("form_id" = String, Path, description = "The form's public id")),
    responses(
        (status = 204, description = "The origin may post this form"),
        (status = 403, description = "It may not", body = ErrorBody),
        (status = 404, description = "No such form", body = ErrorBody),
    ),
)]
pub async fn preflight(
    State(app): State<Arc<App>>,
    PathParam(form_id): PathParam,
    headers: HeaderMap,
) -> Response {
    let Some((_, form)) = app.directory.form(&form_id) else {
        return not_found().into_response();
    };
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    match origin {
        Some(origin) if form.allows_origin(origin) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            let h = response.headers_mut();
            allow_origin(h, origin);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            );
            response
        }
        _ => origin_refused().into_response(),
    }
}

fn allow_origin(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
    }
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "form not found")
}

fn origin_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "origin_not_allowed",
        "pages of this origin may not post this form; add the origin to the form's allowed_origins",
    )
}
