//! A blast's outcomes: each recipient kept in step with its message (sent,
//! delivered, read, failed, skipped; an opt-out the provider reported
//! recorded), and the patient's reply or booking counted as the blast's.

use clinicflow_core::blast::{self, Effect, Recipient, RecipientState};
use clinicflow_core::ids::TenantId;
use clinicflow_core::message::{HandledVia, Message, MessageStatus};
use clinicflow_ports::Write;
use jiff::Timestamp;
use tracing::info;

use super::fanout::STOPPED;
use crate::error::AppError;
use crate::records::{self, OptOut, Patient, Versioned};
use crate::usecases::{MAX_ROUNDS, busy, landed};
use crate::{App, keys};

impl App {
    /// Brings a blast message's recipient in step with the message (and
    /// records an opt-out the provider reported).
    pub(crate) async fn mirror(&self, message: &Message) -> Result<(), AppError> {
        for _ in 0..MAX_ROUNDS {
            let writes = self.mirror_writes(message, self.clock.now()).await?;
            if writes.is_empty() || landed(self.store.write(writes).await)? {
                return Ok(());
            }
        }
        Err(busy("blast recipient"))
    }

    /// The writes that bring a blast message's recipient in step with the
    /// message (and record an opt-out the provider reported).
    async fn mirror_writes(
        &self,
        message: &Message,
        now: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let Some(mark) = &message.blast else {
            return Ok(Vec::new());
        };
        let key = keys::recipient(&message.tenant, &mark.blast, mark.page, &mark.contact);
        let Some(Versioned {
            value: mut r,
            version,
        }) = records::get::<Recipient>(self.store.as_ref(), &key).await?
        else {
            return Ok(Vec::new());
        };
        if r.message.as_ref() != Some(&message.id) {
            // The recipient follows a later attempt (a fallback).
            return Ok(Vec::new());
        }
        let mut writes = Vec::new();
        let code = message.error.as_ref().map(|e| e.code.clone());
        let next = match message.status {
            MessageStatus::Queued | MessageStatus::Sending => return Ok(writes),
            MessageStatus::Sent => RecipientState::Sent,
            MessageStatus::Delivered => RecipientState::Delivered,
            MessageStatus::Read => RecipientState::Read,
            MessageStatus::Failed => {
                if let Some(h) = &message.handled
                    && h.via == HandledVia::Fallback
                    && let Some(next) = &h.next
                {
                    // Its fallback carries the recipient on.
                    r.message = Some(next.clone());
                    r.updated_at = now;
                    writes.push(records::recipient(
                        &message.tenant,
                        &mark.blast,
                        mark.page,
                        &r,
                        Some(version),
                    )?);
                    return Ok(writes);
                }
                match code.as_deref().map(blast::effect) {
                    _ if code.as_deref() == Some(STOPPED) => RecipientState::Cancelled,
                    Some(Effect::Skip) => RecipientState::Skipped,
                    Some(Effect::OptOut) => {
                        writes.extend(self.opt_out_writes(message, now).await?);
                        RecipientState::Skipped
                    }
                    _ => RecipientState::Failed,
                }
            }
        };
        if r.state == next || (r.state.is_final() && next < r.state) {
            return Ok(Vec::new());
        }
        r.state = next;
        r.updated_at = now;
        if message.provider_id.is_some() {
            r.provider_id = message.provider_id.clone();
        }
        if let Some(e) = &message.error
            && matches!(
                next,
                RecipientState::Failed | RecipientState::Skipped | RecipientState::Cancelled
            )
        {
            r.code = Some(e.code.clone());
            r.reason = Some(match blast::effect(&e.code) {
                Effect::Failed => e.reason.clone(),
                _ => blast::explain(&e.code).to_owned(),
            });
        }
        writes.push(records::recipient(
            &message.tenant,
            &mark.blast,
            mark.page,
            &r,
            Some(version),
        )?);
        Ok(writes)
    }

    /// The patient stopped marketing messages on the channel (WhatsApp's
    /// 131050): recorded as their opt-out.
    async fn opt_out_writes(
        &self,
        message: &Message,
        now: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let Some(mark) = &message.blast else {
            return Ok(Vec::new());
        };
        let key = keys::patient(&message.tenant, &mark.contact);
        let Some(p) = records::get::<Patient>(self.store.as_ref(), &key).await? else {
            return Ok(Vec::new());
        };
        if p.value.opted_out_of(message.channel) {
            return Ok(Vec::new());
        }
        let mut record = p.value;
        record.opted_out.insert(
            message.channel,
            OptOut {
                at: now,
                source: message
                    .provider
                    .clone()
                    .unwrap_or_else(|| message.channel.as_str().to_owned()),
                word: "131050".into(),
            },
        );
        record.updated_at = now;
        Ok(vec![records::patient(
            &message.tenant,
            &record,
            Some(p.version),
        )?])
    }

    /// Attributes a patient's reply to a blast message: the one it
    /// answers (WhatsApp's `context` names it), else the last one they got
    /// within 72 hours. Recorded once.
    pub(crate) async fn attribute_reply(
        &self,
        tenant: &TenantId,
        patient: &Patient,
        context: Option<(&str, &str)>,
        at: Timestamp,
    ) -> Result<(), AppError> {
        let mut target = None;
        if let Some((provider, id)) = context {
            let mut query =
                clinicflow_ports::Query::partition(keys::provider_index_pk(tenant, provider, id));
            query.index = clinicflow_ports::Index::Gsi2;
            if let Some(item) = self.store.query(&query).await?.items.first() {
                let m: Message = records::decode(item)?;
                target = m.blast.map(|mark| (mark.blast, mark.page));
            }
        }
        if target.is_none()
            && let Some(last) = &patient.last_blast
            && at >= last.at
            && at.duration_since(last.at) <= blast::REPLY_WINDOW
        {
            target = Some((last.blast.clone(), last.page));
        }
        let Some((blast_id, page)) = target else {
            return Ok(());
        };
        let key = keys::recipient(tenant, &blast_id, page, &patient.contact_key);
        for _ in 0..MAX_ROUNDS {
            let Some(Versioned {
                value: mut r,
                version,
            }) = records::get::<Recipient>(self.store.as_ref(), &key).await?
            else {
                return Ok(());
            };
            if r.replied_at.is_some() {
                return Ok(());
            }
            r.replied_at = Some(at);
            r.updated_at = self.clock.now();
            let write = records::recipient(tenant, &blast_id, page, &r, Some(version))?;
            if landed(self.store.write(vec![write]).await)? {
                info!(tenant = %tenant, blast = %blast_id, "blast reply recorded");
                return Ok(());
            }
        }
        Err(busy("blast outcome"))
    }

    /// The write that attributes a patient's booking or move to the last
    /// blast message they got within 7 days (made with the appointment's
    /// change, in its transaction); none when there is nothing to record.
    pub(crate) async fn booking_attribution(
        &self,
        tenant: &TenantId,
        patient: &Patient,
        at: Timestamp,
    ) -> Result<Option<Write>, AppError> {
        let Some(last) = &patient.last_blast else {
            return Ok(None);
        };
        if at < last.at || at.duration_since(last.at) > blast::BOOKING_WINDOW {
            return Ok(None);
        }
        let key = keys::recipient(tenant, &last.blast, last.page, &patient.contact_key);
        let Some(Versioned {
            value: mut r,
            version,
        }) = records::get::<Recipient>(self.store.as_ref(), &key).await?
        else {
            return Ok(None);
        };
        if r.rebooked_at.is_some() {
            return Ok(None);
        }
        r.rebooked_at = Some(at);
        r.updated_at = at;
        records::recipient(tenant, &last.blast, last.page, &r, Some(version)).map(Some)
    }
}
