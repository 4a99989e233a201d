//! The staff API: bearer token per tenant; a token sees its own tenant's
//! data only, and anything else is 404, never 403.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use clinicflow_core::ids::{BranchId, ConsultantId};
use clinicflow_core::lead::{ContactKind, Stage};
use clinicflow_core::message::MessageStatus;
use clinicflow_core::submission::FieldError;
use clinicflow_core::tenant::Tenant;
use serde::Deserialize;
use utoipa::IntoParams;

use super::PathParam;
use super::body;
use super::dto::{
    ContactRequest, LeadDetailView, LeadView, MessageView, Page, StageRequest, TaskView,
};
use super::error::{ApiError, ErrorBody};
use crate::App;
use crate::usecases::{ContactInput, LeadFilter, MessageFilter, StageInput, TaskFilter};

const DEFAULT_LIMIT: usize = 50;

/// The tenant whose staff token came with the request.
pub struct Staff(pub Arc<Tenant>);

impl FromRequestParts<Arc<App>> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        staff_tenant(app, &parts.headers)
            .map(Staff)
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The tenant whose staff token `Authorization: Bearer …` carries.
pub(super) fn staff_tenant(app: &App, headers: &HeaderMap) -> Option<Arc<Tenant>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)?;
    app.directory.tenant_for_token(token).cloned()
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadListParams {
    /// Only leads in this stage.
    stage: Option<String>,
    /// Only leads owned by this consultant.
    owner: Option<String>,
    /// Only leads of this branch.
    branch: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<String>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageListParams {
    /// Only messages in this status (`queued`, `sending`, `sent`, `delivered`, `read`, `failed`).
    status: Option<String>,
    /// `false` for failures nobody took care of yet (the failed-messages
    /// panel: `status=failed&handled=false`); `true` for those handled.
    handled: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListParams {
    /// `open` for tasks not done yet, `overdue` for open tasks past their due time; all tasks otherwise.
    status: Option<String>,
    /// Only this person's tasks: a consultant's or a manager's id.
    assignee: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub(super) fn params<T: for<'de> Deserialize<'de> + Default>(
    query: Option<String>,
) -> Result<T, ApiError> {
    match query {
        None => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(&q).map_err(|e| {
            ApiError::invalid(vec![FieldError::new(
                "query",
                format!("cannot be read: {e}"),
            )])
        }),
    }
}

/// A query parameter read by `parse`, when given; `problem` is named
/// with the field when it cannot be read.
pub(super) fn parsed<T>(
    field: &str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
    problem: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let raw = raw?;
    let value = parse(raw.trim());
    if value.is_none() {
        errors.push(FieldError::new(field, problem));
    }
    value
}

pub(super) fn limit(raw: Option<&str>, errors: &mut Vec<FieldError>) -> usize {
    match raw {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => {
                errors.push(FieldError::new("limit", "must be a number from 1 to 200"));
                DEFAULT_LIMIT
            }
        },
    }
}

/// List leads, newest first.
#[utoipa::path(
    get,
    path = "/v1/leads",
    tag = "staff",
    params(LeadListParams),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "A page of leads", body = Page<LeadView>),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 422, description = "A bad filter, named", body = ErrorBody),
    ),
)]
pub async fn list_leads(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<LeadView>>, ApiError> {
    let p: LeadListParams = params(query)?;
    let mut errors = Vec::new();
    let filter = LeadFilter {
        stage: parsed(
            "stage",
            p.stage.as_deref(),
            Stage::parse,
            "is not a stage",
            &mut errors,
        ),
        owner: parsed(
            "owner",
            p.owner.as_deref(),
            |s| ConsultantId::new(s).ok(),
            "is not a consultant id",
            &mut errors,
        ),
        branch: parsed(
            "branch",
            p.branch.as_deref(),
            |s| BranchId::new(s).ok(),
            "is not a branch id",
            &mut errors,
        ),
    };
    let limit = limit(p.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let listing = app
        .list_leads(&tenant, &filter, limit, p.cursor.as_deref())
        .await?;
    Ok(Json(Page {
        items: listing
            .items
            .iter()
            .map(|l| LeadView::new(&tenant, l))
            .collect(),
        next: listing.next,
    }))
}

/// One lead: owner and why, stage history, touches, messages, pending timers and tasks.
#[utoipa::path(
    get,
    path = "/v1/leads/{lead_id}",
    tag = "staff",
    params(("lead_id" = String, Path)),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The lead", body = LeadDetailView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such lead in this clinic", body = ErrorBody),
    ),
)]
pub async fn get_lead(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(lead_id): PathParam,
) -> Result<Json<LeadDetailView>, ApiError> {
    let detail = app.lead_detail(&tenant, &lead_id).await?;
    Ok(Json(LeadDetailView::new(&tenant, &detail)))
}

/// Record a contact with the patient (a call, a message, or a note of
/// another contact). The first contact stops the SLA.
#[utoipa::path(
    post,
    path = "/v1/leads/{lead_id}/contacts",
    tag = "staff",
    params(("lead_id" = String, Path)),
    request_body = ContactRequest,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The lead after the contact", body = LeadView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such lead in this clinic", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    ),
)]
pub async fn record_contact(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(lead_id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<LeadView>, ApiError> {
    let bytes = body::read(body).await?;
    let request: ContactRequest = body::json(&headers, &bytes)?;
    let kind = match request.kind.as_str() {
        "call" => ContactKind::Call,
        "message" => ContactKind::Message,
        "note" => ContactKind::Note,
        "visit" => ContactKind::Visit,
        _ => {
            return Err(ApiError::invalid(vec![FieldError::new(
                "kind",
                "must be `call`, `message`, `visit` or `note`",
            )]));
        }
    };
    let input = ContactInput {
        kind,
        by: request.by,
        note: request.note,
    };
    let lead = app.record_contact(&tenant, &lead_id, input).await?;
    Ok(Json(LeadView::new(&tenant, &lead)))
}

/// Move a lead to another stage of the pipeline.
#[utoipa::path(
    post,
    path = "/v1/leads/{lead_id}/stage",
    tag = "staff",
    params(("lead_id" = String, Path)),
    request_body = StageRequest,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The lead in its new stage", body = LeadView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such lead in this clinic", body = ErrorBody),
        (status = 409, description = "The move is not allowed from the current stage", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody),
    ),
)]
pub async fn move_stage(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(lead_id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<LeadView>, ApiError> {
    let bytes = body::read(body).await?;
    let request: StageRequest = body::json(&headers, &bytes)?;
    let lead = app
        .move_stage(
            &tenant,
            &lead_id,
            StageInput {
                stage: request.stage,
                reason: request.reason,
            },
        )
        .await?;
    Ok(Json(LeadView::new(&tenant, &lead)))
}

/// The message ledger, newest first.
#[utoipa::path(
    get,
    path = "/v1/messages",
    tag = "staff",
    params(MessageListParams),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "A page of messages", body = Page<MessageView>),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 422, description = "A bad filter, named", body = ErrorBody),
    ),
)]
pub async fn list_messages(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let p: MessageListParams = params(query)?;
    let mut errors = Vec::new();
    let filter = MessageFilter {
        status: parsed(
            "status",
            p.status.as_deref(),
            MessageStatus::parse,
            "is not a message status",
            &mut errors,
        ),
        handled: parsed(
            "handled",
            p.handled.as_deref(),
            |s| s.parse::<bool>().ok(),
            "must be `true` or `false`",
            &mut errors,
        ),
    };
    let limit = limit(p.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let listing = app
        .list_messages(&tenant, &filter, limit, p.cursor.as_deref())
        .await?;
    Ok(Json(Page {
        items: listing.items.iter().map(Into::into).collect(),
        next: listing.next,
    }))
}

/// Tasks, newest first: everyone's, or one person's (`assignee`).
#[utoipa::path(
    get,
    path = "/v1/tasks",
    tag = "staff",
    params(TaskListParams),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "A page of tasks", body = Page<TaskView>),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 422, description = "A bad filter, named", body = ErrorBody),
    ),
)]
pub async fn list_tasks(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<TaskView>>, ApiError> {
    let p: TaskListParams = params(query)?;
    let mut errors = Vec::new();
    let (open_only, overdue_only) = match p.status.as_deref() {
        None | Some("all") => (false, false),
        Some("open") => (true, false),
        Some("overdue") => (true, true),
        Some(_) => {
            errors.push(FieldError::new(
                "status",
                "must be `open`, `overdue` or `all`",
            ));
            (false, false)
        }
    };
    if let Some(a) = &p.assignee
        && !tenant.consultants.iter().any(|c| c.id.as_str() == a)
        && !tenant.managers.iter().any(|m| m.id.as_str() == a)
    {
        errors.push(FieldError::new(
            "assignee",
            "is not a consultant or manager of this clinic",
        ));
    }
    let limit = limit(p.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let listing = app
        .list_tasks(
            &tenant,
            &TaskFilter {
                open_only,
                overdue_only,
                assignee: p.assignee.clone(),
            },
            limit,
            p.cursor.as_deref(),
        )
        .await?;
    Ok(Json(Page {
        items: listing.items.iter().map(Into::into).collect(),
        next: listing.next,
    }))
}

/// Mark a task done.
#[utoipa::path(
    post,
    path = "/v1/tasks/{task_id}/done",
    tag = "staff",
    params(("task_id" = String, Path)),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The task, done", body = TaskView),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 404, description = "No such task in this clinic", body = ErrorBody),
    ),
)]
pub async fn complete_task(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(task_id): PathParam,
) -> Result<Json<TaskView>, ApiError> {
    let task = app.complete_task(&tenant, &task_id).await?;
    Ok(Json((&task).into()))
}
