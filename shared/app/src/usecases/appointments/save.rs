//! The one way an appointment changes. Whoever changes it — staff, a
//! scheduler's feed, the patient's answer — the change is one transaction
//! holding:
//!
//! - the new version, conditioned on the one read, and its history entry;
//! - its step timers re-planned: armed for the steps due at the new time,
//!   deleted for those that died (a cancelled appointment keeps none);
//! - the scheduler identifiers it claims;
//! - the patient record (created, or told of a new booking);
//! - the domain events (`appointment.booked`, …) for the bus;
//! - the rules that act at once, each firing once per occurrence: the
//!   lead's stage following the status (booked → Appointment booked,
//!   arrived / fulfilled → Arrived, no-show → No-show), replies to the
//!   patient, notices, tasks; and the call telling the clinic's scheduler
//!   of the patient's answer.

use std::collections::BTreeSet;

use clinicflow_core::appointment::{Actor, Appointment, AppointmentEvent, Identifier, Revised};
use clinicflow_core::automation;
use clinicflow_core::ids::RecordRef;
use clinicflow_core::journey::{self, Occasion, SkipReason, Step};
use clinicflow_core::lead::Lead;
use clinicflow_core::message::Channel;
use clinicflow_core::messaging::Windows;
use clinicflow_core::tenant::{Consultant, Tenant};
use clinicflow_core::timer::{Timer, TimerKind};
use clinicflow_ports::{Condition, Write};
use jiff::Timestamp;
use serde::Serialize;

use super::actions::Context;
use super::messages;
use super::{facts, local_day, owner_of, patient_zone};
use crate::error::AppError;
use crate::records::{self, Firing, Patient, Versioned};
use crate::usecases::automations::{automation_events, status_entry};
use crate::{App, keys};

/// One change of an appointment, before it is written.
pub(super) struct Change<'a> {
    pub tenant: &'a Tenant,
    /// The appointment as read (`None` for a new one).
    pub before: Option<&'a Appointment>,
    /// The appointment's new version, or `None` when the change is an
    /// event only (a reschedule request, a survey score).
    pub revised: Option<Revised>,
    /// Events besides the revision's.
    pub extra: Vec<AppointmentEvent>,
    pub by: Actor,
    pub score: Option<u8>,
    /// Scheduler identifiers to claim for it.
    pub claims: Vec<Identifier>,
    /// Whether the patient record follows the appointment's patient (a
    /// booking by staff or a feed); a patient's own answer leaves it be.
    pub patient_record: bool,
}

impl<'a> Change<'a> {
    /// A new version from staff or a scheduler: the patient record follows.
    pub fn revision(
        tenant: &'a Tenant,
        before: Option<&'a Appointment>,
        revised: Revised,
        by: Actor,
    ) -> Self {
        Change {
            tenant,
            before,
            revised: Some(revised),
            extra: Vec::new(),
            by,
            score: None,
            claims: Vec::new(),
            patient_record: true,
        }
    }

    /// The patient's own answer: a new version, events, or both.
    pub fn answer(
        tenant: &'a Tenant,
        before: &'a Appointment,
        revised: Option<Revised>,
        extra: Vec<AppointmentEvent>,
        by: Actor,
    ) -> Self {
        Change {
            tenant,
            before: Some(before),
            revised,
            extra,
            by,
            score: None,
            claims: Vec::new(),
            patient_record: false,
        }
    }
}

/// What the rules answering a change need besides the event.
struct Replies<'a> {
    tenant: &'a Tenant,
    appointment: &'a Appointment,
    lead: Option<&'a Versioned<Lead>>,
    by: &'a Actor,
    score: Option<u8>,
    owner: Option<&'a Consultant>,
    windows: Windows,
}

/// The occurrence an event is known by: the visit's one survey, or the
/// version the change made.
fn event_occurrence(event: AppointmentEvent, a: &Appointment) -> String {
    match event {
        AppointmentEvent::SurveyAnswered => "survey".to_owned(),
        _ => format!("v{}", a.version),
    }
}

/// A domain event about an appointment, as others read it: ids, times and
/// statuses, no patient data.
#[derive(Serialize)]
struct Published<'a> {
    tenant: &'a str,
    appointment: &'a str,
    version: u64,
    status: &'a str,
    participant_status: &'a str,
    start: Timestamp,
    branch: &'a str,
    practitioner: &'a str,
    service: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lead: Option<&'a str>,
    /// `staff`, `feed` or `patient`.
    by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<u8>,
    at: Timestamp,
}

impl App {
    /// The writes of `change`, and the appointment after it.
    pub(super) async fn change_writes(
        &self,
        change: Change<'_>,
        now: Timestamp,
    ) -> Result<(Appointment, Vec<Write>), AppError> {
        let tenant = change.tenant;
        let (mut after, revision, mut events) = match change.revised {
            Some(r) => (r.appointment, Some(r.revision), r.events),
            None => match change.before {
                Some(a) => (a.clone(), None, Vec::new()),
                None => return Err(AppError::Internal("an event about no appointment".into())),
            },
        };
        events.extend(change.extra);
        let patient = self.booking_patient(tenant, &after.booking).await?;
        let lead = self.booking_lead(tenant, &after.booking).await?;
        let zone = patient_zone(tenant, &after.booking);
        let known = facts(
            tenant,
            &after,
            &zone,
            patient.as_ref().map(|p| &p.value),
            now,
        );
        let mut writes = Vec::new();
        let rebooked = events
            .iter()
            .any(|e| matches!(e, AppointmentEvent::Booked | AppointmentEvent::Rescheduled));
        if rebooked && let Some(p) = &patient {
            writes.extend(self.booking_attribution(&tenant.id, &p.value, now).await?);
        }

        match &revision {
            Some(revision) => {
                writes.extend(self.replan(
                    tenant,
                    change.before,
                    &mut after,
                    &known,
                    patient.as_ref(),
                )?);
                writes.push(records::appointment(
                    &after,
                    local_day(tenant, &after.booking),
                )?);
                writes.push(records::revision(&after, revision)?);
                writes.push(automation_news(tenant, change.before, &after, now));
            }
            // An event only: it holds for the appointment as read.
            None => writes.push(records::check(
                keys::appointment(&tenant.id, &after.id),
                Condition::VersionIs(after.version),
            )),
        }
        for identifier in &change.claims {
            writes.push(records::source_link(&tenant.id, identifier, &after.id)?);
        }
        for event in &events {
            writes.extend(publication(
                tenant,
                &after,
                *event,
                &change.by,
                change.score,
                now,
            )?);
        }
        if change.patient_record {
            writes.extend(patient_writes(
                tenant,
                &after,
                patient.as_ref(),
                &events,
                now,
            )?);
        }
        let owner = owner_of(tenant, lead.as_ref());
        let mut windows = patient
            .as_ref()
            .map(|p| p.value.windows)
            .unwrap_or_default();
        if let Actor::Patient { via } = &change.by
            && let Some(channel) = Channel::parse(via)
        {
            // The answer itself came on this channel: its window is open now.
            windows.wrote(channel, now);
        }
        let replies = Replies {
            tenant,
            appointment: &after,
            lead: lead.as_ref(),
            by: &change.by,
            score: change.score,
            owner,
            windows,
        };
        for event in &events {
            writes.extend(self.replies(&replies, *event, &known, now).await?);
            writes.extend(self.callback(&replies, *event, now).await?);
        }
        Ok((after, writes))
    }

    /// The writes of the rules that answer `event` at once (each once per
    /// occurrence: a patient asking twice is answered once).
    async fn replies(
        &self,
        r: &Replies<'_>,
        event: AppointmentEvent,
        known: &journey::Facts<'_>,
        now: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let tenant = r.tenant;
        let about = RecordRef::Appointment(r.appointment.id.clone());
        let occurrence = event_occurrence(event, r.appointment);
        let occasion = Occasion {
            actor: Some(r.by),
            score: r.score,
        };
        let mut writes = Vec::new();
        for rule in journey::react(
            &tenant.appointments.rules,
            event,
            r.appointment,
            occasion,
            known,
        ) {
            let firing_key = keys::firing(&tenant.id, &about, &rule.id, &occurrence);
            if self.store.get(&firing_key).await?.is_some() {
                continue;
            }
            let context = Context {
                occurrence: &occurrence,
                lead: r.lead,
                owner: r.owner,
                windows: r.windows,
                what: match event {
                    AppointmentEvent::Cancelled => "cancelled",
                    AppointmentEvent::RescheduleRequested => "reschedule",
                    _ => "reply",
                },
                score: r.score,
            };
            let mut firing = Firing {
                rule: rule.id.clone(),
                occurrence: occurrence.clone(),
                at: now,
                messages: Vec::new(),
                skipped: Some(SkipReason::NoChannel),
            };
            if let Some(fired) = self
                .actions(tenant, r.appointment, rule, &context, now)
                .await?
            {
                firing.messages = fired.messages;
                firing.skipped = None;
                writes.extend(fired.writes);
            }
            writes.push(records::firing(&tenant.id, &about, &firing)?);
        }
        Ok(writes)
    }

    /// The call that tells the clinic's scheduler of a patient's answer,
    /// once per occurrence.
    async fn callback(
        &self,
        r: &Replies<'_>,
        event: AppointmentEvent,
        now: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let answer = matches!(
            event,
            AppointmentEvent::Confirmed
                | AppointmentEvent::Cancelled
                | AppointmentEvent::RescheduleRequested
                | AppointmentEvent::SurveyAnswered
        );
        let (Actor::Patient { via }, true) = (r.by, answer) else {
            return Ok(Vec::new());
        };
        let occurrence = event_occurrence(event, r.appointment);
        let Some(m) = messages::callback(
            r.tenant,
            r.appointment,
            event,
            &occurrence,
            r.score,
            via,
            now,
        )?
        else {
            return Ok(Vec::new());
        };
        if self
            .store
            .get(&keys::message(&r.tenant.id, &m.about, &m.id))
            .await?
            .is_some()
        {
            return Ok(Vec::new());
        }
        Ok(self.ledger_entry(&m, now)?.into())
    }

    /// The step timers of `after` (whose facts are `known`): armed for
    /// every step due at its current time (unless armed unchanged before),
    /// deleted for every step that was armed and died. Sets `after.armed`.
    fn replan(
        &self,
        tenant: &Tenant,
        before: Option<&Appointment>,
        after: &mut Appointment,
        known: &journey::Facts<'_>,
        patient: Option<&Versioned<Patient>>,
    ) -> Result<Vec<Write>, AppError> {
        let rules = &tenant.appointments.rules;
        let patient = patient.map(|p| &p.value);
        let now = known.now;
        let planned = journey::plan(rules, after, known);
        let unchanged: BTreeSet<(String, String, Timestamp)> = match before {
            Some(b) => {
                let zone = patient_zone(tenant, &b.booking);
                journey::plan(rules, b, &facts(tenant, b, &zone, patient, now))
                    .into_iter()
                    .filter(|p| b.armed.contains(&Timer::step_name(&p.rule)))
                    .filter_map(|p| match p.step {
                        Step::Due { at, .. } => Some((p.rule.to_string(), p.occurrence, at)),
                        Step::Skipped(_) => None,
                    })
                    .collect()
            }
            None => BTreeSet::new(),
        };
        let about = RecordRef::Appointment(after.id.clone());
        let mut writes = Vec::new();
        let mut armed = Vec::new();
        for p in planned {
            let Step::Due { at, .. } = p.step else {
                continue;
            };
            let timer = Timer {
                rule: Some(p.rule.clone()),
                occurrence: Some(p.occurrence.clone()),
                ..Timer::new(tenant.id.clone(), about.clone(), TimerKind::Step, at)
            };
            let name = timer.name();
            if !unchanged.contains(&(p.rule.to_string(), p.occurrence, at)) {
                writes.push(records::timer(&timer, now, Condition::Always)?);
            }
            armed.push(name);
        }
        for name in before.map(|b| b.armed.as_slice()).unwrap_or_default() {
            if !armed.contains(name) {
                writes.push(records::delete(
                    keys::timer(&tenant.id, &about, name),
                    Condition::Always,
                ));
            }
        }
        after.armed = armed;
        Ok(writes)
    }
}

/// The domain event `event` of `a`, if others are told of it.
fn publication(
    tenant: &Tenant,
    a: &Appointment,
    event: AppointmentEvent,
    by: &Actor,
    score: Option<u8>,
    now: Timestamp,
) -> Result<Option<Write>, AppError> {
    let Some(name) = event.published_as() else {
        return Ok(None);
    };
    let b = &a.booking;
    let detail = serde_json::to_string(&Published {
        tenant: tenant.id.as_str(),
        appointment: a.id.as_str(),
        version: a.version,
        status: b.status.as_str(),
        participant_status: b.confirmation.as_str(),
        start: b.start,
        branch: b.branch.as_str(),
        practitioner: b.practitioner.as_str(),
        service: b.service.as_str(),
        lead: b.lead.as_ref().map(|l| l.as_str()),
        by: by.kind(),
        score: score.filter(|_| event == AppointmentEvent::SurveyAnswered),
        at: now,
    })
    .map_err(|e| AppError::Internal(format!("cannot encode an event: {e}")))?;
    Ok(Some(Write::Publish {
        detail_type: name.to_owned(),
        detail,
    }))
}

/// The patient record, when the appointment makes it new or changes it: a
/// first appointment creates it, a booking is remembered (it stops no-show
/// recovery), new contact details replace the old.
fn patient_writes(
    tenant: &Tenant,
    a: &Appointment,
    before: Option<&Versioned<Patient>>,
    events: &[AppointmentEvent],
    now: Timestamp,
) -> Result<Option<Write>, AppError> {
    let p = &a.booking.patient;
    let booked = events.contains(&AppointmentEvent::Booked);
    let mut record = match before {
        Some(v) => v.value.clone(),
        None => Patient::new(p.contact_key.clone(), p.name.clone(), p.reach.clone(), now),
    };
    let reach_changed = record.reach != p.reach || (p.name.is_some() && record.name != p.name);
    if before.is_some() && !booked && !reach_changed {
        return Ok(None);
    }
    if reach_changed {
        record.reach = p.reach.clone();
        record.name = p.name.clone().or(record.name);
    }
    if booked {
        record.last_booked_at = Some(now);
    }
    record.updated_at = now;
    records::patient(&tenant.id, &record, before.map(|v| v.version)).map(Some)
}

/// Writes `writes`; `Ok(false)` when a condition failed (read again).
/// The engine's news of an appointment's new version: saved (rules timed
/// from its fields plan again), and its new status when it changed.
fn automation_news(
    tenant: &Tenant,
    before: Option<&Appointment>,
    after: &Appointment,
    now: Timestamp,
) -> Write {
    let mut events = vec![automation::Event::Saved];
    if before.is_none_or(|b| b.booking.status != after.booking.status) {
        events.push(automation::Event::AppointmentStatus {
            status: after.booking.status,
            entry: status_entry(after),
        });
    }
    automation_events(
        &tenant.id,
        &RecordRef::Appointment(after.id.clone()),
        events,
        now,
        0,
    )
}

pub(super) async fn commit(app: &App, writes: Vec<Write>) -> Result<bool, AppError> {
    super::super::landed(app.store.write(writes).await)
}
