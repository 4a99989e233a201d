//! The API's request and response shapes: the contract, kept apart from
//! how entities are stored, and documented in the OpenAPI document.

use clinicflow_core::lead::{Attribution, Lead, Recorded, Touch};
use clinicflow_core::message::{Audience, Message};
use clinicflow_core::task::Task;
use clinicflow_core::tenant::Tenant;
use clinicflow_core::timer::Timer;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::usecases::LeadDetail;

/// The fields of a form submission, posted as `application/x-www-form-urlencoded`
/// (a plain HTML form) or as a JSON object. A phone or an e-mail is required.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct SubmissionFields {
    name: Option<String>,
    /// As typed: national numbers are read with the branch's region.
    #[schema(example = "0532 123 45 67")]
    phone: Option<String>,
    email: Option<String>,
    service: Option<String>,
    message: Option<String>,
    /// A branch id, when the form lets the patient choose.
    branch: Option<String>,
    #[schema(example = "tr")]
    language: Option<String>,
    /// `on`, `true`, `1` or `yes`: agrees to promotional messages.
    consent_marketing: Option<String>,
    /// Acknowledges the privacy notice; required by some forms.
    consent_privacy: Option<String>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    utm_content: Option<String>,
    utm_term: Option<String>,
    utm_lang: Option<String>,
    landing_page: Option<String>,
    referrer: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The lead's id; the same id for a repeat submission of an open lead.
    pub id: String,
    #[schema(example = "accepted")]
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to read the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerView {
    pub consultant: String,
    pub name: String,
    /// The assignment rule that chose the consultant, such as `branch_language_on_shift`.
    pub rule: String,
    /// Why, in a sentence.
    pub reason: String,
    pub since: String,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct AttributionView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_term: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landing_page: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// A lead ad's campaign, ad group (ad set) and ad, by id and name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad: Option<AdView>,
}

/// Which lead ad a lead came from, as the network names it.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct AdView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adset_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adset_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad_name: Option<String>,
    /// Google's click id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub click_id: Option<String>,
}

impl From<&Attribution> for AttributionView {
    fn from(a: &Attribution) -> Self {
        AttributionView {
            utm_source: a.utm_source.clone(),
            utm_medium: a.utm_medium.clone(),
            utm_campaign: a.utm_campaign.clone(),
            utm_content: a.utm_content.clone(),
            utm_term: a.utm_term.clone(),
            utm_lang: a.utm_lang.clone(),
            landing_page: a.landing_page.clone(),
            referrer: a.referrer.clone(),
            ad: a.ad.as_ref().map(|ad| AdView {
                campaign_id: ad.campaign_id.clone(),
                campaign_name: ad.campaign_name.clone(),
                adset_id: ad.adset_id.clone(),
                adset_name: ad.adset_name.clone(),
                ad_id: ad.ad_id.clone(),
                ad_name: ad.ad_name.clone(),
                click_id: ad.click_id.clone(),
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadView {
    pub id: String,
    /// `new`, `contacted`, `info_given`, `appointment_booked`, `arrived`, `no_show`, `follow_up` or `lost`.
    pub stage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
    pub branch: String,
    pub language: String,
    /// Where the language came from, most trusted first: `chosen` (the
    /// patient's), `campaign`, `utm_lang`, `message` (detected in their
    /// first message), `phone_country`, `default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_source: Option<String>,
    /// Why that language, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_reason: Option<String>,
    /// When the patient was asked which language they prefer: until they
    /// answer (or the clinic's wait is over) the lead has no owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_asked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The Instagram-scoped id of the account the patient wrote from
    /// (replies go there, inside Instagram's 24-hour window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instagram: Option<String>,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub attribution: AttributionView,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_contact_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerView>,
    /// Consultants who owned the lead before, oldest first.
    pub past_owners: Vec<String>,
}

impl LeadView {
    pub fn new(tenant: &Tenant, lead: &Lead) -> Self {
        LeadView {
            id: lead.id.to_string(),
            stage: lead.stage.as_str().to_owned(),
            lost_reason: lead.lost_reason.clone(),
            branch: lead.branch.to_string(),
            language: lead.language.to_string(),
            language_source: lead
                .language_choice
                .as_ref()
                .map(|c| c.source.as_str().to_owned()),
            language_reason: lead.language_choice.as_ref().map(|c| c.reason.clone()),
            language_asked_at: lead.language_asked_at.map(|t| t.to_string()),
            name: lead.name.clone(),
            phone: lead.reach.phone.as_ref().map(ToString::to_string),
            email: lead.reach.email.as_ref().map(ToString::to_string),
            instagram: lead.reach.instagram.as_ref().map(ToString::to_string),
            source: lead.source.clone(),
            form: lead.form.as_ref().map(ToString::to_string),
            service: lead.service.clone(),
            attribution: (&lead.attribution).into(),
            created_at: lead.created_at.to_string(),
            first_contact_at: lead.first_contact_at.map(|t| t.to_string()),
            owner: lead.owner.as_ref().map(|o| OwnerView {
                consultant: o.consultant.to_string(),
                name: tenant
                    .consultant(&o.consultant)
                    .map_or_else(|| o.consultant.to_string(), |c| c.name.clone()),
                rule: o.rule.as_str().to_owned(),
                reason: o.reason.clone(),
                since: o.since.to_string(),
            }),
            past_owners: lead.past_owners.iter().map(ToString::to_string).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TouchView {
    pub id: String,
    pub at: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub attribution: AttributionView,
    pub consent_marketing: bool,
    pub consent_privacy: bool,
}

impl From<&Touch> for TouchView {
    fn from(t: &Touch) -> Self {
        TouchView {
            id: t.id.clone(),
            at: t.at.to_string(),
            source: t.source.clone(),
            form: t.form.as_ref().map(ToString::to_string),
            service: t.service.clone(),
            message: t.message.clone(),
            attribution: (&t.attribution).into(),
            consent_marketing: t.consents.marketing,
            consent_privacy: t.consents.privacy,
        }
    }
}

/// One entry of a lead's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    pub at: String,
    /// `created`, `touched`, `assigned`, `reassigned`, `stage_changed`,
    /// `contact_recorded`, `sla_breached` or `unassignable`.
    pub kind: String,
    /// The event's own fields.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<&Recorded> for HistoryView {
    fn from(r: &Recorded) -> Self {
        let mut details = serde_json::to_value(&r.event).unwrap_or_default();
        let kind = details
            .as_object_mut()
            .and_then(|o| o.remove("kind"))
            .and_then(|k| k.as_str().map(str::to_owned))
            .unwrap_or_default();
        HistoryView {
            at: r.at.to_string(),
            kind,
            details,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StageChangeView {
    pub at: String,
    pub from: String,
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    /// The lead the message is about…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    /// …or the appointment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment: Option<String>,
    /// `greeting` or `sla_alert`.
    pub kind: String,
    /// `patient`, or `manager:<id>` / `consultant:<id>`.
    pub audience: String,
    pub channel: String,
    pub to: String,
    pub purpose: String,
    pub language: String,
    pub body: String,
    /// `queued`, `sending`, `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// The approved WhatsApp template it was sent as (outside the 24-hour window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The failed attempt this one follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// For a failed message taken care of: `resent`, `fallback`, `call`, `email` or `other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled_via: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled_at: Option<String>,
    /// The attempt that followed (a resend or a fallback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled_note: Option<String>,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        MessageView {
            id: m.id.to_string(),
            lead: m.about.lead().map(ToString::to_string),
            appointment: m.about.appointment().map(ToString::to_string),
            kind: m.kind.as_str().to_owned(),
            audience: match &m.audience {
                Audience::Patient => "patient".to_owned(),
                Audience::Manager(id) => format!("manager:{id}"),
                Audience::Consultant(id) => format!("consultant:{id}"),
                Audience::Scheduler => "scheduler".to_owned(),
            },
            channel: m.channel.as_str().to_owned(),
            to: m.to.clone(),
            purpose: match m.purpose {
                clinicflow_core::message::Purpose::Operational => "operational".to_owned(),
                clinicflow_core::message::Purpose::Promotional => "promotional".to_owned(),
            },
            language: m.language.to_string(),
            body: m.body.clone(),
            status: m.status.as_str().to_owned(),
            attempts: m.attempts,
            created_at: m.created_at.to_string(),
            sent_at: m.sent_at.map(|t| t.to_string()),
            provider: m.provider.clone(),
            provider_id: m.provider_id.clone(),
            error_code: m.error.as_ref().map(|e| e.code.clone()),
            error_reason: m.error.as_ref().map(|e| e.reason.clone()),
            template: m.template.as_ref().map(|t| t.name.clone()),
            previous: m.previous.as_ref().map(ToString::to_string),
            handled_via: m.handled.as_ref().map(|h| h.via.as_str().to_owned()),
            handled_at: m.handled.as_ref().map(|h| h.at.to_string()),
            next: m
                .handled
                .as_ref()
                .and_then(|h| h.next.as_ref())
                .map(ToString::to_string),
            handled_note: m.handled.as_ref().and_then(|h| h.note.clone()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimerView {
    /// `assign`, `sla_warn`, `sla_reassign`, `deliver` or `step` (a journey's).
    pub kind: String,
    pub due_at: String,
    pub cycle: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For a journey's step: the rule it fires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl From<&Timer> for TimerView {
    fn from(t: &Timer) -> Self {
        TimerView {
            kind: t.kind.as_str().to_owned(),
            due_at: t.due_at.to_string(),
            cycle: t.cycle,
            message: t.message.as_ref().map(ToString::to_string),
            rule: t.rule.as_ref().map(ToString::to_string),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    pub id: String,
    /// The lead the task is about…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    /// …or the appointment…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment: Option<String>,
    /// …or the deal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal: Option<String>,
    /// `sla_breach`, `no_consultant`, `reschedule_request`, `low_score`, `automation`, `unmapped_lead_form` or `missed_call`.
    pub kind: String,
    /// A consultant's or a manager's id.
    pub assignee: String,
    pub title: String,
    pub created_at: String,
    /// When it should be done (`GET /v1/tasks?status=overdue` lists the open ones past it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
    /// The automation firing that opened it (`GET /v1/automations/{rule}/firings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firing: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_at: Option<String>,
}

impl From<&Task> for TaskView {
    fn from(t: &Task) -> Self {
        TaskView {
            id: t.id.to_string(),
            lead: t.about.lead().map(ToString::to_string),
            appointment: t.about.appointment().map(ToString::to_string),
            kind: serde_json::to_value(t.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            deal: match &t.about {
                clinicflow_core::ids::RecordRef::Deal(d) => Some(d.to_string()),
                _ => None,
            },
            assignee: t.assignee.to_string(),
            title: t.title.clone(),
            created_at: t.created_at.to_string(),
            due_at: t.due_at.map(|d| d.to_string()),
            firing: t.firing.clone(),
            done_at: t.done_at.map(|d| d.to_string()),
        }
    }
}

/// A lead with its touches, history, messages, pending timers and tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadDetailView {
    #[serde(flatten)]
    pub lead: LeadView,
    pub touches: Vec<TouchView>,
    pub stage_history: Vec<StageChangeView>,
    pub history: Vec<HistoryView>,
    pub messages: Vec<MessageView>,
    /// Pending timers: what will happen to the lead, and when.
    pub timers: Vec<TimerView>,
    pub tasks: Vec<TaskView>,
}

impl LeadDetailView {
    pub fn new(tenant: &Tenant, d: &LeadDetail) -> Self {
        use clinicflow_core::lead::LeadEvent;
        LeadDetailView {
            lead: LeadView::new(tenant, &d.lead),
            touches: d.touches.iter().map(Into::into).collect(),
            stage_history: d
                .history
                .iter()
                .filter_map(|r| match &r.event {
                    LeadEvent::StageChanged { from, to, reason } => Some(StageChangeView {
                        at: r.at.to_string(),
                        from: from.as_str().to_owned(),
                        to: to.as_str().to_owned(),
                        reason: reason.clone(),
                    }),
                    _ => None,
                })
                .collect(),
            history: d.history.iter().map(Into::into).collect(),
            messages: d.messages.iter().map(Into::into).collect(),
            timers: d.timers.iter().map(Into::into).collect(),
            tasks: d.tasks.iter().map(Into::into).collect(),
        }
    }
}

/// A contact with the patient. Recording one stops the first-contact SLA.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRequest {
    /// `call`, `message`, `visit` (the patient came to the clinic) or `note` (another kind of contact, described in the note).
    pub kind: String,
    /// The consultant who made the contact.
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageRequest {
    /// The stage to move to.
    pub stage: String,
    /// Why; required for `lost`.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// What the consultant writes to the patient.
    pub text: String,
    /// `operational` (about the patient's own request or appointment; the
    /// default) or `promotional` (never sent to a patient who opted out).
    #[serde(default)]
    pub purpose: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneRequest {
    /// The right number, international or national in the lead's branch.
    pub phone: String,
    /// The consultant who corrected it.
    #[serde(default)]
    pub by: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandledRequest {
    /// `call`, `email` or `other` (described in the note).
    pub via: String,
    #[serde(default)]
    pub note: Option<String>,
}
