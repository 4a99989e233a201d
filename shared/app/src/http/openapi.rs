//! The OpenAPI 3 document, generated from the handlers and types.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::appointments::{
    AppointmentDetailView, AppointmentView, BookRequest, CancelRequest, ChangeView, IdentifierView,
    MoveRequest, PatientView, PlanStepView, RevisionView, StatusRequest, SurveyPage,
    SurveySummaryView, SurveyView,
};
use super::automations::{
    DealBody, DealRequest, DealStageRequest, FiringBody, PipelineBody, PresetBody, PreviewBody,
    RuleBody, RuleRequest, SavedBody, TriggerAccepted, TriggerRequest,
};
use super::blasts::{
    BlastBody, PreviewRequest, RecipientBody, RefusedBody, RefusedDetail, SendRequest, TestRequest,
    TestSent,
};
use super::dto::{
    Accepted, AttributionView, ContactRequest, HandledRequest, Health, HistoryView, LeadDetailView,
    LeadView, MessageView, OwnerView, PhoneRequest, ReplyRequest, StageChangeView, StageRequest,
    SubmissionFields, TaskView, TimerView, TouchView,
};
use super::error::{ErrorBody, ErrorDetail, FieldProblem};
use super::{appointments, automations, blasts, fhir, forms, outreach, staff};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Clinicflow",
        description = "Lead intake, assignment, SLA escalation, appointments and their journeys, blasts, the clinic's own automation rules and pipelines, and the message ledger for clinic chains.",
    ),
    paths(
        forms::submit,
        forms::preflight,
        staff::list_leads,
        staff::get_lead,
        staff::record_contact,
        staff::move_stage,
        staff::list_messages,
        outreach::send_reply,
        outreach::correct_phone,
        outreach::resend,
        outreach::mark_handled,
        staff::list_tasks,
        staff::complete_task,
        appointments::list,
        appointments::book,
        appointments::detail,
        appointments::move_to,
        appointments::cancel,
        appointments::status,
        appointments::surveys,
        fhir::put_appointment,
        blasts::preview,
        blasts::list,
        blasts::detail,
        blasts::send,
        blasts::test,
        blasts::pause,
        blasts::resume,
        blasts::cancel,
        blasts::recipients,
        automations::list,
        automations::create,
        automations::detail,
        automations::version,
        automations::update,
        automations::delete,
        automations::activate,
        automations::deactivate,
        automations::preview,
        automations::run,
        automations::firings,
        automations::trigger,
        automations::preset,
        automations::pipelines,
        automations::put_pipeline,
        automations::delete_pipeline,
        automations::create_deal,
        automations::list_deals,
        automations::deal,
        automations::move_deal,
        automations::flag_deal,
        super::health,
    ),
    components(schemas(
        Accepted,
        AttributionView,
        ContactRequest,
        HandledRequest,
        PhoneRequest,
        ReplyRequest,
        ErrorBody,
        ErrorDetail,
        FieldProblem,
        Health,
        HistoryView,
        LeadDetailView,
        LeadView,
        MessageView,
        OwnerView,
        StageChangeView,
        StageRequest,
        SubmissionFields,
        TaskView,
        TimerView,
        TouchView,
        AppointmentView,
        AppointmentDetailView,
        BookRequest,
        CancelRequest,
        ChangeView,
        IdentifierView,
        MoveRequest,
        PatientView,
        PlanStepView,
        RevisionView,
        StatusRequest,
        SurveyPage,
        SurveySummaryView,
        SurveyView,
        PreviewRequest,
        SendRequest,
        TestRequest,
        TestSent,
        BlastBody,
        RefusedBody,
        RefusedDetail,
        RecipientBody,
        RuleRequest,
        RuleBody,
        SavedBody,
        PreviewBody,
        FiringBody,
        PipelineBody,
        PresetBody,
        TriggerRequest,
        TriggerAccepted,
        DealRequest,
        DealStageRequest,
        DealBody,
    )),
    modifiers(&StaffToken),
    tags(
        (name = "forms", description = "Public: web forms post leads here"),
        (name = "staff", description = "Clinic staff; a bearer token per clinic chain"),
        (name = "appointments", description = "Appointments and their journeys; the staff token"),
        (name = "blasts", description = "Blasts to a filtered set of patients: previewed, paced, sent once; the staff token"),
        (name = "automations", description = "The clinic's own rules, pipelines and deals: saved as versions, previewed, explained, fired once; the staff token"),
        (name = "fhir", description = "A clinic's scheduler feeding appointments (FHIR R4); the staff token"),
        (name = "operations", description = "For operators"),
    ),
)]
struct ApiDoc;

struct StaffToken;

impl Modify for StaffToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "staff_token",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The document, as served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
