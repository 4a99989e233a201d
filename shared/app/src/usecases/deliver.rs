//! Delivering one ledger message: exactly one provider call per intent.
//!
//! The sender claims the entry (queued → sending, with a lease) by a
//! conditional write before it calls the provider, and records the outcome
//! after. A redelivered queue message finds the entry settled, or claimed by
//! a live lease, and does nothing. A claim whose lease ran out means a
//! sender died mid-call: with a provider that deduplicates by our id the
//! send is repeated; otherwise the message fails for a person to check,
//! because a second copy is worse than a visible failure.

use clinicflow_core::appointment::Appointment;
use clinicflow_core::blast::{self, BlastState, Effect};
use clinicflow_core::ids::{MessageId, RecordRef, TenantId};
use clinicflow_core::lead::Lead;
use clinicflow_core::message::{
    Audience, Failure, Handled, HandledVia, Message, MessageStatus, Purpose,
};
use clinicflow_core::messaging::Windows;
use clinicflow_core::template::TemplateKind;
use clinicflow_core::timer::{Timer, TimerKind};
use clinicflow_ports::{Condition, Receipt, SendError, Write};
use jiff::{SignedDuration, Timestamp};
use tracing::{info, warn};

use super::blasts::Hold;
use super::compose;
use super::{MAX_ROUNDS, busy, landed, pacing};
use crate::error::AppError;
use crate::records::{self, Patient, Versioned};
use crate::{App, keys, metrics};

/// When a blast message the provider found too fast is tried again, should
/// its page not send it first.
const RATE_RETRY: SignedDuration = SignedDuration::from_secs(2);

/// The longest wait between two delivery attempts.
const MAX_BACKOFF: SignedDuration = SignedDuration::from_hours(1);

/// Failure codes of messages that were never sent because they lost their use.
pub(crate) const STALE: &str = "stale";
pub(crate) const EXPIRED: &str = "expired";
/// The sender died mid-call: the provider may have delivered it.
pub(crate) const INTERRUPTED: &str = "interrupted";

impl App {
    pub async fn deliver_message(
        &self,
        tenant: &TenantId,
        about: &RecordRef,
        id: &MessageId,
    ) -> Result<(), AppError> {
        self.deliver(tenant, about, id, false).await.map(|_| ())
    }

    /// Delivers one ledger message. `by_page`: a blast's page sends it,
    /// having read the blast's state and taken the sender's turn for it
    /// (a blast takes its turns in chunks).
    /// `Ok(true)` when the provider held it back as too fast.
    pub(super) async fn deliver(
        &self,
        tenant: &TenantId,
        about: &RecordRef,
        id: &MessageId,
        by_page: bool,
    ) -> Result<bool, AppError> {
        let key = keys::message(tenant, about, id);
        for _ in 0..MAX_ROUNDS {
            let Some(Versioned {
                value: message,
                version,
            }) = records::get::<Message>(self.store.as_ref(), &key).await?
            else {
                self.clear_deliver_timer(tenant, about, id).await?;
                return Ok(false);
            };
            let now = self.clock.now();
            if message.status.is_settled() {
                self.clear_deliver_timer(tenant, about, id).await?;
                return Ok(false);
            }
            if let Some(failure) = self.no_longer_wanted(&message, now).await? {
                info!(message_id = %message.id, code = %failure.code, "message no longer wanted; not sent");
                if self.settle(message, version, Err(failure), now).await? {
                    return Ok(false);
                }
                continue;
            }
            if message.status == MessageStatus::Sending {
                if message.lease_until.is_some_and(|until| until > now) {
                    return Err(AppError::Busy(format!("message {id} is being sent")));
                }
                if !self.messenger.deduplicates(&message) {
                    let failure = Failure {
                        code: INTERRUPTED.into(),
                        reason: "sending was interrupted; the provider may or may not have delivered it, so it is not sent again automatically".into(),
                    };
                    if self.settle(message, version, Err(failure), now).await? {
                        return Ok(false);
                    }
                    continue;
                }
            }
            if let Some(mark) = message.blast.as_ref().filter(|_| !by_page) {
                match self.blast_hold(tenant, mark).await? {
                    Hold::Go => {}
                    Hold::Wait => {
                        // Paused: resuming drives its page, which sends it.
                        self.clear_deliver_timer(tenant, about, id).await?;
                        return Ok(false);
                    }
                    Hold::Stop(failure) => {
                        if self.settle(message, version, Err(failure), now).await? {
                            return Ok(false);
                        }
                        continue;
                    }
                }
            }
            if message.purpose == Purpose::Promotional && self.opted_out(&message).await? {
                let failure = Failure {
                    code: "opted_out".into(),
                    reason: format!(
                        "the patient opted out of promotional messages on {}",
                        message.channel.title()
                    ),
                };
                if self.settle(message, version, Err(failure), now).await? {
                    return Ok(false);
                }
                continue;
            }
            let rate = self.messenger.rate(&message);
            let mut turn = None;
            if let Some(rate) = &rate
                && !by_page
            {
                turn = Some(pacing::wait_turn(self, &message.tenant, rate).await?);
            }
            let now = self.clock.now();
            let mut claimed = message;
            claimed.status = MessageStatus::Sending;
            claimed.lease_until = now.saturating_add(self.tuning.lease).ok();
            claimed.attempts += 1;
            claimed.updated_at = now;
            if !landed(
                self.store
                    .write(vec![records::message(&claimed, Some(version))?])
                    .await,
            )? {
                continue;
            }
            // The turn counts for the second it was taken in: if claiming
            // took the call into the next one, take a turn there too.
            if let (Some(rate), Some(second)) = (&rate, turn)
                && self.clock.now().as_second() != second
            {
                pacing::wait_turn(self, &claimed.tenant, rate).await?;
            }
            let started = std::time::Instant::now();
            let result = self.messenger.send(&claimed).await;
            metrics::send_latency(claimed.channel, started.elapsed());
            if let Err(SendError::Retryable { code, .. } | SendError::Permanent { code, .. }) =
                &result
            {
                metrics::provider_error(claimed.channel, code);
            }
            return self.record_outcome(claimed, version + 1, result).await;
        }
        Err(busy("delivery"))
    }

    /// `Ok(true)` when the provider held a blast message back as too fast.
    async fn record_outcome(
        &self,
        message: Message,
        version: u64,
        result: Result<Receipt, SendError>,
    ) -> Result<bool, AppError> {
        let now = self.clock.now();
        if let (Some(mark), Err(e)) = (&message.blast, &result) {
            let (SendError::Retryable { code, reason } | SendError::Permanent { code, reason }) = e;
            match blast::effect(code) {
                Effect::SlowDown => {
                    let at = now.saturating_add(RATE_RETRY).unwrap_or(now);
                    self.hold_back(message, version, code, reason, Some(at), now)
                        .await?;
                    return Ok(true);
                }
                Effect::Pause => {
                    let why = format!("{code}: {}", blast::explain(code));
                    self.stop_blast(&message.tenant, &mark.blast, BlastState::Paused, &why)
                        .await?;
                    self.hold_back(message, version, code, reason, None, now)
                        .await?;
                    return Ok(false);
                }
                Effect::Fail => {
                    let why = format!("{code}: {}", blast::explain(code));
                    self.stop_blast(&message.tenant, &mark.blast, BlastState::Failed, &why)
                        .await?;
                }
                Effect::Skip | Effect::OptOut | Effect::Failed => {}
            }
        }
        match result {
            Ok(receipt) => {
                info!(message_id = %message.id, kind = message.kind.as_str(), channel = message.channel.as_str(), provider = %receipt.provider, "message sent");
                self.settle(message, version, Ok(receipt), now).await?;
            }
            Err(SendError::Permanent { code, reason }) => {
                warn!(message_id = %message.id, code = %code, "message failed for good");
                self.settle(message, version, Err(Failure { code, reason }), now)
                    .await?;
            }
            Err(SendError::Retryable { code, reason })
                if message.attempts >= self.tuning.max_send_attempts =>
            {
                warn!(message_id = %message.id, code = %code, attempts = message.attempts, "message failed after its last attempt");
                let reason = format!("{reason} (gave up after {} attempts)", message.attempts);
                self.settle(message, version, Err(Failure { code, reason }), now)
                    .await?;
            }
            Err(SendError::Retryable { code, reason }) => {
                let retry_at = now.saturating_add(self.backoff(&message)).unwrap_or(now);
                warn!(message_id = %message.id, code = %code, attempts = message.attempts, retry_at = %retry_at, "message will be retried");
                let mut queued = message;
                queued.status = MessageStatus::Queued;
                queued.lease_until = None;
                queued.error = Some(Failure { code, reason });
                queued.updated_at = now;
                let timer = compose::deliver_timer(&queued, retry_at);
                let writes = vec![
                    records::message(&queued, Some(version))?,
                    records::timer(&timer, now, Condition::Always)?,
                ];
                if !landed(self.store.write(writes).await)? {
                    // Someone moved the message on meanwhile; theirs stands.
                    warn!(message_id = %queued.id, "message changed while its retry was recorded");
                }
            }
        }
        Ok(false)
    }

    /// Puts a blast message the provider held back (too fast, or the
    /// blast is paused) back in the queue without counting the attempt;
    /// with `retry_at`, its timer sends it then should its page not.
    async fn hold_back(
        &self,
        message: Message,
        version: u64,
        code: &str,
        reason: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let mut queued = message;
        queued.status = MessageStatus::Queued;
        queued.attempts = queued.attempts.saturating_sub(1);
        queued.lease_until = None;
        queued.error = Some(Failure {
            code: code.to_owned(),
            reason: reason.to_owned(),
        });
        queued.updated_at = now;
        let timer = match retry_at {
            Some(at) => {
                records::timer(&compose::deliver_timer(&queued, at), now, Condition::Always)?
            }
            None => records::delete(
                deliver_timer_key(&queued.tenant, &queued.about, &queued.id),
                Condition::Always,
            ),
        };
        let writes = vec![records::message(&queued, Some(version))?, timer];
        if !landed(self.store.write(writes).await)? {
            warn!(message_id = %queued.id, "message changed while it was held back");
        }
        Ok(())
    }

    /// Records a final outcome and clears the delivery timer. `Ok(false)`
    /// when the entry changed since `version` was read.
    async fn settle(
        &self,
        mut message: Message,
        version: u64,
        outcome: Result<Receipt, Failure>,
        now: Timestamp,
    ) -> Result<bool, AppError> {
        let next = if outcome.is_ok() {
            MessageStatus::Sent
        } else {
            MessageStatus::Failed
        };
        if !message.status.can_become(next) {
            return Err(AppError::Internal(format!(
                "message {} cannot go from {} to {}",
                message.id,
                message.status.as_str(),
                next.as_str()
            )));
        }
        match outcome {
            Ok(receipt) => {
                message.status = MessageStatus::Sent;
                message.sent_at = Some(now);
                message.provider = Some(receipt.provider);
                message.provider_id = Some(receipt.provider_id);
                message.error = None;
            }
            Err(failure) => {
                message.status = MessageStatus::Failed;
                message.error = Some(failure);
            }
        }
        message.lease_until = None;
        message.updated_at = now;
        // A blast message has a timer only while held back (its page is
        // its safety net).
        let timed = message.blast.is_none() || message.error.is_some();
        let timer = deliver_timer_key(&message.tenant, &message.about, &message.id);
        let mut writes: Vec<Write> = Vec::new();
        if timed {
            writes.push(records::delete(timer, Condition::Always));
        }
        let stale = message
            .error
            .as_ref()
            .is_some_and(|e| matches!(e.code.as_str(), STALE | EXPIRED));
        // An interrupted send may have reached the patient: a copy on the
        // next channel is worse than a failure a person can see.
        let interrupted = message
            .error
            .as_ref()
            .is_some_and(|e| e.code == INTERRUPTED);
        if message.status == MessageStatus::Failed && !stale && !interrupted {
            writes.extend(self.fallback(&mut message, now).await?);
        }
        if stale {
            // Nobody needs to act on a message that lost its use: it stays
            // out of the failed-messages panel.
            message.handled = Some(Handled {
                via: HandledVia::Other,
                at: now,
                next: None,
                note: Some("not sent: no longer needed".into()),
            });
        }
        writes.push(records::message(&message, Some(version))?);
        if !landed(self.store.write(writes).await)? {
            return Ok(false);
        }
        metrics::message(message.channel, message.status.as_str());
        if message.status == MessageStatus::Sent
            && message.kind == TemplateKind::Greeting
            && let RecordRef::Lead(lead) = &message.about
        {
            metrics::greeting_sent(created_at(lead.as_str()), now);
        }
        if message.blast.is_some() {
            // Its recipient hears of it after; should that write be lost,
            // the page's next run (the blast's timer queues it) makes it.
            self.mirror(&message).await?;
        }
        Ok(true)
    }

    /// For a message that just failed for good: the writes that queue its
    /// next channel, if the tenant configured one that can carry it now,
    /// and mark it handled by that fallback.
    pub(super) async fn fallback(
        &self,
        failed: &mut Message,
        now: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        if failed.fallbacks.is_empty() || failed.handled.is_some() {
            return Ok(Vec::new());
        }
        let windows = self.windows(failed).await?;
        let Some(next) = compose::follow_up(failed, HandledVia::Fallback, windows, now)? else {
            return Ok(Vec::new());
        };
        info!(message_id = %failed.id, next = %next.id, channel = next.channel.as_str(), "falling back to the next channel");
        failed.handled = Some(Handled {
            via: HandledVia::Fallback,
            at: now,
            next: Some(next.id.clone()),
            note: None,
        });
        Ok(self.ledger_entry(&next, now)?.into())
    }

    /// Why a queued message should not go any more: its time of use has
    /// passed, or the appointment it was sent for moved or was cancelled
    /// since (a rule's message is for one occurrence of its appointment).
    async fn no_longer_wanted(
        &self,
        message: &Message,
        now: Timestamp,
    ) -> Result<Option<Failure>, AppError> {
        if message.expires_at.is_some_and(|at| now >= at) {
            return Ok(Some(Failure {
                code: EXPIRED.into(),
                reason: "its time of use passed before it could be sent".into(),
            }));
        }
        let (RecordRef::Appointment(id), Some(rule), Some(occurrence)) =
            (&message.about, &message.rule, &message.occurrence)
        else {
            return Ok(None);
        };
        let Some(tenant) = self.directory.tenant(&message.tenant) else {
            return Ok(None);
        };
        let Some(rule) = tenant.appointments.rule(rule.as_str()) else {
            return Ok(None);
        };
        if !rule.is_timed() {
            return Ok(None);
        }
        let appointment =
            records::get::<Appointment>(self.store.as_ref(), &keys::appointment(&tenant.id, id))
                .await?;
        let current = appointment.and_then(|a| rule.occurrence(&a.value));
        if current.as_deref() == Some(occurrence.as_str()) {
            return Ok(None);
        }
        Ok(Some(Failure {
            code: STALE.into(),
            reason: "the appointment changed since it was written (moved, cancelled or marked); the current plan sends what it needs".into(),
        }))
    }

    /// The patient record of `message`'s lead or appointment, for messages to patients.
    async fn patient_of(&self, message: &Message) -> Result<Option<Patient>, AppError> {
        if message.audience != Audience::Patient {
            return Ok(None);
        }
        let contact = match &message.about {
            _ if message.blast.is_some() => message.blast.as_ref().map(|m| m.contact.clone()),
            RecordRef::Blast(_) | RecordRef::Rule(_) => None,
            RecordRef::Deal(deal) => records::get::<clinicflow_core::pipeline::Deal>(
                self.store.as_ref(),
                &keys::deal(&message.tenant, deal),
            )
            .await?
            .map(|d| d.value.contact_key),
            RecordRef::Lead(lead) => {
                records::get::<Lead>(self.store.as_ref(), &keys::lead(&message.tenant, lead))
                    .await?
                    .map(|l| l.value.contact_key)
            }
            RecordRef::Appointment(id) => records::get::<Appointment>(
                self.store.as_ref(),
                &keys::appointment(&message.tenant, id),
            )
            .await?
            .map(|a| a.value.booking.patient.contact_key),
        };
        let Some(contact) = contact else {
            return Ok(None);
        };
        let key = keys::patient(&message.tenant, &contact);
        Ok(records::get::<Patient>(self.store.as_ref(), &key)
            .await?
            .map(|p| p.value))
    }

    /// When the recipient of `message` last wrote on WhatsApp and Instagram.
    pub(super) async fn windows(&self, message: &Message) -> Result<Windows, AppError> {
        Ok(self
            .patient_of(message)
            .await?
            .map(|p| p.windows)
            .unwrap_or_default())
    }

    /// Whether the recipient of `message` opted out of promotional
    /// messages on its channel.
    async fn opted_out(&self, message: &Message) -> Result<bool, AppError> {
        Ok(self
            .patient_of(message)
            .await?
            .is_some_and(|p| p.opted_out_of(message.channel)))
    }

    async fn clear_deliver_timer(
        &self,
        tenant: &TenantId,
        about: &RecordRef,
        id: &MessageId,
    ) -> Result<(), AppError> {
        let timer = deliver_timer_key(tenant, about, id);
        self.store
            .write(vec![records::delete(timer, Condition::Always)])
            .await
            .map_err(|e| AppError::Unavailable(e.to_string()))
    }

    /// `retry_base` doubled per attempt, capped, with a jitter of up to a
    /// fifth derived from the message id so retries of a burst spread out.
    fn backoff(&self, message: &Message) -> SignedDuration {
        let exponent = message.attempts.saturating_sub(1).min(16);
        let base = self
            .tuning
            .retry_base
            .checked_mul(1 << exponent)
            .unwrap_or(MAX_BACKOFF)
            .min(MAX_BACKOFF);
        let spread = message
            .id
            .as_str()
            .bytes()
            .fold(u32::from(message.attempts as u8), |h, b| {
                h.wrapping_mul(31).wrapping_add(u32::from(b))
            })
            % 20;
        base + base / 100 * i32::try_from(spread).unwrap_or(0)
    }
}

fn deliver_timer_key(
    tenant: &TenantId,
    about: &RecordRef,
    id: &MessageId,
) -> clinicflow_ports::Key {
    keys::timer(tenant, about, &Timer::name_of(TimerKind::Deliver, Some(id)))
}

/// When a record with this id was made: ids are ULIDs, whose first 48 bits
/// are the millisecond they were made in.
fn created_at(id: &str) -> Option<Timestamp> {
    let id = ulid::Ulid::from_string(id).ok()?;
    Timestamp::from_millisecond(i64::try_from(id.timestamp_ms()).ok()?).ok()
}
