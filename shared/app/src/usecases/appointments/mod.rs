//! Appointments and the journeys around them: everything about them in
//! one place.
//!
//! - [`save`]: the one way an appointment changes — the new version, its
//!   history entry, its step timers re-planned, its lead's stage, its
//!   domain events, the rules that answer at once — in one transaction.
//! - [`feed`]: a clinic's scheduler feeding us (FHIR upsert, Cal.com).
//! - [`staff`]: booking from a lead, moving, cancelling, marking.
//! - [`steps`]: the sweep firing a journey's step, once per occurrence.
//! - [`actions`]: what a rule does when it fires: messages, tasks.
//! - [`answers`]: a patient's tap, reply, link or score.
//! - [`links`]: the signed links and the page they open.
//! - [`messages`]: what the journeys say, and the calls to the scheduler.
//! - [`queries`]: a branch's day, one appointment with its plan, surveys.

mod actions;
mod answers;
mod feed;
mod links;
mod messages;
mod queries;
mod save;
mod staff;
mod steps;

pub use answers::Reply;
pub use feed::{FeedOutcome, FhirRefusal, FhirWrite};
pub use links::LinkPage;
pub(crate) use messages::patient_vars;
pub use queries::{
    AppointmentDetail, AppointmentFilter, DayPart, PlanStep, SurveyFilter, SurveySummary,
};
pub use staff::{BookInput, MoveInput};

use clinicflow_core::appointment::{Appointment, Booking};
use clinicflow_core::journey::{Facts, Rule};
use clinicflow_core::lead::Lead;
use clinicflow_core::locale;
use clinicflow_core::tenant::{Branch, Consultant, Tenant};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::error::AppError;
use crate::records::{self, Patient, Versioned};
use crate::{App, keys};

impl App {
    /// The record of the appointment's patient, if there is one yet.
    async fn booking_patient(
        &self,
        tenant: &Tenant,
        booking: &Booking,
    ) -> Result<Option<Versioned<Patient>>, AppError> {
        let key = keys::patient(&tenant.id, &booking.patient.contact_key);
        records::get::<Patient>(self.store.as_ref(), &key).await
    }

    /// The lead the appointment belongs to, if any.
    async fn booking_lead(
        &self,
        tenant: &Tenant,
        booking: &Booking,
    ) -> Result<Option<Versioned<Lead>>, AppError> {
        match &booking.lead {
            Some(id) => {
                records::get::<Lead>(self.store.as_ref(), &keys::lead(&tenant.id, id)).await
            }
            None => Ok(None),
        }
    }
}

/// The consultant who owns `lead`, if any.
fn owner_of<'t>(tenant: &'t Tenant, lead: Option<&Versioned<Lead>>) -> Option<&'t Consultant> {
    lead.and_then(|l| l.value.owner.as_ref())
        .and_then(|o| tenant.consultant(&o.consultant))
}

/// The branch of an appointment (the default branch if it left the configuration).
fn branch_of<'t>(tenant: &'t Tenant, booking: &Booking) -> &'t Branch {
    tenant.branch_or_default(&booking.branch)
}

/// The local date of the appointment at its branch: its day in listings.
fn local_day(tenant: &Tenant, booking: &Booking) -> Date {
    branch_of(tenant, booking)
        .time_zone
        .to_datetime(booking.start)
        .date()
}

/// The patient's time zone for an appointment.
fn patient_zone(tenant: &Tenant, booking: &Booking) -> TimeZone {
    locale::patient_zone(
        booking.patient.time_zone.as_deref(),
        &booking.patient.reach,
        &branch_of(tenant, booking).time_zone,
    )
}

/// What the engine knows of the patient at `now`.
fn facts<'a>(
    tenant: &'a Tenant,
    a: &Appointment,
    zone: &'a TimeZone,
    patient: Option<&Patient>,
    now: Timestamp,
) -> Facts<'a> {
    Facts {
        now,
        branch: branch_of(tenant, &a.booking),
        patient_zone: zone,
        send_hours: tenant.appointments.send_hours,
        last_booked_at: patient.and_then(|p| p.last_booked_at),
        last_inbound_at: patient.and_then(|p| p.last_inbound_at),
        opted_out: patient.is_some_and(|p| !p.opted_out.is_empty()),
    }
}

/// The tenant's rule `id`, if it has it.
fn rule<'t>(tenant: &'t Tenant, id: &str) -> Option<&'t Rule> {
    tenant.appointments.rule(id)
}
