//! The sweep firing a journey's step: a reminder, a confirmation, a no-show
//! message, aftercare, the survey.
//!
//! The step is planned again from the appointment as it is now (a step
//! whose appointment moved, was cancelled or confirmed meanwhile does not
//! go), and fires in one transaction that holds only if the appointment is
//! still at the version it was planned from: the firing record (`Absent`:
//! once per rule, appointment and occurrence), the messages, the patient's
//! open question and daily count, and the claimed timer's deletion. A
//! redelivered timer, two sweeps at once or a sweep that died half way
//! therefore send it once.

use clinicflow_core::appointment::Appointment;
use clinicflow_core::ids::RecordRef;
use clinicflow_core::journey::{Planned, SkipReason, Step};
use clinicflow_core::timer::Timer;
use clinicflow_ports::Condition;
use jiff::{SignedDuration, Timestamp};
use tracing::{info, warn};

use super::actions::Context;
use super::save::commit;
use super::{facts, owner_of, patient_zone, rule};
use crate::error::AppError;
use crate::records::{self, Firing, Versioned};
use crate::usecases::{MAX_ROUNDS, busy};
use crate::{App, keys};

/// Steps due this close to now fire now (sweeps tick, clocks drift).
const EARLY: SignedDuration = SignedDuration::from_secs(1);

impl App {
    /// Fires a step timer claimed at version `claimed`.
    pub(crate) async fn fire_step(&self, timer: &Timer, claimed: u64) -> Result<(), AppError> {
        let (Some(tenant), RecordRef::Appointment(id), Some(rule_id), Some(occurrence)) = (
            self.directory.tenant(&timer.tenant),
            &timer.about,
            &timer.rule,
            &timer.occurrence,
        ) else {
            return self.drop_timer(timer, claimed).await;
        };
        let Some(rule) = rule(tenant, rule_id.as_str()) else {
            return self.drop_timer(timer, claimed).await;
        };
        let about = timer.about.clone();
        let timer_key = keys::timer(&tenant.id, &about, &timer.name());
        for _ in 0..MAX_ROUNDS {
            let Some(Versioned { value: a, version }) = records::get::<Appointment>(
                self.store.as_ref(),
                &keys::appointment(&tenant.id, id),
            )
            .await?
            else {
                return self.drop_timer(timer, claimed).await;
            };
            let firing_key = keys::firing(&tenant.id, &about, rule_id, occurrence);
            if self.store.get(&firing_key).await?.is_some() {
                // Fired already (by a sweep that died before deleting its timer).
                return self.drop_timer(timer, claimed).await;
            }
            let now = self.clock.now();
            let patient = self.booking_patient(tenant, &a.booking).await?;
            let zone = patient_zone(tenant, &a.booking);
            let known = facts(tenant, &a, &zone, patient.as_ref().map(|p| &p.value), now);
            let planned = rule.fire(&a, &known);
            let mut writes = vec![
                records::check(
                    keys::appointment(&tenant.id, id),
                    Condition::VersionIs(version),
                ),
                records::delete(timer_key.clone(), Condition::VersionIs(claimed)),
            ];
            let step = match planned {
                // The appointment moved on: the step's occurrence is over.
                None => Step::Skipped(SkipReason::StatusChanged),
                Some(Planned {
                    occurrence: now_for,
                    ..
                }) if &now_for != occurrence => {
                    // Planned for another time now: that one has its own timer.
                    return self.drop_timer(timer, claimed).await;
                }
                Some(p) => p.step,
            };
            // The patient's count of the day, written when a message goes.
            let mut counted = None;
            let step = match step {
                Step::Due { at, .. } if at > now + EARLY => {
                    return self.rearm(timer, claimed, at, now).await;
                }
                Step::Due { at, .. } if rule.unsolicited => {
                    // The patient's daily cap on automated messages.
                    let day = zone.to_datetime(now).date();
                    let count_key =
                        keys::daily_count(&tenant.id, &a.booking.patient.contact_key, day);
                    let count = records::get::<u32>(self.store.as_ref(), &count_key).await?;
                    let sent = count.as_ref().map_or(0, |c| c.value);
                    if sent >= tenant.appointments.max_per_day {
                        match rule.after_cap(&a, &known) {
                            Step::Due { at, .. } => {
                                return self.rearm(timer, claimed, at, now).await;
                            }
                            skipped => skipped,
                        }
                    } else {
                        counted = Some(records::daily_count(
                            &tenant.id,
                            &a.booking.patient.contact_key,
                            day,
                            sent + 1,
                            count.map(|c| c.version),
                            now,
                        )?);
                        Step::Due {
                            at,
                            deferred_from: None,
                        }
                    }
                }
                step => step,
            };
            let mut firing = Firing {
                rule: rule.id.clone(),
                occurrence: occurrence.clone(),
                at: now,
                messages: Vec::new(),
                skipped: None,
            };
            match step {
                Step::Skipped(reason) => firing.skipped = Some(reason),
                Step::Due { .. } => {
                    let lead = self.booking_lead(tenant, &a.booking).await?;
                    let context = Context {
                        occurrence,
                        lead: lead.as_ref(),
                        owner: owner_of(tenant, lead.as_ref()),
                        windows: patient
                            .as_ref()
                            .map(|p| p.value.windows)
                            .unwrap_or_default(),
                        what: "reply",
                        score: None,
                    };
                    match self.actions(tenant, &a, rule, &context, now).await? {
                        Some(fired) => {
                            firing.messages = fired.messages;
                            writes.extend(fired.writes);
                            writes.extend(counted);
                        }
                        None => firing.skipped = Some(SkipReason::NoChannel),
                    }
                }
            }
            writes.push(records::firing(&tenant.id, &about, &firing)?);
            if commit(self, writes).await? {
                match firing.skipped {
                    Some(reason) => {
                        info!(tenant = %tenant.id, appointment = %a.id, rule = %rule.id, reason = reason.as_str(), "journey step skipped")
                    }
                    None => {
                        info!(tenant = %tenant.id, appointment = %a.id, rule = %rule.id, messages = firing.messages.len(), "journey step fired")
                    }
                }
                return Ok(());
            }
        }
        Err(busy("journey step"))
    }

    /// Moves a claimed step timer to `at` (quiet hours, the daily cap).
    async fn rearm(
        &self,
        timer: &Timer,
        claimed: u64,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let mut next = timer.clone();
        next.due_at = at;
        next.attempts = 0;
        if !commit(
            self,
            vec![records::timer(&next, now, Condition::VersionIs(claimed))?],
        )
        .await?
        {
            warn!(record = %timer.about, "step timer changed while it was deferred; the new one stands");
        }
        Ok(())
    }
}
