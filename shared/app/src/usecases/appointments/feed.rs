//! A clinic's scheduler feeding us its appointments; we take theirs, we do
//! not replace it.
//!
//! - FHIR: `PUT /fhir/Appointment?identifier={system}|{value}` upserts by
//!   the source's business identifier (201 created, 200 updated, `ETag`
//!   our version, `If-Match` with a stale version refused).
//! - Cal.com: its booking webhooks, queued and applied here; a reschedule
//!   (a new booking uid) continues the journey of the booking it replaces.
//!
//! A write older than the stored one (by the source's `meta.lastUpdated`,
//! or the webhook's `createdAt`) changes nothing, so a shuffled or repeated
//! feed never resurrects a cancelled visit. The identifier is claimed by a
//! conditional write, so two writes of a new appointment make one.

use clinicflow_core::appointment::{Actor, Appointment, AppointmentStatus, Booking, Identifier};
use clinicflow_core::calcom::{CalcomChange, CalcomWrite};
use clinicflow_core::fhir::{self, Issue};
use clinicflow_core::ids::{AppointmentId, TenantId};
use clinicflow_core::tenant::Tenant;
use jiff::Timestamp;
use tracing::info;

use super::save::{Change, commit};
use crate::error::AppError;
use crate::records::{self, Claim, SourceLink, Versioned};
use crate::usecases::{MAX_ROUNDS, busy};
use crate::{App, keys};

/// A FHIR upsert as it came.
pub struct FhirWrite<'a> {
    /// The `identifier` search parameter: `{system}|{value}`.
    pub identifier: &'a str,
    /// `If-Match`: the version the writer last saw.
    pub if_match: Option<u64>,
    pub body: &'a [u8],
}

/// What a feed's write did.
#[derive(Clone, Debug)]
pub enum FeedOutcome {
    Created(Appointment),
    Updated(Appointment),
    /// Nothing in it differed from what we have.
    Unchanged(Appointment),
    /// Older than what we have: ignored.
    Stale(Appointment),
}

impl FeedOutcome {
    pub fn appointment(&self) -> &Appointment {
        match self {
            FeedOutcome::Created(a)
            | FeedOutcome::Updated(a)
            | FeedOutcome::Unchanged(a)
            | FeedOutcome::Stale(a) => a,
        }
    }
}

/// Why a FHIR write was refused.
#[derive(Debug)]
pub enum FhirRefusal {
    /// The resource's problems, each at its element.
    Invalid(Vec<Issue>),
    App(AppError),
}

impl From<AppError> for FhirRefusal {
    fn from(e: AppError) -> Self {
        FhirRefusal::App(e)
    }
}

impl App {
    /// The appointment a scheduler's identifier names, if any.
    async fn by_identifier(
        &self,
        tenant: &TenantId,
        identifier: &Identifier,
    ) -> Result<Option<Versioned<Appointment>>, AppError> {
        let Some(link) = records::get::<SourceLink>(
            self.store.as_ref(),
            &keys::source_identifier(tenant, identifier),
        )
        .await?
        else {
            return Ok(None);
        };
        records::get::<Appointment>(
            self.store.as_ref(),
            &keys::appointment(tenant, &link.value.appointment),
        )
        .await
    }

    /// The patient's open lead, which a new appointment is linked to.
    async fn open_lead_of(
        &self,
        tenant: &TenantId,
        booking: &Booking,
    ) -> Result<Option<clinicflow_core::ids::LeadId>, AppError> {
        for contact in booking.patient.reach.dedupe_keys() {
            if let Some(claim) =
                records::get::<Claim>(self.store.as_ref(), &keys::open_claim(tenant, &contact))
                    .await?
            {
                return Ok(Some(claim.value.lead));
            }
        }
        Ok(None)
    }

    /// `PUT /fhir/Appointment?identifier=…`: creates or updates the
    /// appointment the identifier names.
    pub async fn upsert_fhir(
        &self,
        tenant: &Tenant,
        write: FhirWrite<'_>,
    ) -> Result<FeedOutcome, FhirRefusal> {
        let identifier =
            fhir::parse_identifier(write.identifier).map_err(|i| FhirRefusal::Invalid(vec![i]))?;
        for _ in 0..MAX_ROUNDS {
            let existing = self.by_identifier(&tenant.id, &identifier).await?;
            if let Some(expected) = write.if_match {
                let current = existing.as_ref().map(|a| a.value.version);
                if current != Some(expected) {
                    return Err(AppError::PreconditionFailed(match current {
                        Some(v) => format!("the appointment is at version {v}, not {expected}"),
                        None => "no appointment has this identifier".into(),
                    })
                    .into());
                }
            }
            let before = existing.as_ref().map(|a| &a.value);
            let incoming = fhir::parse(write.body, tenant, &identifier, before.map(|a| &a.booking))
                .map_err(FhirRefusal::Invalid)?;
            let now = self.clock.now();
            let outcome = self
                .apply_feed(
                    tenant,
                    before,
                    identifier.clone(),
                    None,
                    incoming.booking,
                    incoming.last_updated,
                    "fhir",
                    now,
                )
                .await?;
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
        Err(busy("appointment").into())
    }

    /// Applies a Cal.com webhook (from the queue).
    pub async fn apply_calcom(
        &self,
        tenant: &TenantId,
        write: &CalcomWrite,
    ) -> Result<(), AppError> {
        let Some(tenant) = self.directory.tenant(tenant) else {
            return Ok(());
        };
        for _ in 0..MAX_ROUNDS {
            let mut existing = self.by_identifier(&tenant.id, &write.identifier).await?;
            if existing.is_none()
                && let Some(previous) = &write.continues
            {
                existing = self.by_identifier(&tenant.id, previous).await?;
            }
            let before = existing.as_ref().map(|a| &a.value);
            let now = self.clock.now();
            let booking = match (&write.change, before) {
                (CalcomChange::Booking(b), _) => (**b).clone(),
                (_, None) => {
                    info!(tenant = %tenant.id, "Cal.com status for a booking we never saw; ignored");
                    return Ok(());
                }
                (_, Some(a)) if a.identifiers.last() != Some(&write.identifier) => {
                    // About a booking a reschedule has replaced.
                    info!(tenant = %tenant.id, appointment = %a.id, "Cal.com status for a replaced booking; ignored");
                    return Ok(());
                }
                (CalcomChange::Status { status, reason }, Some(a)) => Booking {
                    status: *status,
                    cancellation_reason: reason.clone(),
                    ..a.booking.clone()
                },
                (CalcomChange::NoShowWithdrawn, Some(a))
                    if a.status() == AppointmentStatus::Noshow =>
                {
                    Booking {
                        status: AppointmentStatus::Booked,
                        ..a.booking.clone()
                    }
                }
                (CalcomChange::NoShowWithdrawn, Some(_)) => return Ok(()),
            };
            let continued = before.is_some_and(|a| !a.identifiers.contains(&write.identifier));
            let outcome = self
                .apply_feed(
                    tenant,
                    before,
                    write.identifier.clone(),
                    continued.then(|| write.identifier.clone()),
                    booking,
                    Some(write.at),
                    "calcom",
                    now,
                )
                .await?;
            if outcome.is_some() {
                return Ok(());
            }
        }
        Err(busy("Cal.com booking"))
    }

    /// Writes what a feed says of one appointment; `None` when it lost a
    /// race (read again).
    #[allow(clippy::too_many_arguments)]
    async fn apply_feed(
        &self,
        tenant: &Tenant,
        before: Option<&Appointment>,
        identifier: Identifier,
        // A new identifier continuing the existing appointment (a Cal.com reschedule).
        continued: Option<Identifier>,
        mut booking: Booking,
        last_updated: Option<Timestamp>,
        source: &str,
        now: Timestamp,
    ) -> Result<Option<FeedOutcome>, AppError> {
        if let (Some(a), Some(at)) = (before, last_updated)
            && a.source_updated.is_some_and(|stored| at <= stored)
        {
            return Ok(Some(FeedOutcome::Stale(a.clone())));
        }
        let by = Actor::Feed {
            source: source.to_owned(),
        };
        let (revised, claims) = match before {
            None => {
                booking.lead = self.open_lead_of(&tenant.id, &booking).await?;
                let id = AppointmentId::new(self.ids.new_id()).map_err(AppError::Internal)?;
                let revised = Appointment::create(
                    id,
                    tenant.id.clone(),
                    vec![identifier.clone()],
                    booking,
                    by.clone(),
                    now,
                );
                (revised, vec![identifier])
            }
            Some(a) => {
                booking.lead = booking.lead.or_else(|| a.booking.lead.clone());
                let Some(mut revised) = a.revise(booking, by.clone(), now) else {
                    return Ok(Some(FeedOutcome::Unchanged(a.clone())));
                };
                if let Some(new) = &continued {
                    revised.appointment.identifiers.push(new.clone());
                }
                (revised, continued.into_iter().collect())
            }
        };
        let mut revised = revised;
        revised.appointment.source_updated = last_updated.or(before.and_then(|a| a.source_updated));
        let (after, writes) = self
            .change_writes(
                Change {
                    claims,
                    ..Change::revision(tenant, before, revised, by)
                },
                now,
            )
            .await?;
        if !commit(self, writes).await? {
            return Ok(None);
        }
        info!(tenant = %tenant.id, appointment = %after.id, version = after.version, status = after.status().as_str(), source, "appointment fed");
        Ok(Some(if before.is_some() {
            FeedOutcome::Updated(after)
        } else {
            FeedOutcome::Created(after)
        }))
    }
}
