//! Sending a blast: one queue message per page of its frozen audience.
//!
//! A pending recipient is claimed by putting its message in the ledger
//! `Absent`, under an id made of the blast and the patient: whoever comes
//! second — a redelivered page, a second consumer, a run after a crash —
//! finds the message and never makes another. The recipient's record is
//! written after (in flight), and again when its message is settled; each
//! of these writes is one a crash may stop after, and the page's next run
//! (the blast's timer queues unfinished pages) picks up from the message.
//! The message goes through the ordinary delivery (its lease, opt-outs,
//! fallbacks) with the sender's turns taken in chunks. The first message
//! of a blast goes alone: a template the provider does not have fails the
//! blast on it.
//!
//! The blast's state is read before every chunk: a pause or a cancel stops
//! the sending within a chunk.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clinicflow_core::blast::{self, Blast, BlastState, LastBlast, Recipient, RecipientState};
use clinicflow_core::ids::{BlastId, TenantId};
use clinicflow_core::message::{Audience, BlastMark, Failure, Message, Purpose};
use clinicflow_core::template::TemplateKind;
use clinicflow_core::tenant::Tenant;
use clinicflow_ports::{Condition, SendRate};
use futures_util::future::join_all;
use jiff::Timestamp;
use tracing::{info, warn};

use super::control::blast_timer;
use crate::error::AppError;
use crate::records::{self, Patient, Versioned};
use crate::usecases::{MAX_ROUNDS, busy, landed, pacing};
use crate::{App, keys};

/// Recipients claimed and sent together (and between two reads of the
/// blast's state).
const CHUNK: usize = 50;

/// How long one run of a page sends before it hands the rest of the page
/// to a new queue message (the blast function's timeout is 10 minutes).
const PAGE_BUDGET: Duration = Duration::from_secs(240);

/// Tries of a blast's first message while the provider says "too fast".
const PROBE_TRIES: usize = 8;
/// Rounds of 200 ms a page waits for the blast's first message.
const PROBE_WAIT_ROUNDS: usize = 50;

/// The longest a page slows down for after a provider said "too fast".
const MAX_SLOWDOWN: Duration = Duration::from_secs(8);

/// What the delivery of a blast message does, given its blast's state.
pub(crate) enum Hold {
    Go,
    /// Not now (paused, not started): leave it queued.
    Wait,
    /// Never (cancelled, failed): settle it with this failure.
    Stop(Failure),
}

/// A planned recipient with its record and the record's version, if it
/// has one yet.
type Slot = (Recipient, Option<u64>);

/// The failure code of a blast message its blast's stop kept from going.
pub(super) const STOPPED: &str = "blast_stopped";

impl App {
    /// Sends what is due on page `page` of blast `id`.
    pub async fn send_blast_page(
        &self,
        tenant_id: &TenantId,
        id: &BlastId,
        page: u32,
    ) -> Result<(), AppError> {
        let Some(tenant) = self.directory.tenant(tenant_id).cloned() else {
            warn!(tenant = %tenant_id, "blast page for a tenant no longer configured; dropped");
            return Ok(());
        };
        let Some(Versioned { value: blast, .. }) =
            records::get::<Blast>(self.store.as_ref(), &keys::blast(tenant_id, id)).await?
        else {
            return Ok(());
        };
        if page >= blast.pages {
            return Ok(());
        }
        if blast.state.is_stopped() {
            return self.stop_page(&tenant, &blast, page).await;
        }
        if blast.state != BlastState::Sending {
            return Ok(());
        }
        let started = Instant::now();
        let recipients = self.page_recipients(&tenant, &blast, page).await?;
        let now = self.clock.now();
        let mut due = Vec::new();
        let mut later: Option<Timestamp> = None;
        for r in recipients {
            match r.0.state {
                RecipientState::InFlight => due.push(r),
                RecipientState::Pending => {
                    // Quiet hours are the patient's now, not the preview's.
                    let at = quiet_until(&tenant, &r.0, now);
                    if at > now {
                        later = Some(later.map_or(at, |l| l.min(at)));
                    } else {
                        due.push(r);
                    }
                }
                _ => {}
            }
        }
        if blast.probed_at.is_none() && !due.is_empty() {
            let go_on = if page == 0 {
                let first = due.remove(0);
                self.probe(&tenant, &blast, page, &first).await?
            } else {
                // Page 0 sends the first message alone; the others wait for it.
                self.await_probe(tenant_id, id).await?
            };
            if !go_on {
                return Ok(());
            }
        }
        let mut slowdown = Duration::ZERO;
        for chunk in due.chunks(CHUNK) {
            if started.elapsed() > PAGE_BUDGET {
                // A slow sender: the rest of the page goes as a new queue
                // message, well inside the function's timeout.
                self.store
                    .write(vec![super::preview::page_work(&blast, page)])
                    .await
                    .map_err(|e| AppError::Unavailable(e.to_string()))?;
                return Ok(());
            }
            let current = self.blast(tenant_id, id).await?.value;
            if current.state != BlastState::Sending {
                info!(tenant = %tenant_id, blast = %id, page, state = current.state.as_str(), "blast page stopped");
                return Ok(());
            }
            if !slowdown.is_zero() {
                tokio::time::sleep(slowdown).await;
            }
            let claimed = join_all(chunk.iter().map(|r| self.claim(&tenant, &current, page, r)))
                .await
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            let messages: Vec<Message> = claimed.into_iter().flatten().collect();
            let slowed = self.send_chunk(&tenant, messages).await?;
            slowdown = if slowed {
                (slowdown * 2).clamp(Duration::from_millis(250), MAX_SLOWDOWN)
            } else {
                slowdown / 2
            };
        }
        if let Some(at) = later {
            self.wake_blast_at(&blast, at).await?;
        }
        Ok(())
    }

    /// A stopped blast's page: the messages it claimed but did not send are
    /// settled as not sent (their recipients cancelled); those it never
    /// claimed count as cancelled already.
    async fn stop_page(&self, tenant: &Tenant, blast: &Blast, page: u32) -> Result<(), AppError> {
        for (r, _) in self.page_recipients(tenant, blast, page).await? {
            if r.state != RecipientState::InFlight {
                continue;
            }
            let Some(id) = &r.message else {
                continue;
            };
            let key = keys::message(&tenant.id, &r.planned.about, id);
            match records::get::<Message>(self.store.as_ref(), &key).await? {
                Some(m) if m.value.status.is_settled() => self.mirror(&m.value).await?,
                Some(m) => {
                    // Its delivery finds the blast stopped and settles it.
                    self.deliver(&tenant.id, &m.value.about, &m.value.id, false)
                        .await?;
                }
                None => {}
            }
        }
        Ok(())
    }

    /// Sends a blast's first message alone, again while the provider says
    /// "too fast", and records that the blast may go on; `false` when the
    /// answer stopped the blast (a missing template), busy when the
    /// message could not be sent yet (the page comes back).
    async fn probe(
        &self,
        tenant: &Tenant,
        blast: &Blast,
        page: u32,
        first: &Slot,
    ) -> Result<bool, AppError> {
        let mut wait = Duration::from_millis(250);
        for _ in 0..PROBE_TRIES {
            let Some(message) = self.claim(tenant, blast, page, first).await? else {
                break;
            };
            let slowed = self.send_chunk(tenant, vec![message.clone()]).await?;
            if !slowed {
                break;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_SLOWDOWN);
        }
        let key = keys::message(
            &tenant.id,
            &first.0.planned.about,
            &blast::message_id(&blast.id, &first.0.planned.contact).map_err(AppError::Internal)?,
        );
        let settled = records::get::<Message>(self.store.as_ref(), &key)
            .await?
            .is_some_and(|m| m.value.status.is_settled());
        for _ in 0..MAX_ROUNDS {
            let Versioned {
                value: mut current,
                version,
            } = self.blast(&tenant.id, &blast.id).await?;
            if current.state != BlastState::Sending {
                return Ok(false);
            }
            if !settled {
                // Another run of this page is sending it: wait for its answer.
                return self.await_probe(&tenant.id, &blast.id).await;
            }
            if current.probed_at.is_some() {
                return Ok(true);
            }
            let now = self.clock.now();
            current.probed_at = Some(now);
            current.updated_at = now;
            if landed(
                self.store
                    .write(vec![records::blast(&current, Some(version))?])
                    .await,
            )? {
                info!(tenant = %tenant.id, blast = %blast.id, "blast's first message answered; the rest follow");
                return Ok(true);
            }
        }
        Err(busy("blast"))
    }

    /// Waits a little for the blast's first message to be answered:
    /// `true` once it is, `false` if the blast stopped; busy (the page
    /// comes back later) if it is not answered yet.
    async fn await_probe(&self, tenant: &TenantId, id: &BlastId) -> Result<bool, AppError> {
        for _ in 0..PROBE_WAIT_ROUNDS {
            let blast = self.blast(tenant, id).await?.value;
            if blast.state != BlastState::Sending {
                return Ok(false);
            }
            if blast.probed_at.is_some() {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(AppError::Busy(format!(
            "blast {id} waits for its first message"
        )))
    }

    /// The page's recipients: each planned one with its record, if it has
    /// one yet (a recipient gets its record when it is claimed).
    pub(super) async fn page_recipients(
        &self,
        tenant: &Tenant,
        blast: &Blast,
        page: u32,
    ) -> Result<Vec<Slot>, AppError> {
        let audience = self.audience_page(&tenant.id, &blast.id, page).await?;
        let mut recorded: BTreeMap<_, Versioned<Recipient>> = self
            .page_records::<Recipient>(&tenant.id, &blast.id, page)
            .await?
            .into_iter()
            .map(|r| (r.value.planned.contact.clone(), r))
            .collect();
        let now = self.clock.now();
        Ok(audience
            .recipients
            .into_iter()
            .map(|p| match recorded.remove(&p.contact) {
                Some(r) => (r.value, Some(r.version)),
                None => (Recipient::pending(p, now), None),
            })
            .collect())
    }

    /// Claims a recipient: the patient's record marked, then the message
    /// put in the ledger under its id made of the blast and the patient
    /// (the one claim: a second finds it), then the recipient recorded in
    /// flight. Each step is one write that a crash may stop after; the
    /// next run of the page picks up where it stopped. The message to
    /// send, if it still needs sending.
    async fn claim(
        &self,
        tenant: &Tenant,
        blast: &Blast,
        page: u32,
        slot: &Slot,
    ) -> Result<Option<Message>, AppError> {
        let (mut r, mut version) = slot.clone();
        for _ in 0..MAX_ROUNDS {
            let now = self.clock.now();
            let message = match r.state {
                RecipientState::InFlight => {
                    let Some(id) = &r.message else {
                        return Ok(None);
                    };
                    let key = keys::message(&tenant.id, &r.planned.about, id);
                    match records::get::<Message>(self.store.as_ref(), &key).await? {
                        Some(m) => m.value,
                        None => return Ok(None),
                    }
                }
                RecipientState::Pending => {
                    self.mark_patient(tenant, blast, page, &r, now).await?;
                    let message = self.blast_message(tenant, blast, page, &r, now).await?;
                    if landed(
                        self.store
                            .write(vec![records::message(&message, None)?])
                            .await,
                    )? {
                        message
                    } else {
                        // Claimed before: by a run that stopped, or another consumer.
                        let key = keys::message(&tenant.id, &message.about, &message.id);
                        match records::get::<Message>(self.store.as_ref(), &key).await? {
                            Some(m) => m.value,
                            None => continue,
                        }
                    }
                }
                _ => return Ok(None),
            };
            if r.state == RecipientState::Pending {
                let mut flying = r.clone();
                flying.state = RecipientState::InFlight;
                flying.message = Some(message.id.clone());
                flying.updated_at = now;
                let write = records::recipient(&tenant.id, &blast.id, page, &flying, version)?;
                if !landed(self.store.write(vec![write]).await)? {
                    let key = keys::recipient(&tenant.id, &blast.id, page, &r.planned.contact);
                    match records::get::<Recipient>(self.store.as_ref(), &key).await? {
                        Some(fresh) => (r, version) = (fresh.value, Some(fresh.version)),
                        None => version = None,
                    }
                    continue;
                }
            }
            if message.status.is_settled() {
                // Settled before its recipient heard of it.
                self.mirror(&message).await?;
                return Ok(None);
            }
            return Ok(Some(message));
        }
        Err(busy("blast recipient"))
    }

    /// Marks the patient's record with the blast (what their reply or next
    /// booking is attributed to) and, for a promotion, counts it against
    /// the per-patient cap; once per blast.
    async fn mark_patient(
        &self,
        tenant: &Tenant,
        blast: &Blast,
        page: u32,
        r: &Recipient,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let key = keys::patient(&tenant.id, &r.planned.contact);
        for _ in 0..MAX_ROUNDS {
            let Some(p) = records::get::<Patient>(self.store.as_ref(), &key).await? else {
                return Ok(());
            };
            if p.value
                .last_blast
                .as_ref()
                .is_some_and(|l| l.blast == blast.id)
            {
                return Ok(());
            }
            let mut record = p.value;
            record.last_blast = Some(LastBlast {
                blast: blast.id.clone(),
                page,
                at: now,
            });
            if blast.purpose == Purpose::Promotional {
                let since = now
                    .checked_sub(tenant.blasts.promotional_period)
                    .unwrap_or(now);
                record.promotions.retain(|at| *at >= since);
                record.promotions.push(now);
            }
            record.updated_at = now;
            let write = records::patient(&tenant.id, &record, Some(p.version))?;
            if landed(self.store.write(vec![write]).await)? {
                return Ok(());
            }
        }
        Err(busy("patient"))
    }

    /// The blast's message to one recipient, rendered from the record as it
    /// stands now.
    async fn blast_message(
        &self,
        tenant: &Tenant,
        blast: &Blast,
        page: u32,
        r: &Recipient,
        now: Timestamp,
    ) -> Result<Message, AppError> {
        let p = &r.planned;
        let template = tenant
            .blasts
            .templates
            .get(&blast.template)
            .ok_or_else(|| {
                AppError::Internal(format!(
                    "blast {} names template {} the configuration no longer has",
                    blast.id, blast.template
                ))
            })?;
        let vars = self.blast_vars(tenant, &p.about).await?;
        let text = tenant
            .blasts
            .render(&template.id, &p.language, &vars)
            .map_err(AppError::Internal)?;
        let call = template
            .whatsapp
            .as_ref()
            .map(|w| w.call(&p.language, &vars));
        let id = blast::message_id(&blast.id, &p.contact).map_err(AppError::Internal)?;
        Ok(Message {
            template: if p.template { call.clone() } else { None },
            whatsapp_template: call,
            subject: Some(tenant.name.clone()),
            fallbacks: p.fallbacks.clone(),
            blast: Some(BlastMark {
                blast: blast.id.clone(),
                page,
                contact: p.contact.clone(),
            }),
            ..Message::queued(
                id,
                tenant.id.clone(),
                p.about.clone(),
                TemplateKind::Blast,
                Audience::Patient,
                p.route.clone(),
                blast.purpose,
                p.language.clone(),
                text,
                now,
            )
        })
    }

    /// Sends claimed messages, taking each sender's turns in chunks;
    /// whether a provider said "too fast" to any.
    async fn send_chunk(&self, tenant: &Tenant, messages: Vec<Message>) -> Result<bool, AppError> {
        let mut by_sender: BTreeMap<Option<String>, (Option<SendRate>, Vec<Message>)> =
            BTreeMap::new();
        for m in messages {
            let rate = self.messenger.rate(&m);
            let entry = by_sender
                .entry(rate.as_ref().map(|r| r.sender.clone()))
                .or_insert_with(|| (rate, Vec::new()));
            entry.1.push(m);
        }
        let mut slowed = false;
        for (_, (rate, mut pending)) in by_sender {
            while !pending.is_empty() {
                let n = match &rate {
                    Some(rate) => {
                        let wanted = u32::try_from(pending.len()).unwrap_or(u32::MAX);
                        let (granted, _) =
                            pacing::take_turns(self, &tenant.id, rate, wanted).await?;
                        usize::try_from(granted).unwrap_or(1).max(1)
                    }
                    None => pending.len(),
                };
                let batch: Vec<Message> = pending.drain(..n.min(pending.len())).collect();
                let outcomes = join_all(
                    batch
                        .iter()
                        .map(|m| self.deliver(&m.tenant, &m.about, &m.id, true)),
                )
                .await;
                for (m, outcome) in batch.iter().zip(outcomes) {
                    match outcome {
                        Ok(held_back) => slowed |= held_back,
                        // Its timer (or the page's next run) sends it later.
                        Err(e) => {
                            warn!(message_id = %m.id, error = %e, "blast message not sent this time")
                        }
                    }
                }
            }
        }
        Ok(slowed)
    }

    /// Arms the blast's timer at `at` unless it is due sooner.
    async fn wake_blast_at(&self, blast: &Blast, at: Timestamp) -> Result<(), AppError> {
        let now = self.clock.now();
        let key = keys::timer(
            &blast.tenant,
            &clinicflow_core::ids::RecordRef::Blast(blast.id.clone()),
            clinicflow_core::timer::TimerKind::Blast.as_str(),
        );
        for _ in 0..MAX_ROUNDS {
            let current =
                records::get::<clinicflow_core::timer::Timer>(self.store.as_ref(), &key).await?;
            let condition = match &current {
                Some(t) if t.value.due_at <= at => return Ok(()),
                Some(t) => Condition::VersionIs(t.version),
                None => Condition::Absent,
            };
            let write = records::timer(&blast_timer(blast, at), now, condition)?;
            if landed(self.store.write(vec![write]).await)? {
                return Ok(());
            }
        }
        Err(busy("blast timer"))
    }

    /// Whether a blast message may go now, given its blast.
    pub(crate) async fn blast_hold(
        &self,
        tenant: &TenantId,
        mark: &BlastMark,
    ) -> Result<Hold, AppError> {
        let Some(blast) =
            records::get::<Blast>(self.store.as_ref(), &keys::blast(tenant, &mark.blast)).await?
        else {
            return Ok(Hold::Go);
        };
        Ok(match blast.value.state {
            BlastState::Sending | BlastState::Done => Hold::Go,
            BlastState::Cancelled | BlastState::Failed => Hold::Stop(Failure {
                code: STOPPED.into(),
                reason: format!(
                    "the blast was {} before this message went",
                    blast.value.state.as_str()
                ),
            }),
            BlastState::Previewed | BlastState::Scheduled | BlastState::Paused => Hold::Wait,
        })
    }

    /// Pauses or fails a sending blast with the provider's reason.
    pub(crate) async fn stop_blast(
        &self,
        tenant: &TenantId,
        id: &BlastId,
        state: BlastState,
        reason: &str,
    ) -> Result<(), AppError> {
        for _ in 0..MAX_ROUNDS {
            let now = self.clock.now();
            let Some(Versioned {
                value: mut blast,
                version,
            }) = records::get::<Blast>(self.store.as_ref(), &keys::blast(tenant, id)).await?
            else {
                return Ok(());
            };
            if !matches!(blast.state, BlastState::Sending | BlastState::Scheduled) {
                return Ok(());
            }
            blast.state = state;
            blast.reason = Some(reason.to_owned());
            blast.updated_at = now;
            if state == BlastState::Failed {
                blast.finished_at = Some(now);
            }
            if landed(
                self.store
                    .write(vec![records::blast(&blast, Some(version))?])
                    .await,
            )? {
                warn!(tenant = %tenant, blast = %id, state = state.as_str(), %reason, "blast stopped by the provider's answer");
                return Ok(());
            }
        }
        Err(busy("blast"))
    }
}

/// When the patient's quiet hours end, if they are in them at `now` (the
/// blast's send hours in the patient's time zone).
fn quiet_until(tenant: &Tenant, r: &Recipient, now: Timestamp) -> Timestamp {
    let zone = r
        .planned
        .zone
        .as_deref()
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .unwrap_or_else(|| tenant.default_branch().time_zone.clone());
    tenant.appointments.send_hours.fit(now, &zone)
}
