//! What the journeys say: messages about an appointment to the patient or
//! to staff, from the tenant's templates, and the calls that tell the
//! clinic's own scheduler of a patient's answer.

use std::collections::BTreeMap;

use clinicflow_core::appointment::{Appointment, AppointmentEvent, AppointmentStatus};
use clinicflow_core::ids::{MessageId, RecordRef, RuleId};
use clinicflow_core::journey::{Buttons, Recipient};
use clinicflow_core::locale;
use clinicflow_core::message::{Audience, Channel, Message, Purpose};
use clinicflow_core::messaging::{Route, Windows};
use clinicflow_core::template::TemplateKind;
use clinicflow_core::tenant::{Consultant, Tenant};
use jiff::Timestamp;
use serde::Serialize;

use super::super::compose::{Draft, compose};
use super::{branch_of, patient_zone};
use crate::error::AppError;

/// What a message about an appointment is made of, besides the appointment.
pub(super) struct About<'a> {
    pub id: MessageId,
    pub kind: TemplateKind,
    pub to: Recipient,
    pub buttons: Buttons,
    /// The patient's last WhatsApp message (their window).
    pub windows: Windows,
    /// The signed link to answer on, when the message asks.
    pub link: Option<String>,
    /// The consultant who owns the patient's lead, if any.
    pub owner: Option<&'a Consultant>,
    /// For staff notices: what happened (`cancelled`, `reschedule`, `reply`).
    pub what: &'static str,
    /// The rule and occurrence that send it.
    pub fired: Option<(RuleId, String)>,
    pub expires_at: Option<Timestamp>,
}

impl<'a> About<'a> {
    /// A message that answers what someone did: it asks nothing, belongs
    /// to no step and does not expire.
    pub fn reply(id: MessageId, kind: TemplateKind, to: Recipient) -> Self {
        About {
            id,
            kind,
            to,
            buttons: Buttons::None,
            windows: Windows::default(),
            link: None,
            owner: None,
            what: "reply",
            fired: None,
            expires_at: None,
        }
    }
}

/// The variables of every message to the patient about `a`.
pub(crate) fn patient_vars(
    tenant: &Tenant,
    a: &Appointment,
    link: Option<&str>,
) -> BTreeMap<&'static str, String> {
    let b = &a.booking;
    let branch = branch_of(tenant, b);
    let zone = patient_zone(tenant, b);
    let language = &b.patient.language;
    let service = tenant.service(&b.service);
    let (min, max) = tenant.appointments.survey.range();
    BTreeMap::from([
        ("first_name", b.patient.first_name().to_owned()),
        ("name", b.patient.name.clone().unwrap_or_default()),
        ("clinic", tenant.name.clone()),
        ("branch", branch.name.clone()),
        ("address", branch.address.clone().unwrap_or_default()),
        ("branch_phone", branch.phone.clone().unwrap_or_default()),
        ("map_link", branch.map_link.clone().unwrap_or_default()),
        (
            "practitioner",
            tenant
                .practitioner(b.practitioner.as_str())
                .map_or_else(|| b.practitioner.to_string(), |p| p.name.clone()),
        ),
        (
            "service",
            service.map_or_else(|| b.service.to_string(), |s| s.name_in(language).to_owned()),
        ),
        ("date", locale::date(b.start, &zone, language)),
        ("time", locale::time(b.start, &zone)),
        (
            "booking_link",
            tenant.appointments.booking_link.clone().unwrap_or_default(),
        ),
        ("link", link.unwrap_or_default().to_owned()),
        (
            "aftercare",
            service
                .map(|s| {
                    s.aftercare_in(language, &tenant.default_language)
                        .to_owned()
                })
                .unwrap_or_default(),
        ),
        ("scale_min", min.to_string()),
        ("scale_max", max.to_string()),
        (
            "cancelled",
            if b.status == AppointmentStatus::Cancelled {
                "yes".into()
            } else {
                String::new()
            },
        ),
    ])
}

/// A message about `a` from the template of `about.kind`, to the patient
/// or to staff; `None` when no channel reaches the recipient now.
pub(super) fn message(
    tenant: &Tenant,
    a: &Appointment,
    about: About<'_>,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let b = &a.booking;
    let branch = branch_of(tenant, b);
    let record = RecordRef::Appointment(a.id.clone());
    let draft = |audience, reach, language, vars| Draft {
        id: about.id.clone(),
        about: record.clone(),
        branch: Some(branch),
        kind: about.kind,
        audience,
        reach,
        language,
        purpose: Purpose::Operational,
        windows: Windows::default(),
        vars,
        answers: None,
        expires_at: about.expires_at,
        fired: about.fired.clone(),
    };
    match about.to {
        Recipient::Patient => {
            let mut d = draft(
                Audience::Patient,
                &b.patient.reach,
                &b.patient.language,
                patient_vars(tenant, a, about.link.as_deref()),
            );
            d.windows = about.windows;
            if about.buttons != Buttons::None {
                d.answers = Some((a.id.clone(), a.version, about.buttons));
            }
            compose(tenant, d, now)
        }
        Recipient::Owner | Recipient::BranchManager => {
            let zone = &branch.time_zone;
            let patient = b.patient.first_name();
            let mut vars = BTreeMap::from([
                (
                    "patient",
                    if patient.is_empty() { "-" } else { patient }.to_owned(),
                ),
                ("what", about.what.to_owned()),
                (
                    "date",
                    locale::date(b.start, zone, &tenant.default_language),
                ),
                ("time", locale::time(b.start, zone)),
                ("branch", branch.name.clone()),
                ("appointment_id", a.id.to_string()),
            ]);
            let owner = about.owner.filter(|_| about.to == Recipient::Owner);
            let (audience, reach, name) = match (owner, tenant.manager(&branch.manager)) {
                (Some(c), _) => (Audience::Consultant(c.id.clone()), &c.reach, c.first_name()),
                (None, Some(m)) => (
                    Audience::Manager(m.id.clone()),
                    &m.reach,
                    m.name.split_whitespace().next().unwrap_or_default(),
                ),
                (None, None) => return Ok(None),
            };
            vars.insert("recipient", name.to_owned());
            compose(
                tenant,
                draft(audience, reach, &tenant.default_language, vars),
                now,
            )
        }
    }
}

/// What the clinic's scheduler is told of a patient's answer.
#[derive(Serialize)]
struct Callback<'a> {
    /// The domain event's name (`appointment.confirmed`, …).
    event: &'a str,
    tenant: &'a str,
    appointment: &'a str,
    /// The scheduler's own identifiers of it.
    identifiers: &'a [clinicflow_core::appointment::Identifier],
    version: u64,
    status: &'a str,
    /// The patient's participant status (FHIR).
    participant_status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<u8>,
    /// Where the answer came from: `whatsapp`, `sms`, `link`.
    via: &'a str,
    at: Timestamp,
}

/// The signed call that tells the clinic's scheduler of `event` (when it
/// configured a callback URL): a message on the `webhook` channel, sent,
/// retried and shown in the ledger like any other.
pub(super) fn callback(
    tenant: &Tenant,
    a: &Appointment,
    event: AppointmentEvent,
    occurrence: &str,
    score: Option<u8>,
    via: &str,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let (Some(target), Some(name)) = (&tenant.appointments.callback, event.published_as()) else {
        return Ok(None);
    };
    let body = serde_json::to_string(&Callback {
        event: name,
        tenant: tenant.id.as_str(),
        appointment: a.id.as_str(),
        identifiers: &a.identifiers,
        version: a.version,
        status: a.booking.status.as_str(),
        participant_status: a.booking.confirmation.as_str(),
        score,
        via,
        at: now,
    })
    .map_err(|e| AppError::Internal(format!("cannot encode a callback: {e}")))?;
    let id = MessageId::new(format!(
        "scheduler_callback.{}.{}.{occurrence}",
        a.id,
        event.as_str()
    ))
    .map_err(AppError::Internal)?;
    Ok(Some(Message::queued(
        id,
        tenant.id.clone(),
        RecordRef::Appointment(a.id.clone()),
        TemplateKind::SchedulerCallback,
        Audience::Scheduler,
        Route {
            channel: Channel::Webhook,
            to: target.url.clone(),
        },
        Purpose::Operational,
        tenant.default_language.clone(),
        body,
        now,
    )))
}
