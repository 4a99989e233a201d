//! What staff do to appointments through the API: book one from a lead,
//! move it, cancel it, mark the patient arrived, the visit completed or a
//! no-show. Each is a new version through the one save path.

use clinicflow_core::appointment::{
    Actor, Appointment, AppointmentStatus, Booking, Confirmation, PatientRef,
};
use clinicflow_core::ids::{AppointmentId, BranchId, LeadId, ServiceId};
use clinicflow_core::submission::FieldError;
use clinicflow_core::tenant::Tenant;
use jiff::{SignedDuration, Timestamp};
use tracing::info;

use super::save::{Change, commit};
use crate::error::AppError;
use crate::records::{self, Versioned};
use crate::usecases::{MAX_ROUNDS, busy};
use crate::{App, keys};

const MAX_REASON: usize = 500;
const MAX_BY: usize = 100;

/// A booking made by staff for a lead's patient.
#[derive(Clone, Debug, Default)]
pub struct BookInput {
    pub lead: String,
    pub practitioner: String,
    pub service: String,
    /// An instant with an offset: `2026-12-03T10:00:00+03:00`.
    pub start: String,
    pub end: Option<String>,
    /// The length, when `end` is not given (default 30).
    pub minutes: Option<i64>,
    /// The branch, when not the practitioner's.
    pub branch: Option<String>,
    pub by: Option<String>,
}

/// A new time (and optionally practitioner) for an appointment.
#[derive(Clone, Debug, Default)]
pub struct MoveInput {
    pub start: String,
    pub end: Option<String>,
    pub practitioner: Option<String>,
    pub by: Option<String>,
}

fn instant(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Timestamp> {
    raw.trim()
        .parse::<Timestamp>()
        .map_err(|_| {
            errors.push(FieldError::new(
                field,
                "must be an instant with an offset, such as 2026-12-03T10:00:00+03:00",
            ))
        })
        .ok()
}

fn by_staff(by: Option<String>) -> Result<Actor, AppError> {
    let by = by.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty());
    if by.as_ref().is_some_and(|b| b.chars().count() > MAX_BY) {
        return Err(AppError::invalid(
            "by",
            format!("must be at most {MAX_BY} characters"),
        ));
    }
    Ok(Actor::Staff { by })
}

/// The end of a visit from `end` or `minutes` after `start`.
fn end_of(
    start: Option<Timestamp>,
    end: Option<&str>,
    minutes: Option<i64>,
    errors: &mut Vec<FieldError>,
) -> Option<Timestamp> {
    let end = match (end, minutes) {
        (Some(e), _) => instant("end", e, errors),
        (None, Some(m)) if (5..=24 * 60).contains(&m) => {
            start?.checked_add(SignedDuration::from_mins(m)).ok()
        }
        (None, Some(_)) => {
            errors.push(FieldError::new("minutes", "must be from 5 to 1440"));
            None
        }
        (None, None) => start?.checked_add(SignedDuration::from_mins(30)).ok(),
    };
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        errors.push(FieldError::new("end", "must be after start"));
    }
    end
}

impl App {
    /// Books an appointment for the patient of a lead; the lead moves to
    /// Appointment booked.
    pub async fn book_appointment(
        &self,
        tenant: &Tenant,
        input: BookInput,
    ) -> Result<Appointment, AppError> {
        let lead_id = LeadId::new(input.lead.trim())
            .map_err(|_| AppError::invalid("lead", "is not a lead id"))?;
        let lead = records::get::<clinicflow_core::lead::Lead>(
            self.store.as_ref(),
            &keys::lead(&tenant.id, &lead_id),
        )
        .await?
        .ok_or_else(|| AppError::invalid("lead", "no such lead in this clinic"))?
        .value;
        let mut errors = Vec::new();
        let practitioner = tenant.practitioner(input.practitioner.trim());
        if practitioner.is_none() {
            errors.push(FieldError::new(
                "practitioner",
                "is not a practitioner of this clinic",
            ));
        }
        let service = ServiceId::new(input.service.trim())
            .ok()
            .and_then(|s| tenant.service(&s).map(|s| s.id.clone()));
        if service.is_none() {
            errors.push(FieldError::new(
                "service",
                "is not a service of this clinic",
            ));
        }
        let branch = match (&input.branch, practitioner) {
            (Some(b), _) => match BranchId::new(b.trim())
                .ok()
                .filter(|b| tenant.branch(b).is_some())
            {
                Some(b) => Some(b),
                None => {
                    errors.push(FieldError::new("branch", "is not a branch of this clinic"));
                    None
                }
            },
            (None, Some(p)) => Some(p.branch.clone()),
            (None, None) => None,
        };
        let start = instant("start", &input.start, &mut errors);
        let end = end_of(start, input.end.as_deref(), input.minutes, &mut errors);
        let by = by_staff(input.by)?;
        let (Some(practitioner), Some(service), Some(branch), Some(start), Some(end), true) =
            (practitioner, service, branch, start, end, errors.is_empty())
        else {
            return Err(AppError::Invalid(errors));
        };
        let booking = Booking {
            patient: PatientRef {
                contact_key: lead.contact_key.clone(),
                name: lead.name.clone(),
                reach: lead.reach.clone(),
                language: lead.language.clone(),
                time_zone: None,
            },
            lead: Some(lead.id.clone()),
            branch,
            practitioner: practitioner.id.clone(),
            service,
            start,
            end,
            status: AppointmentStatus::Booked,
            cancellation_reason: None,
            confirmation: Confirmation::NeedsAction,
        };
        let id = AppointmentId::new(self.ids.new_id()).map_err(AppError::Internal)?;
        for _ in 0..MAX_ROUNDS {
            let now = self.clock.now();
            let revised = Appointment::create(
                id.clone(),
                tenant.id.clone(),
                Vec::new(),
                booking.clone(),
                by.clone(),
                now,
            );
            let (after, writes) = self
                .change_writes(Change::revision(tenant, None, revised, by.clone()), now)
                .await?;
            if commit(self, writes).await? {
                info!(tenant = %tenant.id, appointment = %after.id, lead = %lead.id, "appointment booked");
                return Ok(after);
            }
        }
        Err(busy("booking"))
    }

    /// Changes an appointment by `change`, conditioned on `if_match` (the
    /// version the caller saw) when given.
    async fn change_appointment(
        &self,
        tenant: &Tenant,
        id: &str,
        if_match: Option<u64>,
        by: Actor,
        change: impl Fn(&Appointment) -> Result<Booking, AppError>,
    ) -> Result<Appointment, AppError> {
        let id = AppointmentId::new(id).map_err(|_| AppError::NotFound("appointment"))?;
        for _ in 0..MAX_ROUNDS {
            let Versioned { value: a, .. } = records::get::<Appointment>(
                self.store.as_ref(),
                &keys::appointment(&tenant.id, &id),
            )
            .await?
            .ok_or(AppError::NotFound("appointment"))?;
            if let Some(expected) = if_match
                && expected != a.version
            {
                return Err(AppError::PreconditionFailed(format!(
                    "the appointment is at version {}, not {expected}",
                    a.version
                )));
            }
            let booking = change(&a)?;
            let now = self.clock.now();
            let Some(revised) = a.revise(booking, by.clone(), now) else {
                return Ok(a);
            };
            let (after, writes) = self
                .change_writes(Change::revision(tenant, Some(&a), revised, by.clone()), now)
                .await?;
            if commit(self, writes).await? {
                info!(tenant = %tenant.id, appointment = %after.id, version = after.version, status = after.status().as_str(), "appointment changed");
                return Ok(after);
            }
        }
        Err(busy("appointment"))
    }

    /// Moves an appointment to a new time (and practitioner).
    pub async fn move_appointment(
        &self,
        tenant: &Tenant,
        id: &str,
        input: MoveInput,
        if_match: Option<u64>,
    ) -> Result<Appointment, AppError> {
        let mut errors = Vec::new();
        let start = instant("start", &input.start, &mut errors);
        let practitioner = match &input.practitioner {
            Some(p) => match tenant.practitioner(p.trim()) {
                Some(p) => Some(p),
                None => {
                    errors.push(FieldError::new(
                        "practitioner",
                        "is not a practitioner of this clinic",
                    ));
                    None
                }
            },
            None => None,
        };
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let by = by_staff(input.by.clone())?;
        self.change_appointment(tenant, id, if_match, by, |a| {
            if a.status().is_final() {
                return Err(AppError::Conflict(format!(
                    "a {} appointment cannot move; book a new one",
                    a.status()
                )));
            }
            let mut errors = Vec::new();
            let length = a.booking.end.duration_since(a.booking.start);
            let end = match &input.end {
                Some(e) => instant("end", e, &mut errors),
                None => start.and_then(|s| s.checked_add(length).ok()),
            };
            match (start, end) {
                (Some(s), Some(e)) if e > s && errors.is_empty() => {
                    let mut b = a.booking.clone();
                    b.start = s;
                    b.end = e;
                    if let Some(p) = practitioner {
                        b.practitioner = p.id.clone();
                        b.branch = p.branch.clone();
                    }
                    Ok(b)
                }
                (Some(_), Some(_)) if errors.is_empty() => {
                    Err(AppError::invalid("end", "must be after start"))
                }
                _ => Err(AppError::Invalid(errors)),
            }
        })
        .await
    }

    /// Cancels an appointment, with the reason.
    pub async fn cancel_appointment(
        &self,
        tenant: &Tenant,
        id: &str,
        reason: Option<String>,
        by: Option<String>,
        if_match: Option<u64>,
    ) -> Result<Appointment, AppError> {
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REASON)
        {
            return Err(AppError::invalid(
                "reason",
                format!("must be at most {MAX_REASON} characters"),
            ));
        }
        let by = by_staff(by)?;
        self.change_appointment(tenant, id, if_match, by, |a| {
            if a.status() == AppointmentStatus::Cancelled {
                return Ok(a.booking.clone());
            }
            if !a.status().staff_can_move_to(AppointmentStatus::Cancelled) {
                return Err(AppError::Conflict(format!(
                    "a {} appointment cannot be cancelled",
                    a.status()
                )));
            }
            let mut b = a.booking.clone();
            b.status = AppointmentStatus::Cancelled;
            b.cancellation_reason = reason.clone().or_else(|| Some("clinic".into()));
            Ok(b)
        })
        .await
    }

    /// Marks an appointment arrived, checked in, fulfilled (completed) or a no-show.
    pub async fn mark_appointment(
        &self,
        tenant: &Tenant,
        id: &str,
        status: &str,
        by: Option<String>,
        if_match: Option<u64>,
    ) -> Result<Appointment, AppError> {
        let to = AppointmentStatus::parse(status.trim())
            .filter(|s| {
                matches!(
                    s,
                    AppointmentStatus::Arrived
                        | AppointmentStatus::CheckedIn
                        | AppointmentStatus::Fulfilled
                        | AppointmentStatus::Noshow
                        | AppointmentStatus::Booked
                )
            })
            .ok_or_else(|| {
                AppError::invalid(
                    "status",
                    "must be booked, arrived, checked-in, fulfilled or noshow (cancel with /cancel)",
                )
            })?;
        let by = by_staff(by)?;
        self.change_appointment(tenant, id, if_match, by, |a| {
            if a.status() == to {
                return Ok(a.booking.clone());
            }
            if !a.status().staff_can_move_to(to) {
                return Err(AppError::Conflict(format!(
                    "an appointment cannot go from {} to {to}",
                    a.status()
                )));
            }
            let mut b = a.booking.clone();
            b.status = to;
            Ok(b)
        })
        .await
    }
}
