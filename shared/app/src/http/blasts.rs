//! The staff API for blasts: preview (the audience counted and explained),
//! send (quoting the preview), test, schedule, pause, resume, cancel, and
//! the exact counts and every recipient's state.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use clinicflow_core::blast::{
    Blast, Buckets, Cost, Filter, Progress, Recipient, RecipientState, Sample,
};
use clinicflow_core::message::Purpose;
use clinicflow_core::submission::FieldError;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::PathParam;
use super::body;
use super::dto::Page;
use super::error::{ApiError, ErrorBody};
use super::staff::{Staff, limit, params, parsed};
use crate::App;
use crate::usecases::{BlastInput, BlastView, RecipientFilter, Refused};

/// What to preview: a blast template, its purpose said aloud, and the filter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// A blast template of the clinic's configuration (`[tenants.blasts.templates]`).
    pub template: String,
    /// `operational` or `promotional`: must be the template's.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub purpose: Option<Purpose>,
    /// With `date`: the patients of that day's appointments (`part`:
    /// `morning` or `afternoon` in the branch's time zone, `branch`,
    /// `practitioner`, `service`, `status`, `confirmation`). Without: the
    /// patients of the leads (`stage`, `source`, `campaign`). `language`,
    /// `last_visit_before` and `last_visit_after` narrow either.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub filter: Filter,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Send at this time instead of now (RFC 3339).
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub at: Option<Timestamp>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The phone number of one of the clinic's consultants or managers.
    pub to: String,
}

/// A blast: its preview (buckets, sample, cost), its state and, once sent,
/// its exact counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlastBody {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub template: String,
    pub purpose: String,
    /// `previewed`, `scheduled`, `sending`, `paused`, `cancelled`, `failed` or `done`.
    pub state: String,
    /// Why it paused or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[schema(value_type = Object)]
    pub filter: Filter,
    /// Every patient of the filter in one bucket: `send` and `deferred`
    /// by channel, `excluded` by reason; they sum to `audience`.
    #[schema(value_type = Object)]
    pub buckets: Buckets,
    /// Recipients: sent now or when their quiet hours end.
    pub planned: u32,
    #[schema(value_type = Object)]
    pub cost: Cost,
    #[schema(value_type = Vec<Object>)]
    pub sample: Vec<Sample>,
    /// planned = pending + in_flight + sent + failed + skipped + cancelled.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

impl BlastBody {
    fn new(view: BlastView) -> BlastBody {
        let b = view.blast;
        BlastBody::of(b, view.progress)
    }

    fn of(b: Blast, progress: Option<Progress>) -> BlastBody {
        BlastBody {
            id: b.id.to_string(),
            name: b.name,
            template: b.template,
            purpose: clinicflow_core::blast::purpose_str(b.purpose).to_owned(),
            state: b.state.as_str().to_owned(),
            reason: b.reason,
            filter: b.filter,
            buckets: b.buckets,
            planned: b.planned,
            cost: b.cost,
            sample: b.sample,
            progress,
            created_at: b.created_at.to_string(),
            send_at: b.send_at.map(|t| t.to_string()),
            started_at: b.started_at.map(|t| t.to_string()),
            finished_at: b.finished_at.map(|t| t.to_string()),
        }
    }
}

/// The send was refused: the audience changed since the preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedBody {
    pub error: RefusedDetail,
    /// The audience as it is now: a new preview to check and send instead.
    pub preview: BlastBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedDetail {
    /// `audience_changed`.
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientBody {
    /// `pending`, `in_flight`, `sent`, `delivered`, `read`, `failed`, `skipped` or `cancelled`.
    pub state: String,
    pub channel: String,
    /// The appointment or lead the patient was selected by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    pub language: String,
    /// Sent when the patient's quiet hours end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replied_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebooked_at: Option<String>,
}

impl RecipientBody {
    fn new(r: Recipient) -> RecipientBody {
        RecipientBody {
            state: r.state.as_str().to_owned(),
            channel: r.planned.route.channel.as_str().to_owned(),
            appointment: r.planned.about.appointment().map(ToString::to_string),
            lead: r.planned.about.lead().map(ToString::to_string),
            language: r.planned.language.to_string(),
            not_before: r.planned.not_before.map(|t| t.to_string()),
            message_id: r.message.map(|m| m.to_string()),
            code: r.code,
            reason: r.reason,
            replied_at: r.replied_at.map(|t| t.to_string()),
            rebooked_at: r.rebooked_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    pub message_id: String,
    pub channel: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecipientParams {
    /// Only recipients in this state.
    pub state: Option<String>,
    /// 1 to 200 recipients (whole pages of the audience are read).
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BlastListParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// Preview a blast: count the filter's patients, put each in one bucket
/// (sent per channel, deferred by quiet hours, or excluded with its
/// reason), render a sample and estimate the cost. Nothing is sent.
#[utoipa::path(
    post,
    path = "/v1/blasts",
    tag = "blasts",
    request_body = PreviewRequest,
    security(("staff_token" = [])),
    responses(
        (status = 201, description = "The preview; send it by its id", body = BlastBody),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "An unknown template, provider, service, branch or status, a purpose that is not the template's, or a language of the audience the template lacks; each named", body = ErrorBody),
    ),
)]
pub async fn preview(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body).await?;
    let r: PreviewRequest = body::json(&headers, &bytes)?;
    let view = app
        .preview_blast(
            &tenant,
            BlastInput {
                template: r.template,
                purpose: r.purpose,
                filter: r.filter,
                name: r.name,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(BlastBody::new(view))).into_response())
}

/// The clinic's blasts, newest first.
#[utoipa::path(
    get,
    path = "/v1/blasts",
    tag = "blasts",
    params(BlastListParams),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "A page of blasts (without counts)", body = Page<BlastBody>),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 422, description = "A bad limit or cursor", body = ErrorBody),
    ),
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<BlastBody>>, ApiError> {
    let p: BlastListParams = params(query)?;
    let mut errors = Vec::new();
    let n = limit(p.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let listing = app.list_blasts(&tenant, n, p.cursor.as_deref()).await?;
    Ok(Json(Page {
        items: listing
            .items
            .into_iter()
            .map(|b| BlastBody::of(b, None))
            .collect(),
        next: listing.next,
    }))
}

/// A blast with its exact counts.
#[utoipa::path(
    get,
    path = "/v1/blasts/{blast_id}",
    tag = "blasts",
    params(("blast_id" = String, Path)),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The blast", body = BlastBody),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such blast in this clinic", body = ErrorBody),
    ),
)]
pub async fn detail(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
) -> Result<Json<BlastBody>, ApiError> {
    Ok(Json(BlastBody::new(app.blast_detail(&tenant, &id).await?)))
}

/// Send a previewed blast, now or at `at`. The audience is counted again
/// and frozen; if it is not the preview's, nothing is sent and the answer
/// is 409 with the new preview. Sending it again answers its state.
#[utoipa::path(
    post,
    path = "/v1/blasts/{blast_id}/send",
    tag = "blasts",
    params(("blast_id" = String, Path)),
    request_body = SendRequest,
    security(("staff_token" = [])),
    responses(
        (status = 202, description = "Sending (or scheduled)", body = BlastBody),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such blast in this clinic", body = ErrorBody),
        (status = 409, description = "The audience changed since the preview; the new preview", body = RefusedBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A bad `at`", body = ErrorBody),
    ),
)]
pub async fn send(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body).await?;
    let r: SendRequest = if bytes.is_empty() {
        SendRequest::default()
    } else {
        body::json(&headers, &bytes)?
    };
    Ok(match app.send_blast(&tenant, &id, r.at).await? {
        Ok(view) => (StatusCode::ACCEPTED, Json(BlastBody::new(view))).into_response(),
        Err(Refused { problem, preview }) => (
            StatusCode::CONFLICT,
            Json(RefusedBody {
                error: RefusedDetail {
                    code: "audience_changed".into(),
                    message: problem,
                },
                preview: BlastBody::new(preview),
            }),
        )
            .into_response(),
    })
}

/// Send the blast's message, as its first recipient gets it, to a staff
/// member's own phone.
#[utoipa::path(
    post,
    path = "/v1/blasts/{blast_id}/test",
    tag = "blasts",
    params(("blast_id" = String, Path)),
    request_body = TestRequest,
    security(("staff_token" = [])),
    responses(
        (status = 202, description = "Queued to the staff member", body = TestSent),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such blast in this clinic", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Not a staff member's phone", body = ErrorBody),
    ),
)]
pub async fn test(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body).await?;
    let r: TestRequest = body::json(&headers, &bytes)?;
    let m = app.test_blast(&tenant, &id, &r.to).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestSent {
            message_id: m.id.to_string(),
            channel: m.channel.as_str().to_owned(),
        }),
    )
        .into_response())
}

/// Pause a scheduled or sending blast (it resumes where it stopped).
#[utoipa::path(
    post,
    path = "/v1/blasts/{blast_id}/pause",
    tag = "blasts",
    params(("blast_id" = String, Path)),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Paused", body = BlastBody),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such blast in this clinic", body = ErrorBody),
        (status = 409, description = "It is not sending", body = ErrorBody),
    ),
)]
pub async fn pause(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
) -> Result<Json<BlastBody>, ApiError> {
    Ok(Json(BlastBody::new(app.pause_blast(&tenant, &id).await?)))
}

/// Resume a paused blast: only recipients without an outcome are sent to.
#[utoipa::path(
    post,
    path = "/v1/blasts/{blast_id}/resume",
    tag = "blasts",
    params(("blast_id" = String, Path)),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Sending again", body = BlastBody),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such blast in this clinic", body = ErrorBody),
        (status = 409, description = "It is not paused", body = ErrorBody),
    ),
)]
pub async fn resume(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
) -> Result<Json<BlastBody>, ApiError> {
    Ok(Json(BlastBody::new(app.resume_blast(&tenant, &id).await?)))
}

/// Cancel a blast for good: who was not sent to yet never will be.
#[utoipa::path(
    post,
    path = "/v1/blasts/{blast_id}/cancel",
    tag = "blasts",
    params(("blast_id" = String, Path)),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Cancelled", body = BlastBody),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such blast in this clinic", body = ErrorBody),
        (status = 409, description = "It is over", body = ErrorBody),
    ),
)]
pub async fn cancel(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
) -> Result<Json<BlastBody>, ApiError> {
    Ok(Json(BlastBody::new(app.cancel_blast(&tenant, &id).await?)))
}

/// Every recipient of a blast and their state, by page of its audience.
#[utoipa::path(
    get,
    path = "/v1/blasts/{blast_id}/recipients",
    tag = "blasts",
    params(("blast_id" = String, Path), RecipientParams),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "A page of recipients", body = Page<RecipientBody>),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such blast in this clinic", body = ErrorBody),
        (status = 422, description = "A bad state, limit or cursor", body = ErrorBody),
    ),
)]
pub async fn recipients(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<RecipientBody>>, ApiError> {
    let p: RecipientParams = params(query)?;
    let mut errors: Vec<FieldError> = Vec::new();
    let state = parsed(
        "state",
        p.state.as_deref(),
        |s| serde_json::from_value::<RecipientState>(serde_json::Value::String(s.to_owned())).ok(),
        "is one of pending, in_flight, sent, delivered, read, failed, skipped, cancelled",
        &mut errors,
    );
    let n = limit(p.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let listing = app
        .blast_recipients(
            &tenant,
            &id,
            &RecipientFilter { state },
            n,
            p.cursor.as_deref(),
        )
        .await?;
    Ok(Json(Page {
        items: listing.items.into_iter().map(RecipientBody::new).collect(),
        next: listing.next,
    }))
}
