//! The staff API for the clinic's own automation rules, its pipelines and
//! the deals in them: rules saved as versions (`If-Match`), checked at
//! save (422 naming the path in the rule's JSON), previewed, activated,
//! run now, explained by their firings; pipelines and presets; deals.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinicflow_core::automation::{FiringState, Rule, RuleSpec};
use clinicflow_core::ids::{AppointmentId, DealId, LeadId, RecordRef};
use clinicflow_core::pipeline::Pipeline;
use clinicflow_core::submission::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::appointments::{etag, if_match};
use super::body;
use super::dto::Page;
use super::error::{ApiError, ErrorBody};
use super::staff::{Staff, limit, params};
use super::{PathPair, PathParam};
use crate::App;
use crate::usecases::{DealInput, DealView};

/// A rule: its name, subject, purpose, trigger, conditions, delay,
/// actions and backfill (see the README), and optionally its `id`. (The
/// body is read by [`rule_of`]; this type documents it.)
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RuleRequest {
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
}

/// A rule at its current version, with its last execution.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleBody {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub rule: Rule,
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::usecases::RuleHealth>,
}

/// What a save, an activation or a deletion did: the rule, its pending
/// firings re-planned or cancelled, what activation armed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedBody {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub saved: crate::usecases::RuleSaved,
}

/// Who a rule would hit now and in the next seven days, and who it skips and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewBody {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub preview: crate::usecases::Preview,
}

/// One firing: rule and version, trigger, each condition with the value
/// it saw, the delay arithmetic, and what each action did.
#[derive(Debug, Serialize, ToSchema)]
pub struct FiringBody {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub firing: clinicflow_core::automation::Firing,
}

/// A pipeline: ordered stages, some marked `won` or `lost`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PipelineBody {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub pipeline: Pipeline,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PresetBody {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub loaded: crate::usecases::automations::PresetLoaded,
}

/// The record an external trigger is about: exactly one of them.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    pub lead: Option<String>,
    pub deal: Option<String>,
    pub appointment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerAccepted {
    /// The event's id: the occurrence its rules fire for.
    pub event: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealRequest {
    pub pipeline: String,
    pub stage: String,
    /// The lead whose patient the deal is for.
    pub lead: String,
    /// `in_treatment`, `first_visit`.
    #[serde(default)]
    pub flags: BTreeMap<String, bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealStageRequest {
    pub stage: String,
    /// Another of the tenant's pipelines to move it into.
    #[serde(default)]
    pub pipeline: Option<String>,
}

/// A deal, and the firings that explain what rules did to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DealBody {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub deal: DealView,
    #[schema(value_type = Vec<Object>)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub firings: Vec<clinicflow_core::automation::Firing>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FiringListParams {
    /// `pending`, `fired`, `skipped`, `cancelled` or `failed`.
    state: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DealListParams {
    pipeline: Option<String>,
    stage: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Who asked, as the optional `X-Staff` header says: recorded on the firings armed.
fn actor(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-staff").and_then(|v| v.to_str().ok())
}

fn with_etag(status: StatusCode, version: u64, body: impl Serialize) -> Response {
    (status, [(header::ETAG, etag(version))], Json(body)).into_response()
}

/// The rule JSON of a request: its `id` apart, the rest checked field by field.
fn rule_of(mut value: serde_json::Value) -> Result<(Option<String>, RuleSpec), ApiError> {
    let id = match value.as_object_mut().and_then(|o| o.remove("id")) {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => {
            return Err(ApiError::invalid(vec![FieldError::new(
                "id",
                "must be a string",
            )]));
        }
    };
    Ok((id, body::from_value(value)?))
}

/// The tenant's automation rules.
#[utoipa::path(get, path = "/v1/automations", tag = "automations", security(("staff_token" = [])),
    responses((status = 200, description = "Every rule at its current version", body = Vec<RuleBody>),
        (status = 401, description = "No valid staff token", body = ErrorBody)))]
pub async fn list(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
) -> Result<Json<Vec<RuleBody>>, ApiError> {
    let rules = app.list_rules(&tenant).await?;
    Ok(Json(
        rules
            .into_iter()
            .map(|rule| RuleBody { rule, health: None })
            .collect(),
    ))
}

/// Save a new rule (inactive: preview it, then activate it).
#[utoipa::path(post, path = "/v1/automations", tag = "automations", request_body = RuleRequest,
    security(("staff_token" = [])),
    responses((status = 201, description = "The rule, version 1", body = RuleBody),
        (status = 401, description = "No valid staff token", body = ErrorBody),
        (status = 409, description = "A rule has this id", body = ErrorBody),
        (status = 422, description = "The problems, each at its path in the rule's JSON; nothing saved", body = ErrorBody)))]
pub async fn create(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body).await?;
    let (id, spec) = rule_of(body::json(&headers, &bytes)?)?;
    let rule = app.create_rule(&tenant, id.as_deref(), spec).await?;
    Ok(with_etag(
        StatusCode::CREATED,
        rule.version,
        RuleBody { rule, health: None },
    ))
}

/// A rule, with its last execution and next due firing.
#[utoipa::path(get, path = "/v1/automations/{rule_id}", tag = "automations",
    params(("rule_id" = String, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "The rule; its version is the ETag", body = RuleBody),
        (status = 404, description = "No such rule", body = ErrorBody)))]
pub async fn detail(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    let rule = app.get_rule(&tenant, &id).await?.value;
    let health = app.rule_health(&tenant, &id).await?;
    Ok(with_etag(
        StatusCode::OK,
        rule.version,
        RuleBody {
            rule,
            health: Some(health),
        },
    ))
}

/// One saved version of a rule.
#[utoipa::path(get, path = "/v1/automations/{rule_id}/versions/{version}", tag = "automations",
    params(("rule_id" = String, Path), ("version" = u64, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "The rule as saved then", body = RuleBody),
        (status = 404, description = "No such rule or version", body = ErrorBody)))]
pub async fn version(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathPair(id, version): PathPair,
) -> Result<Json<RuleBody>, ApiError> {
    let version: u64 = version
        .parse()
        .map_err(|_| ApiError::from(crate::AppError::NotFound("automation version")))?;
    let rule = app.rule_at_version(&tenant, &id, version).await?;
    Ok(Json(RuleBody { rule, health: None }))
}

/// Save a new version of a rule; its pending firings are re-planned when
/// its trigger or delay changed.
#[utoipa::path(put, path = "/v1/automations/{rule_id}", tag = "automations",
    params(("rule_id" = String, Path)), request_body = RuleRequest, security(("staff_token" = [])),
    responses((status = 200, description = "The new version, and what it did to pending firings", body = SavedBody),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 412, description = "If-Match names an older version", body = ErrorBody),
        (status = 422, description = "The problems, each at its path; nothing saved", body = ErrorBody)))]
pub async fn update(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let version = if_match(&headers)?;
    let bytes = body::read(body).await?;
    let (body_id, spec) = rule_of(body::json(&headers, &bytes)?)?;
    if body_id.is_some_and(|b| b != id) {
        return Err(ApiError::invalid(vec![FieldError::new(
            "id",
            "must be the id in the path",
        )]));
    }
    let saved = app.update_rule(&tenant, &id, version, spec).await?;
    Ok(with_etag(
        StatusCode::OK,
        saved.rule.version,
        SavedBody { saved },
    ))
}

/// Delete a rule: its pending firings are cancelled; its versions and
/// past firings stay.
#[utoipa::path(delete, path = "/v1/automations/{rule_id}", tag = "automations",
    params(("rule_id" = String, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "What happened to its pending firings", body = Object),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 412, description = "If-Match names an older version", body = ErrorBody)))]
pub async fn delete(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Json<clinicflow_core::automation::Replan>, ApiError> {
    let version = if_match(&headers)?;
    Ok(Json(app.delete_rule(&tenant, &id, version).await?))
}

async fn set_active(
    app: Arc<App>,
    tenant: Arc<clinicflow_core::tenant::Tenant>,
    id: String,
    headers: HeaderMap,
    active: bool,
    existing: bool,
) -> Result<Response, ApiError> {
    let version = if_match(&headers)?;
    let saved = app
        .set_rule_active(&tenant, &id, version, active, existing, actor(&headers))
        .await?;
    Ok(with_etag(
        StatusCode::OK,
        saved.rule.version,
        SavedBody { saved },
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivateParams {
    /// `arm` (the default): arm what the preview shows for the records
    /// already in the trigger's state; `skip`: only what happens from now on.
    existing: Option<String>,
}

/// Activate a rule: it arms what its preview shows (due now, and in the
/// next seven days) unless `existing=skip`, and every matching event from now on.
#[utoipa::path(post, path = "/v1/automations/{rule_id}/activate", tag = "automations",
    params(("rule_id" = String, Path), ActivateParams), security(("staff_token" = [])),
    responses((status = 200, description = "The active rule and what it armed", body = SavedBody),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 412, description = "If-Match names an older version", body = ErrorBody),
        (status = 422, description = "`existing` is neither `arm` nor `skip`", body = ErrorBody)))]
pub async fn activate(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let p: ActivateParams = params(query)?;
    let existing = match p.existing.as_deref() {
        None | Some("arm") => true,
        Some("skip") => false,
        Some(_) => {
            return Err(ApiError::invalid(vec![FieldError::new(
                "existing",
                "must be `arm` or `skip`",
            )]));
        }
    };
    set_active(app, tenant, id, headers, true, existing).await
}

/// Deactivate a rule: its pending firings are cancelled, and counted.
#[utoipa::path(post, path = "/v1/automations/{rule_id}/deactivate", tag = "automations",
    params(("rule_id" = String, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "The inactive rule and the firings it cancelled", body = SavedBody),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 412, description = "If-Match names an older version", body = ErrorBody)))]
pub async fn deactivate(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_active(app, tenant, id, headers, false, false).await
}

/// Who the rule would hit now and in the next seven days, and who it would skip and why.
#[utoipa::path(get, path = "/v1/automations/{rule_id}/preview", tag = "automations",
    params(("rule_id" = String, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "The preview", body = PreviewBody),
        (status = 404, description = "No such rule", body = ErrorBody)))]
pub async fn preview(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
) -> Result<Json<PreviewBody>, ApiError> {
    Ok(Json(PreviewBody {
        preview: app.preview_rule(&tenant, &id).await?,
    }))
}

/// "Run now": fires what the preview shows as due now and not fired yet;
/// a second click fires nothing.
#[utoipa::path(post, path = "/v1/automations/{rule_id}/run", tag = "automations",
    params(("rule_id" = String, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "What it armed: the preview it matched", body = PreviewBody),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 409, description = "The rule is inactive", body = ErrorBody)))]
pub async fn run(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Json<PreviewBody>, ApiError> {
    Ok(Json(PreviewBody {
        preview: app.run_rule(&tenant, &id, actor(&headers)).await?,
    }))
}

/// A rule's firings, latest due first: each with its explanation.
#[utoipa::path(get, path = "/v1/automations/{rule_id}/firings", tag = "automations",
    params(("rule_id" = String, Path), FiringListParams), security(("staff_token" = [])),
    responses((status = 200, description = "A page of firings", body = Page<FiringBody>),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 422, description = "A bad filter, named", body = ErrorBody)))]
pub async fn firings(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<FiringBody>>, ApiError> {
    let p: FiringListParams = params(query)?;
    let mut errors = Vec::new();
    let state = match p.state.as_deref() {
        None => None,
        Some(s) => match serde_json::from_value::<FiringState>(serde_json::Value::String(s.into()))
        {
            Ok(state) => Some(state),
            Err(_) => {
                errors.push(FieldError::new(
                    "state",
                    "must be `pending`, `fired`, `skipped`, `cancelled` or `failed`",
                ));
                None
            }
        },
    };
    let limit = limit(p.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let listing = app
        .list_firings(&tenant, &id, state, limit, p.cursor.as_deref())
        .await?;
    Ok(Json(Page {
        items: listing
            .items
            .into_iter()
            .map(|firing| FiringBody { firing })
            .collect(),
        next: listing.next,
    }))
}

/// A clinic's own system says `code` happened to a record: rules with
/// that external trigger fire for it.
#[utoipa::path(post, path = "/v1/automations/triggers/{code}", tag = "automations",
    params(("code" = String, Path)), request_body = TriggerRequest, security(("staff_token" = [])),
    responses((status = 202, description = "Queued for the rules", body = TriggerAccepted),
        (status = 404, description = "No such record", body = ErrorBody),
        (status = 422, description = "Name exactly one record", body = ErrorBody)))]
pub async fn trigger(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(code): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body).await?;
    let r: TriggerRequest = body::json(&headers, &bytes)?;
    let not_found = || ApiError::from(crate::AppError::NotFound("record"));
    let about = match (r.lead, r.deal, r.appointment) {
        (Some(l), None, None) => RecordRef::Lead(LeadId::new(l).map_err(|_| not_found())?),
        (None, Some(d), None) => RecordRef::Deal(DealId::new(d).map_err(|_| not_found())?),
        (None, None, Some(a)) => {
            RecordRef::Appointment(AppointmentId::new(a).map_err(|_| not_found())?)
        }
        _ => {
            return Err(ApiError::invalid(vec![FieldError::new(
                "body",
                "name exactly one of `lead`, `deal` or `appointment`",
            )]));
        }
    };
    let event = app.external_trigger(&tenant, &code, &about).await?;
    Ok((StatusCode::ACCEPTED, Json(TriggerAccepted { event })).into_response())
}

/// Load a preset: its pipelines and its rules (active, for what happens
/// from now on). `dental`: seed 004's four pipelines and their robots.
#[utoipa::path(post, path = "/v1/automations/presets/{name}", tag = "automations",
    params(("name" = String, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "What it loaded", body = PresetBody),
        (status = 404, description = "No such preset", body = ErrorBody),
        (status = 409, description = "It would remove a stage a rule uses", body = ErrorBody)))]
pub async fn preset(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(name): PathParam,
) -> Result<Json<PresetBody>, ApiError> {
    Ok(Json(PresetBody {
        loaded: app.load_preset(&tenant, &name).await?,
    }))
}

/// The tenant's pipelines: the leads' own first.
#[utoipa::path(get, path = "/v1/pipelines", tag = "automations", security(("staff_token" = [])),
    responses((status = 200, description = "The pipelines", body = Vec<PipelineBody>)))]
pub async fn pipelines(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
) -> Result<Json<Vec<PipelineBody>>, ApiError> {
    Ok(Json(
        app.list_pipelines(&tenant)
            .await?
            .into_iter()
            .map(|pipeline| PipelineBody { pipeline })
            .collect(),
    ))
}

/// Create or replace a pipeline (a stage a rule names cannot go).
#[utoipa::path(put, path = "/v1/pipelines/{pipeline_id}", tag = "automations",
    params(("pipeline_id" = String, Path)), request_body = PipelineBody, security(("staff_token" = [])),
    responses((status = 200, description = "The pipeline", body = PipelineBody),
        (status = 409, description = "A removed stage is used by a rule, named", body = ErrorBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody)))]
pub async fn put_pipeline(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PipelineBody>, ApiError> {
    let bytes = body::read(body).await?;
    let pipeline: Pipeline = body::json(&headers, &bytes)?;
    Ok(Json(PipelineBody {
        pipeline: app.put_pipeline(&tenant, &id, pipeline).await?,
    }))
}

/// Delete a pipeline no rule uses.
#[utoipa::path(delete, path = "/v1/pipelines/{pipeline_id}", tag = "automations",
    params(("pipeline_id" = String, Path)), security(("staff_token" = [])),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such pipeline", body = ErrorBody),
        (status = 409, description = "A rule uses it, named", body = ErrorBody)))]
pub async fn delete_pipeline(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
) -> Result<StatusCode, ApiError> {
    app.delete_pipeline(&tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open a deal for a lead's patient.
#[utoipa::path(post, path = "/v1/deals", tag = "automations", request_body = DealRequest,
    security(("staff_token" = [])),
    responses((status = 201, description = "The deal", body = DealBody),
        (status = 422, description = "Invalid fields, each named", body = ErrorBody)))]
pub async fn create_deal(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body).await?;
    let r: DealRequest = body::json(&headers, &bytes)?;
    let deal = app
        .create_deal(
            &tenant,
            DealInput {
                pipeline: r.pipeline,
                stage: r.stage,
                lead: r.lead,
                flags: r.flags,
            },
        )
        .await?;
    Ok(with_etag(
        StatusCode::CREATED,
        deal.version,
        DealBody {
            deal,
            firings: Vec::new(),
        },
    ))
}

/// A pipeline's deals, newest first.
#[utoipa::path(get, path = "/v1/deals", tag = "automations", params(DealListParams),
    security(("staff_token" = [])),
    responses((status = 200, description = "A page of deals", body = Page<DealBody>),
        (status = 422, description = "A bad filter, named", body = ErrorBody)))]
pub async fn list_deals(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<DealBody>>, ApiError> {
    let p: DealListParams = params(query)?;
    let mut errors = Vec::new();
    if p.pipeline.is_none() {
        errors.push(FieldError::new("pipeline", "is required"));
    }
    let limit = limit(p.limit.as_deref(), &mut errors);
    let (Some(pipeline), true) = (p.pipeline, errors.is_empty()) else {
        return Err(ApiError::invalid(errors));
    };
    let listing = app
        .list_deals(
            &tenant,
            &pipeline,
            p.stage.as_deref(),
            limit,
            p.cursor.as_deref(),
        )
        .await?;
    Ok(Json(Page {
        items: listing
            .items
            .into_iter()
            .map(|deal| DealBody {
                deal: DealView { deal, version: 0 },
                firings: Vec::new(),
            })
            .collect(),
        next: listing.next,
    }))
}

/// A deal, with the firings that explain what rules did to it.
#[utoipa::path(get, path = "/v1/deals/{deal_id}", tag = "automations",
    params(("deal_id" = String, Path)), security(("staff_token" = [])),
    responses((status = 200, description = "The deal", body = DealBody),
        (status = 404, description = "No such deal", body = ErrorBody)))]
pub async fn deal(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    let d = app.deal(&tenant, &id).await?;
    let firings = app
        .record_firings(&tenant, &RecordRef::Deal(d.value.id.clone()))
        .await?;
    Ok(with_etag(
        StatusCode::OK,
        d.version,
        DealBody {
            deal: DealView {
                deal: d.value,
                version: d.version,
            },
            firings,
        },
    ))
}

/// Move a deal to a stage (of its pipeline, or of another).
#[utoipa::path(post, path = "/v1/deals/{deal_id}/stage", tag = "automations",
    params(("deal_id" = String, Path)), request_body = DealStageRequest, security(("staff_token" = [])),
    responses((status = 200, description = "The deal in its new stage", body = DealBody),
        (status = 404, description = "No such deal", body = ErrorBody),
        (status = 409, description = "It is in that stage already", body = ErrorBody),
        (status = 422, description = "No such pipeline or stage", body = ErrorBody)))]
pub async fn move_deal(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body).await?;
    let r: DealStageRequest = body::json(&headers, &bytes)?;
    let deal = app
        .move_deal(&tenant, &id, r.pipeline.as_deref(), &r.stage)
        .await?;
    Ok(with_etag(
        StatusCode::OK,
        deal.version,
        DealBody {
            deal,
            firings: Vec::new(),
        },
    ))
}

/// Set a deal's flags.
#[utoipa::path(put, path = "/v1/deals/{deal_id}/flags", tag = "automations",
    params(("deal_id" = String, Path)), request_body = Object, security(("staff_token" = [])),
    responses((status = 200, description = "The deal", body = DealBody),
        (status = 404, description = "No such deal", body = ErrorBody),
        (status = 422, description = "An unknown flag, named", body = ErrorBody)))]
pub async fn flag_deal(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body).await?;
    let flags: BTreeMap<String, bool> = body::json(&headers, &bytes)?;
    let deal = app.flag_deal(&tenant, &id, flags).await?;
    Ok(with_etag(
        StatusCode::OK,
        deal.version,
        DealBody {
            deal,
            firings: Vec::new(),
        },
    ))
}
