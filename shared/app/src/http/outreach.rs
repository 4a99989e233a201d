//! The staff API's messaging routes: a consultant's message to the
//! patient, and the failed-messages panel (correct the phone, resend,
//! mark handled). Failed messages are listed by `GET /v1/messages?status=failed&handled=false`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use clinicflow_core::message::{HandledVia, Purpose};
use clinicflow_core::submission::FieldError;

use super::dto::{HandledRequest, LeadView, MessageView, PhoneRequest, ReplyRequest};
use super::error::{ApiError, ErrorBody};
use super::staff::Staff;
use super::{PathPair, PathParam, body};
use crate::App;

/// Send the patient a message from their consultant: on WhatsApp inside
/// the 24-hour window, otherwise on the clinic's next channel.
#[utoipa::path(
    post,
    path = "/v1/leads/{lead_id}/messages",
    tag = "staff",
    params(("lead_id" = String, Path)),
    request_body = ReplyRequest,
    security(("staff_token" = [])),
    responses(
        (status = 202, description = "Queued; the ledger entry", body = MessageView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such lead in this clinic", body = ErrorBody),
        (status = 409, description = "No channel can carry it now, or the patient opted out of promotional messages", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    ),
)]
pub async fn send_reply(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(lead_id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let bytes = body::read(body).await?;
    let request: ReplyRequest = body::json(&headers, &bytes)?;
    let purpose = match request.purpose.as_deref() {
        None | Some("operational") => Purpose::Operational,
        Some("promotional") => Purpose::Promotional,
        Some(_) => {
            return Err(ApiError::invalid(vec![FieldError::new(
                "purpose",
                "must be `operational` or `promotional`",
            )]));
        }
    };
    let message = app
        .send_reply(&tenant, &lead_id, &request.text, purpose)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(MessageView::from(&message))))
}

/// Correct the patient's phone number on an open lead.
#[utoipa::path(
    put,
    path = "/v1/leads/{lead_id}/phone",
    tag = "staff",
    params(("lead_id" = String, Path)),
    request_body = PhoneRequest,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The lead with the corrected number", body = LeadView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such lead in this clinic", body = ErrorBody),
        (status = 409, description = "The lead is closed, or another open lead has this number", body = ErrorBody),
        (status = 422, description = "Not a phone number", body = ErrorBody),
    ),
)]
pub async fn correct_phone(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(lead_id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<LeadView>, ApiError> {
    let bytes = body::read(body).await?;
    let request: PhoneRequest = body::json(&headers, &bytes)?;
    let lead = app
        .correct_phone(&tenant, &lead_id, &request.phone, request.by.as_deref())
        .await?;
    Ok(Json(LeadView::new(&tenant, &lead)))
}

/// Send a failed message again: a new attempt, linked to the failed one,
/// to the lead's current address.
#[utoipa::path(
    post,
    path = "/v1/leads/{lead_id}/messages/{message_id}/resend",
    tag = "staff",
    params(("lead_id" = String, Path), ("message_id" = String, Path)),
    security(("staff_token" = [])),
    responses(
        (status = 202, description = "The new attempt, queued", body = MessageView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such message in this clinic", body = ErrorBody),
        (status = 409, description = "Not failed, already handled, or no channel can carry it now", body = ErrorBody),
    ),
)]
pub async fn resend(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathPair(lead_id, message_id): PathPair,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let next = app.resend_message(&tenant, &lead_id, &message_id).await?;
    Ok((StatusCode::ACCEPTED, Json(MessageView::from(&next))))
}

/// Mark a failed message as handled another way (a call, an e-mail).
#[utoipa::path(
    post,
    path = "/v1/leads/{lead_id}/messages/{message_id}/handled",
    tag = "staff",
    params(("lead_id" = String, Path), ("message_id" = String, Path)),
    request_body = HandledRequest,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The failed message, handled", body = MessageView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such message in this clinic", body = ErrorBody),
        (status = 409, description = "Not failed, or already handled", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    ),
)]
pub async fn mark_handled(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathPair(lead_id, message_id): PathPair,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<MessageView>, ApiError> {
    let bytes = body::read(body).await?;
    let request: HandledRequest = body::json(&headers, &bytes)?;
    let via = match request.via.as_str() {
        "call" => HandledVia::Call,
        "email" => HandledVia::Email,
        "other" => HandledVia::Other,
        _ => {
            return Err(ApiError::invalid(vec![FieldError::new(
                "via",
                "must be `call`, `email` or `other`",
            )]));
        }
    };
    let message = app
        .mark_handled(&tenant, &lead_id, &message_id, via, request.note)
        .await?;
    Ok(Json(MessageView::from(&message)))
}
