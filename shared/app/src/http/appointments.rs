//! The staff API for appointments: a branch's day, one appointment with its
//! explained plan, booking from a lead, moving, cancelling, marking, and
//! the patients' survey scores. Every answer about one appointment carries
//! its version as the `ETag`; `If-Match` makes a change conditional on it.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinicflow_core::appointment::{Appointment, AppointmentStatus, Confirmation, Revision};
use clinicflow_core::ids::{BranchId, PractitionerId, ServiceId};
use clinicflow_core::submission::FieldError;
use clinicflow_core::tenant::Tenant;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::PathParam;
use super::body;
use super::dto::{MessageView, Page, TaskView, TimerView};
use super::error::{ApiError, ErrorBody};
use super::staff::{Staff, limit, params, parsed};
use crate::App;
use crate::records::SurveyAnswer;
use crate::usecases::{
    AppointmentDetail, AppointmentFilter, BookInput, DayPart, MoveInput, PlanStep, SurveyFilter,
    SurveySummary,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub language: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentifierView {
    pub system: String,
    pub value: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentView {
    pub id: String,
    /// Every change adds one; the `ETag`.
    pub version: u64,
    /// FHIR R4's appointment status.
    pub status: String,
    /// The patient's answer: `needs-action`, `accepted`, `declined` or `tentative`.
    pub confirmation: String,
    pub start: String,
    pub end: String,
    /// The start in the branch's local time (`2026-12-03T10:00:00+03:00[Europe/Istanbul]`).
    pub local_start: String,
    pub branch: String,
    pub practitioner: String,
    pub service: String,
    pub patient: PatientView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<IdentifierView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl AppointmentView {
    pub fn new(tenant: &Tenant, a: &Appointment) -> Self {
        let b = &a.booking;
        let tz = tenant.branch_or_default(&b.branch).time_zone.clone();
        AppointmentView {
            id: a.id.to_string(),
            version: a.version,
            status: b.status.as_str().to_owned(),
            confirmation: b.confirmation.as_str().to_owned(),
            start: b.start.to_string(),
            end: b.end.to_string(),
            local_start: b.start.to_zoned_datetime(tz).to_string(),
            branch: b.branch.to_string(),
            practitioner: b.practitioner.to_string(),
            service: b.service.to_string(),
            patient: PatientView {
                name: b.patient.name.clone(),
                phone: b
                    .patient
                    .reach
                    .phone
                    .as_ref()
                    .map(|p| p.as_str().to_owned()),
                email: b
                    .patient
                    .reach
                    .email
                    .as_ref()
                    .map(|e| e.as_str().to_owned()),
                language: b.patient.language.to_string(),
                time_zone: b.patient.time_zone.clone(),
            },
            lead: b.lead.as_ref().map(ToString::to_string),
            identifiers: a
                .identifiers
                .iter()
                .map(|i| IdentifierView {
                    system: i.system.clone(),
                    value: i.value.clone(),
                })
                .collect(),
            cancellation_reason: b.cancellation_reason.clone(),
            created_at: a.created_at.to_string(),
            updated_at: a.updated_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub version: u64,
    pub at: String,
    /// `staff`, `feed` or `patient`.
    pub by: String,
    /// Who on staff, which feed (`fhir`, `calcom`), or the patient's channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_detail: Option<String>,
    pub changes: Vec<ChangeView>,
}

impl From<&Revision> for RevisionView {
    fn from(r: &Revision) -> Self {
        RevisionView {
            version: r.version,
            at: r.at.to_string(),
            by: r.by.kind().to_owned(),
            by_detail: r.by.detail().map(str::to_owned),
            changes: r
                .changes
                .iter()
                .map(|c| ChangeView {
                    field: c.field.clone(),
                    from: c.from.clone(),
                    to: c.to.clone(),
                })
                .collect(),
        }
    }
}

/// One step of the journey, explained.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanStepView {
    /// The journey (`appointment_confirmation`, `no_show_recovery_2`, …).
    pub rule: String,
    pub occurrence: String,
    /// `planned`, `sent`, `skipped`, or `done` (the lead moved, a task opened).
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// When it was due before the patient's quiet hours moved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferred_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Why it is skipped: `already_confirmed`, `cancelled`, `opted_out`,
    /// `quiet_hours`, `booked_too_late`, `no_channel`, `daily_cap`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// False for a step of an earlier time of the appointment.
    pub current: bool,
}

impl From<&PlanStep> for PlanStepView {
    fn from(p: &PlanStep) -> Self {
        PlanStepView {
            rule: p.rule.to_string(),
            occurrence: p.occurrence.clone(),
            state: p.state.to_owned(),
            at: p.at.map(|t| t.to_string()),
            deferred_from: p.deferred_from.map(|t| t.to_string()),
            channel: p.channel.map(|c| c.as_str().to_owned()),
            reason: p.reason.map(|r| r.as_str().to_owned()),
            messages: p.messages.clone(),
            current: p.current,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyView {
    pub appointment: String,
    pub score: u8,
    /// `csat` (1–5) or `nps` (0–10).
    pub scale: String,
    pub branch: String,
    pub practitioner: String,
    pub service: String,
    pub via: String,
    pub answered_at: String,
}

impl From<&SurveyAnswer> for SurveyView {
    fn from(s: &SurveyAnswer) -> Self {
        SurveyView {
            appointment: s.appointment.to_string(),
            score: s.score,
            scale: s.scale.as_str().to_owned(),
            branch: s.branch.to_string(),
            practitioner: s.practitioner.to_string(),
            service: s.service.to_string(),
            via: s.via.clone(),
            answered_at: s.answered_at.to_string(),
        }
    }
}

/// An appointment with its history, journey, messages, timers and tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentDetailView {
    #[serde(flatten)]
    pub appointment: AppointmentView,
    pub history: Vec<RevisionView>,
    /// Every step of its journey: planned (when, on which channel), sent,
    /// or skipped with its reason.
    pub plan: Vec<PlanStepView>,
    pub messages: Vec<MessageView>,
    pub timers: Vec<TimerView>,
    pub tasks: Vec<TaskView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey: Option<SurveyView>,
}

impl AppointmentDetailView {
    fn new(tenant: &Tenant, d: &AppointmentDetail) -> Self {
        AppointmentDetailView {
            appointment: AppointmentView::new(tenant, &d.appointment),
            history: d.history.iter().map(Into::into).collect(),
            plan: d.plan.iter().map(Into::into).collect(),
            messages: d.messages.iter().map(Into::into).collect(),
            timers: d.timers.iter().map(Into::into).collect(),
            tasks: d.tasks.iter().map(Into::into).collect(),
            survey: d.survey.as_ref().map(Into::into),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SurveySummaryView {
    /// Scores on this page.
    pub count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average: Option<f64>,
    /// For NPS: % promoters − % detractors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nps: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyPage {
    pub items: Vec<SurveyView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub summary: SurveySummaryView,
}

impl From<SurveySummary> for SurveySummaryView {
    fn from(s: SurveySummary) -> Self {
        SurveySummaryView {
            count: s.count,
            average: s.average,
            nps: s.nps,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    /// The lead whose patient is booked; it moves to Appointment booked.
    pub lead: String,
    pub practitioner: String,
    pub service: String,
    /// With an offset: `2026-12-03T10:00:00+03:00`.
    pub start: String,
    #[serde(default)]
    pub end: Option<String>,
    /// The length when `end` is not given (default 30).
    #[serde(default)]
    pub minutes: Option<i64>,
    /// When not the practitioner's branch.
    #[serde(default)]
    pub branch: Option<String>,
    /// Who booked it.
    #[serde(default)]
    pub by: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    pub start: String,
    /// The new end; by default the same length as before.
    #[serde(default)]
    pub end: Option<String>,
    /// Another practitioner (and their branch).
    #[serde(default)]
    pub practitioner: Option<String>,
    #[serde(default)]
    pub by: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub by: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `arrived`, `checked-in`, `fulfilled` (completed), `noshow`, or `booked` (undo a no-show).
    pub status: String,
    #[serde(default)]
    pub by: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppointmentListParams {
    /// The branch's local date, `2026-12-03` (required).
    date: Option<String>,
    /// The branch (required when the clinic has several).
    branch: Option<String>,
    /// `morning` (before local noon) or `afternoon`.
    part: Option<String>,
    practitioner: Option<String>,
    service: Option<String>,
    /// A FHIR status: `booked`, `cancelled`, `noshow`, …
    status: Option<String>,
    /// `needs-action`, `accepted`, `declined` or `tentative`.
    confirmation: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SurveyListParams {
    branch: Option<String>,
    practitioner: Option<String>,
    service: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `If-Match: W/"3"` (or `"3"`, or `3`) → 3.
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(vec![FieldError::new(
                "If-Match",
                "must be a version this API gave as an ETag, such as W/\"3\"",
            )])
        })
}

/// The `ETag` of version `version`.
pub(super) fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("W/\"{version}\"")).unwrap_or(HeaderValue::from_static("*"))
}

fn answer(status: StatusCode, tenant: &Tenant, a: &Appointment) -> Response {
    let mut response = (status, Json(AppointmentView::new(tenant, a))).into_response();
    response.headers_mut().insert(header::ETAG, etag(a.version));
    response
}

/// A branch's appointments on one day, by start time.
#[utoipa::path(
    get,
    path = "/v1/appointments",
    tag = "appointments",
    params(AppointmentListParams),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "A page of appointments", body = Page<AppointmentView>),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 422, description = "A bad or missing filter, named", body = ErrorBody),
    ),
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<AppointmentView>>, ApiError> {
    let p: AppointmentListParams = params(query)?;
    let mut errors = Vec::new();
    let date = match p.date.as_deref() {
        None => {
            errors.push(FieldError::new(
                "date",
                "is required: the branch's local date, such as 2026-12-03",
            ));
            None
        }
        some => parsed(
            "date",
            some,
            |s| s.parse::<Date>().ok(),
            "is not a date such as 2026-12-03",
            &mut errors,
        ),
    };
    let part = parsed(
        "part",
        p.part.as_deref(),
        |s| match s {
            "morning" => Some(DayPart::Morning),
            "afternoon" => Some(DayPart::Afternoon),
            _ => None,
        },
        "must be `morning` or `afternoon`",
        &mut errors,
    );
    let branch = parsed(
        "branch",
        p.branch.as_deref(),
        |s| BranchId::new(s).ok(),
        "is not a branch id",
        &mut errors,
    );
    let practitioner = parsed(
        "practitioner",
        p.practitioner.as_deref(),
        |s| PractitionerId::new(s).ok(),
        "is not a practitioner id",
        &mut errors,
    );
    let service = parsed(
        "service",
        p.service.as_deref(),
        |s| ServiceId::new(s).ok(),
        "is not a service id",
        &mut errors,
    );
    let status = parsed(
        "status",
        p.status.as_deref(),
        AppointmentStatus::parse,
        "is not a FHIR appointment status",
        &mut errors,
    );
    let confirmation = parsed(
        "confirmation",
        p.confirmation.as_deref(),
        Confirmation::parse,
        "must be needs-action, accepted, declined or tentative",
        &mut errors,
    );
    let limit = limit(p.limit.as_deref(), &mut errors);
    let (Some(date), true) = (date, errors.is_empty()) else {
        return Err(ApiError::invalid(errors));
    };
    let filter = AppointmentFilter {
        date,
        branch,
        part,
        practitioner,
        service,
        status,
        confirmation,
    };
    let listing = app
        .list_appointments(&tenant, &filter, limit, p.cursor.as_deref())
        .await?;
    Ok(Json(Page {
        items: listing
            .items
            .iter()
            .map(|a| AppointmentView::new(&tenant, a))
            .collect(),
        next: listing.next,
    }))
}

/// One appointment: its history, the plan of its journey (every step
/// planned, sent, or skipped with its reason), messages, timers and tasks.
#[utoipa::path(
    get,
    path = "/v1/appointments/{appointment_id}",
    tag = "appointments",
    params(("appointment_id" = String, Path)),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The appointment; its version is the ETag", body = AppointmentDetailView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such appointment in this clinic", body = ErrorBody),
    ),
)]
pub async fn detail(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    let d = app.appointment_detail(&tenant, &id).await?;
    let mut response = Json(AppointmentDetailView::new(&tenant, &d)).into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(d.appointment.version));
    Ok(response)
}

/// Book an appointment for a lead's patient; the lead moves to Appointment booked.
#[utoipa::path(
    post,
    path = "/v1/appointments",
    tag = "appointments",
    request_body = BookRequest,
    security(("staff_token" = [])),
    responses(
        (status = 201, description = "Booked; its journey is planned", body = AppointmentView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    ),
)]
pub async fn book(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body).await?;
    let r: BookRequest = body::json(&headers, &bytes)?;
    let a = app
        .book_appointment(
            &tenant,
            BookInput {
                lead: r.lead,
                practitioner: r.practitioner,
                service: r.service,
                start: r.start,
                end: r.end,
                minutes: r.minutes,
                branch: r.branch,
                by: r.by,
            },
        )
        .await?;
    Ok(answer(StatusCode::CREATED, &tenant, &a))
}

/// Move an appointment to a new time (and practitioner): its reminders follow.
#[utoipa::path(
    post,
    path = "/v1/appointments/{appointment_id}/move",
    tag = "appointments",
    params(("appointment_id" = String, Path)),
    request_body = MoveRequest,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The appointment at its new time", body = AppointmentView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such appointment in this clinic", body = ErrorBody),
        (status = 409, description = "It is over or cancelled", body = ErrorBody),
        (status = 412, description = "If-Match names an older version", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    ),
)]
pub async fn move_to(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let version = if_match(&headers)?;
    let bytes = body::read(body).await?;
    let r: MoveRequest = body::json(&headers, &bytes)?;
    let input = MoveInput {
        start: r.start,
        end: r.end,
        practitioner: r.practitioner,
        by: r.by,
    };
    let a = app.move_appointment(&tenant, &id, input, version).await?;
    Ok(answer(StatusCode::OK, &tenant, &a))
}

/// Cancel an appointment: its steps die with it.
#[utoipa::path(
    post,
    path = "/v1/appointments/{appointment_id}/cancel",
    tag = "appointments",
    params(("appointment_id" = String, Path)),
    request_body = CancelRequest,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The appointment, cancelled", body = AppointmentView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such appointment in this clinic", body = ErrorBody),
        (status = 409, description = "It is over", body = ErrorBody),
        (status = 412, description = "If-Match names an older version", body = ErrorBody),
        (status = 422, description = "A bad field (the reason too long, say), named", body = ErrorBody),
    ),
)]
pub async fn cancel(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let version = if_match(&headers)?;
    let bytes = body::read(body).await?;
    let r: CancelRequest = if bytes.is_empty() {
        CancelRequest::default()
    } else {
        body::json(&headers, &bytes)?
    };
    let a = app
        .cancel_appointment(&tenant, &id, r.reason, r.by, version)
        .await?;
    Ok(answer(StatusCode::OK, &tenant, &a))
}

/// Mark the patient arrived or checked in, the visit completed
/// (`fulfilled`), or a no-show.
#[utoipa::path(
    post,
    path = "/v1/appointments/{appointment_id}/status",
    tag = "appointments",
    params(("appointment_id" = String, Path)),
    request_body = StatusRequest,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The appointment in its new status", body = AppointmentView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such appointment in this clinic", body = ErrorBody),
        (status = 409, description = "That move is not possible from its status", body = ErrorBody),
        (status = 412, description = "If-Match names an older version", body = ErrorBody),
        (status = 422, description = "Not a status staff may set", body = ErrorBody),
    ),
)]
pub async fn status(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let version = if_match(&headers)?;
    let bytes = body::read(body).await?;
    let r: StatusRequest = body::json(&headers, &bytes)?;
    let a = app
        .mark_appointment(&tenant, &id, &r.status, r.by, version)
        .await?;
    Ok(answer(StatusCode::OK, &tenant, &a))
}

/// Patients' scores of their visits, newest first, with a summary.
#[utoipa::path(
    get,
    path = "/v1/surveys",
    tag = "appointments",
    params(SurveyListParams),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "A page of scores", body = SurveyPage),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 422, description = "A bad filter, named", body = ErrorBody),
    ),
)]
pub async fn surveys(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    RawQuery(query): RawQuery,
) -> Result<Json<SurveyPage>, ApiError> {
    let p: SurveyListParams = params(query)?;
    let mut errors = Vec::new();
    let filter = SurveyFilter {
        branch: parsed(
            "branch",
            p.branch.as_deref(),
            |s| BranchId::new(s).ok(),
            "is not a branch id",
            &mut errors,
        ),
        practitioner: parsed(
            "practitioner",
            p.practitioner.as_deref(),
            |s| PractitionerId::new(s).ok(),
            "is not a practitioner id",
            &mut errors,
        ),
        service: parsed(
            "service",
            p.service.as_deref(),
            |s| ServiceId::new(s).ok(),
            "is not a service id",
            &mut errors,
        ),
    };
    let limit = limit(p.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let (listing, summary) = app
        .list_surveys(&tenant, &filter, limit, p.cursor.as_deref())
        .await?;
    Ok(Json(SurveyPage {
        items: listing.items.iter().map(Into::into).collect(),
        next: listing.next,
        summary: summary.into(),
    }))
}
