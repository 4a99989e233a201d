//! A lead, deal or appointment as the engine sees it: its fields, its
//! patient's, and what a firing needs to act on it.

use clinicflow_core::appointment::{Appointment, AppointmentStatus, Confirmation};
use clinicflow_core::automation::{Subject, Value, View};
use clinicflow_core::contact::{ContactKey, Reach};
use clinicflow_core::ids::{BranchId, ConsultantId, Language, RecordRef};
use clinicflow_core::lead::Lead;
use clinicflow_core::pipeline::{Deal, stage_entry};
use clinicflow_core::tenant::Tenant;
use clinicflow_ports::{Index, Query, SortKey};
use jiff::Timestamp;

use crate::error::AppError;
use crate::records::{self, Patient, Versioned};
use crate::{App, keys};

/// The record a firing is about, read now.
pub(super) enum Record {
    Lead(Box<Versioned<Lead>>),
    Deal(Versioned<Deal>),
    Appointment(Versioned<Appointment>),
}

pub(super) struct Subjected {
    pub record: Record,
    pub view: View,
    pub branch: BranchId,
    pub owner: Option<ConsultantId>,
    pub contact: ContactKey,
    pub reach: Reach,
    pub language: Language,
    pub name: Option<String>,
    pub patient: Option<Versioned<Patient>>,
}

impl Subjected {
    pub fn subject(&self) -> Subject {
        match self.record {
            Record::Lead(_) => Subject::Lead,
            Record::Deal(_) => Subject::Deal,
            Record::Appointment(_) => Subject::Appointment,
        }
    }
}

fn text(view: &mut View, field: &str, value: Option<&str>) {
    if let Some(v) = value {
        view.insert(field.to_owned(), Value::Text(v.to_owned()));
    }
}

fn time(view: &mut View, field: &str, at: Timestamp) {
    view.insert(field.to_owned(), Value::Time(at));
}

fn flag(view: &mut View, field: &str, on: bool) {
    view.insert(field.to_owned(), Value::Bool(on));
}

impl App {
    /// The record `about` as the engine sees it, with its patient's
    /// facts, or `None` if it is gone.
    pub(super) async fn subject(
        &self,
        tenant: &Tenant,
        about: &RecordRef,
        now: Timestamp,
    ) -> Result<Option<Subjected>, AppError> {
        let Some(record) = self.record_view(tenant, about).await? else {
            return Ok(None);
        };
        self.with_patient(tenant, record, now).await.map(Some)
    }

    /// The record `about` alone: what arming needs (its trigger's state
    /// and time fields; conditions wait for the firing).
    pub(super) async fn record_view(
        &self,
        tenant: &Tenant,
        about: &RecordRef,
    ) -> Result<Option<Subjected>, AppError> {
        let store = self.store.as_ref();
        let mut view = View::new();
        let subjected = match about {
            RecordRef::Lead(id) => {
                let Some(lead) = records::get::<Lead>(store, &keys::lead(&tenant.id, id)).await?
                else {
                    return Ok(None);
                };
                let l = &lead.value;
                text(&mut view, "lead.stage", Some(l.stage.as_str()));
                text(&mut view, "lead.source", Some(&l.source));
                text(
                    &mut view,
                    "lead.campaign",
                    l.attribution.utm_campaign.as_deref(),
                );
                text(&mut view, "lead.branch", Some(l.branch.as_str()));
                text(&mut view, "lead.language", Some(l.language.as_str()));
                text(
                    &mut view,
                    "lead.owner",
                    l.owner.as_ref().map(|o| o.consultant.as_str()),
                );
                text(&mut view, "lead.service", l.service.as_deref());
                text(&mut view, "lead.form", l.form.as_ref().map(|f| f.as_str()));
                flag(&mut view, "lead.contacted", l.contacted());
                time(&mut view, "lead.created_at", l.created_at);
                time(&mut view, "lead.stage_entered_at", l.stage_entered_at());
                text(
                    &mut view,
                    "lead.stage_entry",
                    Some(&stage_entry(l.stage.as_str(), l.stage_entered_at())),
                );
                Subjected {
                    branch: l.branch.clone(),
                    owner: l.owner.as_ref().map(|o| o.consultant.clone()),
                    contact: l.contact_key.clone(),
                    reach: l.reach.clone(),
                    language: l.language.clone(),
                    name: l.name.clone(),
                    record: Record::Lead(Box::new(lead)),
                    view: View::new(),
                    patient: None,
                }
            }
            RecordRef::Deal(id) => {
                let Some(deal) = records::get::<Deal>(store, &keys::deal(&tenant.id, id)).await?
                else {
                    return Ok(None);
                };
                let d = &deal.value;
                text(&mut view, "deal.pipeline", Some(d.pipeline.as_str()));
                text(&mut view, "deal.stage", Some(d.stage.as_str()));
                text(&mut view, "deal.outcome", Some(d.outcome.as_str()));
                text(&mut view, "deal.branch", Some(d.branch.as_str()));
                text(
                    &mut view,
                    "deal.owner",
                    d.owner.as_ref().map(|o| o.as_str()),
                );
                text(&mut view, "deal.source", Some(&d.source));
                text(&mut view, "deal.language", Some(d.language.as_str()));
                flag(&mut view, "deal.in_treatment", d.flag("in_treatment"));
                flag(&mut view, "deal.first_visit", d.flag("first_visit"));
                flag(&mut view, "deal.has_parent", d.parent.is_some());
                time(&mut view, "deal.created_at", d.created_at);
                time(&mut view, "deal.stage_entered_at", d.stage_entered_at);
                text(&mut view, "deal.stage_entry", Some(&d.stage_entry()));
                Subjected {
                    branch: d.branch.clone(),
                    owner: d.owner.clone(),
                    contact: d.contact_key.clone(),
                    reach: d.reach.clone(),
                    language: d.language.clone(),
                    name: d.name.clone(),
                    record: Record::Deal(deal),
                    view: View::new(),
                    patient: None,
                }
            }
            RecordRef::Appointment(id) => {
                let Some(a) =
                    records::get::<Appointment>(store, &keys::appointment(&tenant.id, id)).await?
                else {
                    return Ok(None);
                };
                let b = &a.value.booking;
                let status = b.status.as_str();
                text(&mut view, "appointment.status", Some(status));
                flag(
                    &mut view,
                    "appointment.confirmed",
                    b.confirmation == Confirmation::Accepted,
                );
                text(
                    &mut view,
                    "appointment.practitioner",
                    Some(b.practitioner.as_str()),
                );
                text(&mut view, "appointment.service", Some(b.service.as_str()));
                text(&mut view, "appointment.branch", Some(b.branch.as_str()));
                text(
                    &mut view,
                    "appointment.source",
                    a.value.identifiers.first().map(|i| i.system.as_str()),
                );
                flag(&mut view, "appointment.has_lead", b.lead.is_some());
                time(&mut view, "appointment.starts_at", b.start);
                time(&mut view, "appointment.booked_at", a.value.slot_since);
                time(&mut view, "appointment.status_since", a.value.status_since);
                text(
                    &mut view,
                    "appointment.status_entry",
                    Some(&status_entry(&a.value)),
                );
                let owner = match &b.lead {
                    Some(lead) => records::get::<Lead>(store, &keys::lead(&tenant.id, lead))
                        .await?
                        .and_then(|l| l.value.owner.map(|o| o.consultant)),
                    None => None,
                };
                Subjected {
                    branch: b.branch.clone(),
                    owner,
                    contact: b.patient.contact_key.clone(),
                    reach: b.patient.reach.clone(),
                    language: b.patient.language.clone(),
                    name: b.patient.name.clone(),
                    record: Record::Appointment(a),
                    view: View::new(),
                    patient: None,
                }
            }
            RecordRef::Blast(_) | RecordRef::Rule(_) => return Ok(None),
        };
        Ok(Some(Subjected { view, ..subjected }))
    }

    /// The subject with its patient's facts: opted out, consent, a visit ahead.
    async fn with_patient(
        &self,
        tenant: &Tenant,
        subjected: Subjected,
        now: Timestamp,
    ) -> Result<Subjected, AppError> {
        let store = self.store.as_ref();
        let mut view = subjected.view.clone();
        let patient =
            records::get::<Patient>(store, &keys::patient(&tenant.id, &subjected.contact)).await?;
        flag(
            &mut view,
            "patient.opted_out",
            patient
                .as_ref()
                .is_some_and(|p| !p.value.opted_out.is_empty()),
        );
        flag(
            &mut view,
            "patient.marketing_consent",
            self.marketing_consent(tenant, &subjected.contact).await?,
        );
        let future = self
            .store
            .query(&Query {
                index: Index::Gsi2,
                pk: keys::patient_appointments_index_pk(&tenant.id, &subjected.contact),
                sk: SortKey::AtLeast(keys::millis(now)),
                descending: false,
                limit: 10,
                after: None,
            })
            .await?;
        let mut has_future = false;
        for item in &future.items {
            let a: Appointment = records::decode(item)?;
            has_future |= matches!(
                a.booking.status,
                AppointmentStatus::Proposed
                    | AppointmentStatus::Pending
                    | AppointmentStatus::Booked
                    | AppointmentStatus::Arrived
                    | AppointmentStatus::CheckedIn
            );
        }
        flag(&mut view, "patient.has_future_appointment", has_future);
        Ok(Subjected {
            view,
            patient,
            ..subjected
        })
    }
}

/// The occurrence of an appointment's current status: what a status rule fires for.
pub(crate) fn status_entry(a: &Appointment) -> String {
    format!(
        "st-{}-{}",
        a.booking.status.as_str(),
        a.status_since.as_millisecond()
    )
}
