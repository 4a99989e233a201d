//! The OpenAPI 3 document, generated from the handlers and types.

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
    Accepted, AdView, AttributionView, ContactRequest, HandledRequest, Health, HistoryView,
    LeadDetailView, LeadView, MessageView, OwnerView, PhoneRequest, ReplyRequest, StageChangeView,
    StageRequest, SubmissionFields, TaskView, TimerView, TouchView,
};
use super::error::{ErrorBody, ErrorDetail, FieldProblem};
use super::lead_ads::LeadAdTestView;
use super::{appointments, automations, blasts, fhir, forms, lead_ads, outreach, staff};

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
        lead_ads::tests,
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
        super::webhooks::whatsapp_verify,
        super::webhooks::whatsapp,
        super::webhooks::twilio,
        super::webhooks::calcom,
        super::webhooks::google,
        super::webhooks::meta_verify,
        super::webhooks::meta,
        super::webhooks::instagram_verify,
        super::webhooks::instagram,
        super::webhooks::calls,
        super::links::show,
        super::links::answer,
        super::health,
    ),
    components(schemas(
        Accepted,
        AttributionView,
        AdView,
        LeadAdTestView,
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
        super::webhooks::Received,
        super::links::AnswerForm,
        super::links::AnswerChoice,
        super::fhir::OperationOutcome,
        super::fhir::OutcomeIssue,
    )),
    modifiers(&StaffToken, &CommonAnswers),
    tags(
        (name = "forms", description = "Public: web forms post leads here"),
        (name = "staff", description = "Clinic staff; a bearer token per clinic chain"),
        (name = "appointments", description = "Appointments and their journeys; the staff token"),
        (name = "blasts", description = "Blasts to a filtered set of patients: previewed, paced, sent once; the staff token"),
        (name = "automations", description = "The clinic's own rules, pipelines and deals: saved as versions, previewed, explained, fired once; the staff token"),
        (name = "fhir", description = "A clinic's scheduler feeding appointments (FHIR R4); the staff token"),
        (name = "webhooks", description = "Providers calling in (WhatsApp, Twilio, Cal.com): each verified by the provider's signature, queued durably, answered fast"),
        (name = "links", description = "The pages a patient's one-tap link opens (HTML)"),
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

/// The answers every operation of a kind can give, added where an
/// operation's own list leaves them out: a body that cannot be read, is
/// too large or of another type; a missing staff token; a path naming
/// nothing; the store busy or unavailable (503 with `Retry-After`).
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
            ]
            .into_iter()
            .flatten()
            {
                let tags = operation.tags.clone().unwrap_or_default();
                // The FHIR route answers FHIR's OperationOutcome, and
                // documents each of its answers itself.
                if tags.iter().any(|t| t == "fhir") {
                    continue;
                }
                let html = tags.iter().any(|t| t == "links");
                let webhook = tags.iter().any(|t| t == "webhooks");
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_answer(description).into());
                };
                if operation.request_body.is_some() {
                    add(
                        "400",
                        "The body could not be read, or is not valid JSON or form data",
                    );
                    add("413", "The body is larger than 64 KiB");
                    if !webhook && !html {
                        add(
                            "415",
                            "The body is neither application/json nor (where a form is taken) application/x-www-form-urlencoded",
                        );
                    }
                }
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add("401", "No valid staff token");
                }
                if has_path_params {
                    add("404", "Nothing of that id in this clinic");
                }
                add(
                    "503",
                    "Busy or briefly unavailable: try again after `Retry-After` seconds",
                );
            }
        }
    }
}

fn error_answer(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// The document generated from the code: what `openapi.json` holds.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The document as served at `/openapi.json`: generated from the code by
/// the test below and kept in the repository, so the functions do not carry
/// the code that builds it (≈ 0.6 MiB of the `api` binary).
pub const SERVED: &str = include_str!("../../openapi.json");

pub async fn serve() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        SERVED,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `CLINICFLOW_WRITE_OPENAPI=1 cargo test -p clinicflow-app openapi`
    /// writes the file again after the routes or their types changed.
    #[test]
    fn the_served_document_is_the_codes() {
        let generated = document().to_pretty_json().unwrap() + "\n";
        if std::env::var_os("CLINICFLOW_WRITE_OPENAPI").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
            std::fs::write(path, &generated).unwrap();
            return;
        }
        assert!(
            generated == SERVED,
            "shared/app/openapi.json is not the document the code generates: \
             run `CLINICFLOW_WRITE_OPENAPI=1 cargo test -p clinicflow-app openapi` and commit it"
        );
    }
}
