//! Staff reaching patients: a consultant's own message, and the
//! failed-messages panel — correct the phone number, send again (a new
//! attempt linked to the failed one), or mark a failure handled another way.

use clinicflow_core::contact::{PhoneNumber, Reach};
use clinicflow_core::ids::{LeadId, MessageId, RecordRef};
use clinicflow_core::lead::{Lead, LeadEvent};
use clinicflow_core::message::{Audience, Handled, HandledVia, Message, MessageStatus, Purpose};
use clinicflow_core::messaging::Windows;
use clinicflow_core::tenant::Tenant;
use clinicflow_ports::Condition;
use tracing::info;

use super::compose::{self, branch_of};
use super::staff::{bounded, consultant_named};
use super::{MAX_ROUNDS, busy, landed};
use crate::error::AppError;
use crate::records::{self, Claim, Patient, Versioned};
use crate::{App, keys};

/// The longest message a consultant may type (WhatsApp's text limit).
const MAX_TEXT: usize = 4096;
const MAX_NOTE: usize = 2000;

impl App {
    /// Queues a consultant's message to the patient of a lead, on the first
    /// channel that can carry it now. A promotional message to a patient who
    /// opted out is refused here (and again by the sender, should the
    /// opt-out arrive meanwhile).
    pub async fn send_reply(
        &self,
        tenant: &Tenant,
        lead_id: &str,
        text: &str,
        purpose: Purpose,
    ) -> Result<Message, AppError> {
        let lead_id = LeadId::new(lead_id).map_err(|_| AppError::NotFound("lead"))?;
        let text = bounded("text", Some(text.to_owned()), MAX_TEXT)?
            .ok_or_else(|| AppError::invalid("text", "must not be empty"))?;
        let lead = self.lead_of(tenant, &lead_id).await?.value;
        let patient = self.patient_record(tenant, &lead).await?;
        let id = MessageId::new(format!("reply.{}.{}", lead.id, self.ids.new_id()))
            .map_err(AppError::Internal)?;
        let now = self.clock.now();
        let windows = patient.as_ref().map(|p| p.windows).unwrap_or_default();
        let message = compose::reply(tenant, &lead, id, &text, purpose, windows, now)?
            .ok_or_else(|| {
                AppError::Conflict(
                    "no channel can carry this message now: the 24-hour window of WhatsApp and Instagram is closed (free-form messages need the patient to have written within a day) and no other channel reaches the patient".into(),
                )
            })?;
        if purpose == Purpose::Promotional
            && patient
                .as_ref()
                .is_some_and(|p| p.opted_out_of(message.channel))
        {
            return Err(AppError::Conflict(format!(
                "the patient opted out of promotional messages on {}",
                message.channel.title()
            )));
        }
        self.store
            .write(self.ledger_entry(&message, now)?.into())
            .await
            .map_err(|e| AppError::Unavailable(e.to_string()))?;
        info!(tenant = %tenant.id, lead = %lead.id, message_id = %message.id, channel = message.channel.as_str(), "reply queued");
        Ok(message)
    }

    /// Corrects the patient's phone number on an open lead: the number the
    /// lead is found by moves with it. Another open lead with that number
    /// is a conflict.
    pub async fn correct_phone(
        &self,
        tenant: &Tenant,
        lead_id: &str,
        phone: &str,
        by: Option<&str>,
    ) -> Result<Lead, AppError> {
        let lead_id = LeadId::new(lead_id).map_err(|_| AppError::NotFound("lead"))?;
        let by = consultant_named(tenant, by)?;
        for _ in 0..MAX_ROUNDS {
            let Versioned {
                value: lead,
                version,
            } = self.lead_of(tenant, &lead_id).await?;
            let region = branch_of(tenant, &lead).phone_region;
            let phone = PhoneNumber::parse(phone, region)
                .map_err(|e| AppError::invalid("phone", e.to_string()))?;
            if lead.reach.phone.as_ref() == Some(&phone) {
                return Ok(lead);
            }
            if !lead.stage.is_open() {
                return Err(AppError::Conflict("the lead is closed".into()));
            }
            let now = self.clock.now();
            let mut next = lead.clone();
            next.reach = Reach {
                phone: Some(phone),
                email: lead.reach.email.clone(),
                instagram: None,
            };
            let Some(contact) = next.reach.dedupe_key() else {
                return Err(AppError::Internal("a lead with a phone has a key".into()));
            };
            next.contact_key = contact;
            next.updated_at = now;
            let mut writes = vec![records::lead(&next, Some(version))?];
            // Claims: the old number's goes, the new number's comes (and
            // fails the transaction if another open lead holds it).
            let old = lead.reach.dedupe_keys();
            let new = next.reach.dedupe_keys();
            for key in old.iter().filter(|k| !new.contains(k)) {
                writes.push(records::delete(
                    keys::open_claim(&tenant.id, key),
                    Condition::Exists,
                ));
            }
            for key in new.iter().filter(|k| !old.contains(k)) {
                let taken =
                    records::get::<Claim>(self.store.as_ref(), &keys::open_claim(&tenant.id, key))
                        .await?;
                if taken.is_some_and(|c| c.value.lead != lead.id) {
                    return Err(AppError::Conflict(
                        "another open lead has this phone number".into(),
                    ));
                }
                writes.push(records::claim(
                    &tenant.id,
                    key,
                    &Claim {
                        lead: lead.id.clone(),
                    },
                    now,
                )?);
            }
            writes.extend(self.history(
                &tenant.id,
                &lead.id,
                LeadEvent::PhoneCorrected { by: by.clone() },
                now,
            )?);
            if landed(self.store.write(writes).await)? {
                info!(tenant = %tenant.id, lead = %lead.id, "phone number corrected");
                return Ok(next);
            }
        }
        Err(busy("phone correction"))
    }

    /// Sends a failed message again as a new attempt linked to it, to the
    /// lead's current address (after a correction, the new one).
    pub async fn resend_message(
        &self,
        tenant: &Tenant,
        lead_id: &str,
        message_id: &str,
    ) -> Result<Message, AppError> {
        let (
            lead,
            Versioned {
                value: failed,
                version,
            },
        ) = self.failed_message(tenant, lead_id, message_id).await?;
        if let Some(Handled {
            via: HandledVia::Resent,
            next: Some(next),
            ..
        }) = &failed.handled
        {
            // Asked twice: the first resend stands.
            return records::get::<Message>(
                self.store.as_ref(),
                &keys::message(&tenant.id, &RecordRef::Lead(lead.id.clone()), next),
            )
            .await?
            .map(|m| m.value)
            .ok_or(AppError::NotFound("message"));
        }
        if failed.handled.is_some() {
            return Err(AppError::Conflict(
                "this failure was already handled".into(),
            ));
        }
        let now = self.clock.now();
        let reach = (failed.audience == Audience::Patient).then_some(&lead.reach);
        let windows = match reach {
            Some(_) => self
                .patient_record(tenant, &lead)
                .await?
                .map(|p| p.windows)
                .unwrap_or_default(),
            None => Windows::default(),
        };
        let mut routed = failed.clone();
        if let Some(reach) = reach {
            // The lead's current addresses, after any correction.
            if let Some(to) = reach.address(failed.channel) {
                routed.to = to.to_owned();
            }
            for route in &mut routed.fallbacks {
                if let Some(to) = reach.address(route.channel) {
                    route.to = to.to_owned();
                }
            }
        }
        let next = compose::follow_up(&routed, HandledVia::Resent, windows, now)?
            .ok_or_else(|| AppError::Conflict("no channel can carry this message now (the 24-hour window of WhatsApp or Instagram is closed and there is no template or other channel)".into()))?;
        let mut handled = failed;
        handled.handled = Some(Handled {
            via: HandledVia::Resent,
            at: now,
            next: Some(next.id.clone()),
            note: None,
        });
        handled.updated_at = now;
        let mut writes = vec![records::message(&handled, Some(version))?];
        writes.extend(self.ledger_entry(&next, now)?);
        if !landed(self.store.write(writes).await)? {
            return Err(AppError::Busy(
                "the message changed meanwhile; try again".into(),
            ));
        }
        info!(tenant = %tenant.id, message_id = %handled.id, next = %next.id, "failed message resent");
        Ok(next)
    }

    /// Marks a failed message as handled another way (a call, an e-mail).
    pub async fn mark_handled(
        &self,
        tenant: &Tenant,
        lead_id: &str,
        message_id: &str,
        via: HandledVia,
        note: Option<String>,
    ) -> Result<Message, AppError> {
        if matches!(via, HandledVia::Resent | HandledVia::Fallback) {
            return Err(AppError::invalid(
                "via",
                "must be `call`, `email` or `other` (use resend to send again)",
            ));
        }
        let note = bounded("note", note, MAX_NOTE)?;
        let (
            _,
            Versioned {
                value: failed,
                version,
            },
        ) = self.failed_message(tenant, lead_id, message_id).await?;
        if failed.handled.is_some() {
            return Err(AppError::Conflict(
                "this failure was already handled".into(),
            ));
        }
        let now = self.clock.now();
        let mut handled = failed;
        handled.handled = Some(Handled {
            via,
            at: now,
            next: None,
            note,
        });
        handled.updated_at = now;
        if !landed(
            self.store
                .write(vec![records::message(&handled, Some(version))?])
                .await,
        )? {
            return Err(AppError::Busy(
                "the message changed meanwhile; try again".into(),
            ));
        }
        Ok(handled)
    }

    async fn failed_message(
        &self,
        tenant: &Tenant,
        lead_id: &str,
        message_id: &str,
    ) -> Result<(Lead, Versioned<Message>), AppError> {
        let lead_id = LeadId::new(lead_id).map_err(|_| AppError::NotFound("lead"))?;
        let message_id = MessageId::new(message_id).map_err(|_| AppError::NotFound("message"))?;
        let lead = self.lead_of(tenant, &lead_id).await?.value;
        let message = records::get::<Message>(
            self.store.as_ref(),
            &keys::message(&tenant.id, &RecordRef::Lead(lead_id.clone()), &message_id),
        )
        .await?
        .ok_or(AppError::NotFound("message"))?;
        if message.value.status != MessageStatus::Failed {
            return Err(AppError::Conflict(format!(
                "only failed messages are resent or handled; this one is {}",
                message.value.status.as_str()
            )));
        }
        Ok((lead, message))
    }

    async fn patient_record(
        &self,
        tenant: &Tenant,
        lead: &Lead,
    ) -> Result<Option<Patient>, AppError> {
        Ok(records::get::<Patient>(
            self.store.as_ref(),
            &keys::patient(&tenant.id, &lead.contact_key),
        )
        .await?
        .map(|p| p.value))
    }
}
