//! What staff do with a previewed blast — send it (now or later), test
//! it, pause, resume, cancel — and what they read of it: exact counts and
//! every recipient's state. Also the blast's timer, which starts a
//! scheduled blast and drives its pages again until every recipient has
//! its outcome.

use clinicflow_core::blast::{
    AudiencePage, Blast, BlastState, Progress, Recipient, RecipientState,
};
use clinicflow_core::contact::{PhoneNumber, Reach};
use clinicflow_core::ids::{BlastId, MessageId, RecordRef, TenantId};
use clinicflow_core::message::{Audience, Channel, Message};
use clinicflow_core::messaging::{Route, TemplateCall};
use clinicflow_core::template::TemplateKind;
use clinicflow_core::tenant::Tenant;
use clinicflow_core::timer::{Timer, TimerKind};
use clinicflow_ports::{Condition, Query, SortKey, Write};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::info;

use super::preview::{BlastInput, page_work, page_works};
use crate::error::AppError;
use crate::records::{self, Versioned, decode};
use crate::usecases::{MAX_ROUNDS, busy, landed};
use crate::{App, keys};

/// Queue writes per transaction when a blast's pages are queued.
const ENQUEUE_BATCH: usize = 50;

/// A blast as staff see it: the blast and, once it was sent, exact counts.
#[derive(Clone, Debug, Serialize)]
pub struct BlastView {
    #[serde(flatten)]
    pub blast: Blast,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

impl BlastView {
    pub(super) fn previewed(blast: Blast) -> BlastView {
        BlastView {
            blast,
            progress: None,
        }
    }
}

/// The send was refused: the filter's audience changed since the preview.
#[derive(Clone, Debug, Serialize)]
pub struct Refused {
    pub problem: String,
    /// The audience as it is now, kept as a new preview to send instead.
    pub preview: BlastView,
}

/// Which recipients to list.
#[derive(Clone, Debug, Default)]
pub struct RecipientFilter {
    pub state: Option<RecipientState>,
}

impl App {
    /// Sends the previewed blast `id` now, or at `at`. The audience is
    /// counted again: a different one is refused with the new preview.
    /// Sending a blast already sent answers its state (a double click
    /// sends nothing twice).
    pub async fn send_blast(
        &self,
        tenant: &Tenant,
        id: &str,
        at: Option<Timestamp>,
    ) -> Result<Result<BlastView, Refused>, AppError> {
        let id = blast_id(id)?;
        let now = self.clock.now();
        if let Some(at) = at
            && at <= now
        {
            return Err(AppError::invalid("at", "must be in the future"));
        }
        let Versioned {
            value: blast,
            version,
        } = self.blast(&tenant.id, &id).await?;
        if blast.state != BlastState::Previewed {
            return Ok(Ok(self.blast_view(tenant, blast).await?));
        }
        let input = BlastInput {
            template: blast.template.clone(),
            purpose: Some(blast.purpose),
            filter: blast.filter.clone(),
            name: blast.name.clone(),
        };
        let now_plan = self.plan_blast(tenant, &input, now).await?;
        if now_plan.blast.fingerprint != blast.fingerprint {
            self.keep(tenant, &now_plan).await?;
            info!(tenant = %tenant.id, blast = %id, new = %now_plan.blast.id, "blast refused: its audience changed since the preview");
            return Ok(Err(Refused {
                problem: format!(
                    "the audience changed since preview {id} ({} recipients then, {} now); nothing was sent: check the new preview {} and send it instead",
                    blast.planned, now_plan.blast.planned, now_plan.blast.id
                ),
                preview: BlastView::previewed(now_plan.blast),
            }));
        }
        let mut started = blast.clone();
        started.updated_at = now;
        started.send_at = at;
        let timer_at = match at {
            Some(at) => {
                started.state = BlastState::Scheduled;
                at
            }
            None => {
                started.state = BlastState::Sending;
                started.started_at = Some(now);
                now.saturating_add(self.tuning.safety_net).unwrap_or(now)
            }
        };
        let mut writes = vec![
            records::blast(&started, Some(version))?,
            records::timer(&blast_timer(&started, timer_at), now, Condition::Always)?,
        ];
        let works = if started.state == BlastState::Sending {
            page_works(&started)
        } else {
            Vec::new()
        };
        let rest = first_batch(&mut writes, works);
        if !landed(self.store.write(writes).await)? {
            // Someone else sent (or cancelled) it meanwhile: theirs stands.
            let current = self.blast(&tenant.id, &id).await?.value;
            return Ok(Ok(self.blast_view(tenant, current).await?));
        }
        self.enqueue_rest(rest).await?;
        info!(tenant = %tenant.id, blast = %id, state = started.state.as_str(), planned = started.planned, "blast sent");
        // Nothing has gone yet: every recipient is pending.
        let progress = Progress {
            planned: started.planned,
            pending: started.planned,
            ..Progress::default()
        };
        Ok(Ok(BlastView {
            blast: started,
            progress: Some(progress),
        }))
    }

    /// Pauses a scheduled or sending blast; resumable.
    pub async fn pause_blast(&self, tenant: &Tenant, id: &str) -> Result<BlastView, AppError> {
        self.change_blast(tenant, id, |b| match b.state {
            BlastState::Sending | BlastState::Scheduled => {
                b.state = BlastState::Paused;
                b.reason = Some("paused by staff".into());
                Ok(true)
            }
            BlastState::Paused => Ok(false),
            s => Err(format!("a {} blast cannot be paused", s.as_str())),
        })
        .await
    }

    /// Resumes a paused blast: its pages go again, and send only to those
    /// who have no outcome yet.
    pub async fn resume_blast(&self, tenant: &Tenant, id: &str) -> Result<BlastView, AppError> {
        self.change_blast(tenant, id, |b| match b.state {
            BlastState::Paused => {
                b.state = BlastState::Sending;
                b.reason = None;
                Ok(true)
            }
            BlastState::Sending => Ok(false),
            s => Err(format!("a {} blast cannot be resumed", s.as_str())),
        })
        .await
    }

    /// Cancels a blast for good: who has not been sent to never will be.
    pub async fn cancel_blast(&self, tenant: &Tenant, id: &str) -> Result<BlastView, AppError> {
        self.change_blast(tenant, id, |b| match b.state {
            BlastState::Previewed
            | BlastState::Scheduled
            | BlastState::Sending
            | BlastState::Paused => {
                b.state = BlastState::Cancelled;
                b.reason = Some("cancelled by staff".into());
                Ok(true)
            }
            BlastState::Cancelled => Ok(false),
            s => Err(format!("a {} blast cannot be cancelled", s.as_str())),
        })
        .await
    }

    /// Applies `change` to the blast (`Ok(false)`: nothing to do; `Err`: a
    /// conflict), queueing its pages again when it goes back to sending.
    async fn change_blast(
        &self,
        tenant: &Tenant,
        id: &str,
        change: impl Fn(&mut Blast) -> Result<bool, String>,
    ) -> Result<BlastView, AppError> {
        let id = blast_id(id)?;
        for _ in 0..MAX_ROUNDS {
            let now = self.clock.now();
            let Versioned {
                value: mut blast,
                version,
            } = self.blast(&tenant.id, &id).await?;
            if !change(&mut blast).map_err(AppError::Conflict)? {
                return self.blast_view(tenant, blast).await;
            }
            blast.updated_at = now;
            let mut writes = Vec::new();
            let mut works = Vec::new();
            match blast.state {
                BlastState::Sending => {
                    blast.started_at = blast.started_at.or(Some(now));
                    let due = now.saturating_add(self.tuning.safety_net).unwrap_or(now);
                    writes.push(records::timer(
                        &blast_timer(&blast, due),
                        now,
                        Condition::Always,
                    )?);
                    works = page_works(&blast);
                }
                BlastState::Cancelled => {
                    blast.finished_at = Some(now);
                    // Its pages settle what they claimed and did not send.
                    works = page_works(&blast);
                    writes.push(records::delete(
                        keys::timer(
                            &tenant.id,
                            &RecordRef::Blast(id.clone()),
                            TimerKind::Blast.as_str(),
                        ),
                        Condition::Always,
                    ));
                }
                _ => {}
            }
            writes.push(records::blast(&blast, Some(version))?);
            let rest = first_batch(&mut writes, works);
            if landed(self.store.write(writes).await)? {
                self.enqueue_rest(rest).await?;
                info!(tenant = %tenant.id, blast = %id, state = blast.state.as_str(), "blast changed");
                return self.blast_view(tenant, blast).await;
            }
        }
        Err(busy("blast"))
    }

    async fn enqueue_rest(&self, rest: Vec<Write>) -> Result<(), AppError> {
        // Should this fail, the blast's timer queues the pages again.
        for batch in rest.chunks(ENQUEUE_BATCH) {
            self.store
                .write(batch.to_vec())
                .await
                .map_err(|e| AppError::Unavailable(e.to_string()))?;
        }
        Ok(())
    }

    /// A blast with its exact counts.
    pub async fn blast_detail(&self, tenant: &Tenant, id: &str) -> Result<BlastView, AppError> {
        let id = blast_id(id)?;
        let blast = self.blast(&tenant.id, &id).await?.value;
        self.blast_view(tenant, blast).await
    }

    /// The tenant's blasts, newest first (without counts).
    pub async fn list_blasts(
        &self,
        tenant: &Tenant,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<crate::usecases::Listing<Blast>, AppError> {
        self.scan_range(
            tenant,
            clinicflow_ports::Index::Gsi1,
            keys::blasts_index_pk(&tenant.id),
            SortKey::All,
            true,
            limit,
            cursor,
            |_: &Blast| true,
        )
        .await
    }

    pub(super) async fn blast_view(
        &self,
        tenant: &Tenant,
        mut blast: Blast,
    ) -> Result<BlastView, AppError> {
        if blast.state == BlastState::Previewed {
            return Ok(BlastView::previewed(blast));
        }
        let (progress, _) = self.tally(tenant, &blast).await?;
        if blast.state == BlastState::Sending && progress.finished() {
            // Every recipient has its outcome; the timer records it soon.
            blast.state = BlastState::Done;
        }
        Ok(BlastView {
            blast,
            progress: Some(progress),
        })
    }

    /// Exact counts of a blast, and the pages that still have recipients
    /// without an outcome.
    async fn tally(
        &self,
        tenant: &Tenant,
        blast: &Blast,
    ) -> Result<(Progress, Vec<u32>), AppError> {
        let mut progress = Progress::default();
        let mut unfinished = Vec::new();
        // A page at a time: 100,000 recipients are counted, never held.
        for page in 0..blast.pages {
            let counted = self
                .page_records::<Counted>(&tenant.id, &blast.id, page)
                .await?;
            if counted.len() < blast.page_len(page)
                || counted.iter().any(|c| !c.value.state.is_final())
            {
                unfinished.push(page);
            }
            for Versioned { value: c, .. } in &counted {
                progress.count(c.state, c.replied_at.is_some(), c.rebooked_at.is_some());
            }
        }
        Ok((progress.close(blast), unfinished))
    }

    /// The recipients of a blast page by page from `cursor` (a page
    /// number), with those not yet handled as pending.
    pub async fn blast_recipients(
        &self,
        tenant: &Tenant,
        id: &str,
        filter: &RecipientFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<crate::usecases::Listing<Recipient>, AppError> {
        let id = blast_id(id)?;
        let blast = self.blast(&tenant.id, &id).await?.value;
        let mut page: u32 = match cursor {
            Some(c) => c
                .parse()
                .map_err(|_| AppError::invalid("cursor", "is not a cursor this API returned"))?,
            None => 0,
        };
        let mut items = Vec::new();
        while page < blast.pages && items.len() < limit {
            for (mut r, _) in self.page_recipients(tenant, &blast, page).await? {
                // A stopped blast never sends to who is still waiting.
                if blast.state.is_stopped() && r.state == RecipientState::Pending {
                    r.state = RecipientState::Cancelled;
                }
                if filter.state.is_none_or(|s| s == r.state) {
                    items.push(r);
                }
            }
            page += 1;
        }
        Ok(crate::usecases::Listing {
            items,
            next: (page < blast.pages).then(|| page.to_string()),
        })
    }

    /// Sends the blast's message, as its first recipient would get it, to
    /// `to`: the phone number of one of the clinic's staff (and nobody
    /// else's). It goes through the ledger like any message.
    pub async fn test_blast(
        &self,
        tenant: &Tenant,
        id: &str,
        to: &str,
    ) -> Result<Message, AppError> {
        let id = blast_id(id)?;
        let region = tenant.default_branch().phone_region;
        let phone =
            PhoneNumber::parse(to, region).map_err(|e| AppError::invalid("to", e.to_string()))?;
        let staff = tenant
            .consultants
            .iter()
            .map(|c| &c.reach)
            .chain(tenant.managers.iter().map(|m| &m.reach))
            .any(|r: &Reach| r.phone.as_ref() == Some(&phone));
        if !staff {
            return Err(AppError::invalid(
                "to",
                "is not the phone number of a consultant or manager of this clinic: tests go to staff only",
            ));
        }
        for _ in 0..MAX_ROUNDS {
            let now = self.clock.now();
            let Versioned {
                value: mut blast,
                version,
            } = self.blast(&tenant.id, &id).await?;
            let template = tenant
                .blasts
                .templates
                .get(&blast.template)
                .ok_or_else(|| {
                    AppError::Conflict("the blast's template left the configuration".into())
                })?;
            let first = self.audience_page(&tenant.id, &id, 0).await.ok();
            let planned = first.and_then(|p| p.recipients.into_iter().next());
            let (vars, language) = match &planned {
                Some(p) => (self.blast_vars(tenant, &p.about).await?, p.language.clone()),
                None => (
                    self.blast_vars(tenant, &RecordRef::Blast(id.clone()))
                        .await?,
                    template
                        .languages
                        .first()
                        .cloned()
                        .unwrap_or_else(|| tenant.default_language.clone()),
                ),
            };
            let text = tenant
                .blasts
                .render(&template.id, &language, &vars)
                .map_err(AppError::Internal)?;
            blast.tests += 1;
            blast.updated_at = now;
            let message_id = MessageId::new(format!("blast-{id}-test{}", blast.tests))
                .map_err(AppError::Internal)?;
            let (channel, call) = match &template.whatsapp {
                Some(w) => (Channel::Whatsapp, Some(w.call(&language, &vars))),
                None => (Channel::Sms, None),
            };
            let message = Message {
                template: call.clone(),
                whatsapp_template: call.map(|c: TemplateCall| c),
                ..Message::queued(
                    message_id,
                    tenant.id.clone(),
                    RecordRef::Blast(id.clone()),
                    TemplateKind::Blast,
                    Audience::Patient,
                    Route {
                        channel,
                        to: phone.as_str().to_owned(),
                    },
                    template.purpose,
                    language,
                    text,
                    now,
                )
            };
            let mut writes = vec![records::blast(&blast, Some(version))?];
            writes.extend(self.ledger_entry(&message, now)?);
            if landed(self.store.write(writes).await)? {
                info!(tenant = %tenant.id, blast = %id, message_id = %message.id, "blast test queued");
                return Ok(message);
            }
        }
        Err(busy("blast test"))
    }

    /// The blast's timer: starts a scheduled blast; for a sending one,
    /// records it done when every recipient has an outcome, or queues its
    /// pages again (deferred recipients whose quiet hours ended, pages
    /// whose queue message was lost) and comes back later.
    pub(crate) async fn fire_blast_timer(
        &self,
        timer: &Timer,
        claimed: u64,
    ) -> Result<(), AppError> {
        let RecordRef::Blast(id) = &timer.about else {
            return self.drop_timer(timer, claimed).await;
        };
        let tenant_id = &timer.tenant;
        let Some(tenant) = self.directory.tenant(tenant_id).cloned() else {
            return self.drop_timer(timer, claimed).await;
        };
        let now = self.clock.now();
        let Ok(Versioned {
            value: mut blast,
            version,
        }) = self.blast(tenant_id, id).await
        else {
            return self.drop_timer(timer, claimed).await;
        };
        let next = now.saturating_add(self.tuning.safety_net).unwrap_or(now);
        let claimed_timer = Condition::VersionIs(claimed);
        match blast.state {
            BlastState::Scheduled => {
                blast.state = BlastState::Sending;
                blast.started_at = Some(now);
                blast.updated_at = now;
                let mut writes = vec![
                    records::blast(&blast, Some(version))?,
                    records::timer(&blast_timer(&blast, next), now, claimed_timer)?,
                ];
                let rest = first_batch(&mut writes, page_works(&blast));
                if landed(self.store.write(writes).await)? {
                    self.enqueue_rest(rest).await?;
                    info!(tenant = %tenant.id, blast = %id, planned = blast.planned, "scheduled blast started");
                }
                Ok(())
            }
            BlastState::Sending => {
                let (progress, unfinished) = self.tally(&tenant, &blast).await?;
                if progress.finished() {
                    blast.state = BlastState::Done;
                    blast.finished_at = Some(now);
                    blast.updated_at = now;
                    let writes = vec![
                        records::blast(&blast, Some(version))?,
                        records::delete(
                            keys::timer(tenant_id, &timer.about, &timer.name()),
                            claimed_timer,
                        ),
                    ];
                    if landed(self.store.write(writes).await)? {
                        info!(tenant = %tenant.id, blast = %id, sent = progress.sent, failed = progress.failed, skipped = progress.skipped, "blast done");
                    }
                    return Ok(());
                }
                // The pages still at work go again (a lost queue message,
                // patients whose quiet hours ended); a page already being
                // sent finds its recipients claimed.
                let works = unfinished
                    .into_iter()
                    .map(|page| page_work(&blast, page))
                    .collect();
                let mut writes = vec![records::timer(
                    &blast_timer(&blast, next),
                    now,
                    claimed_timer,
                )?];
                let rest = first_batch(&mut writes, works);
                if landed(self.store.write(writes).await)? {
                    self.enqueue_rest(rest).await?;
                }
                Ok(())
            }
            _ => self.drop_timer(timer, claimed).await,
        }
    }

    pub(super) async fn blast(
        &self,
        tenant: &TenantId,
        id: &BlastId,
    ) -> Result<Versioned<Blast>, AppError> {
        records::get::<Blast>(self.store.as_ref(), &keys::blast(tenant, id))
            .await?
            .ok_or(AppError::NotFound("blast"))
    }

    pub(super) async fn audience_page(
        &self,
        tenant: &TenantId,
        id: &BlastId,
        page: u32,
    ) -> Result<AudiencePage, AppError> {
        records::get::<AudiencePage>(self.store.as_ref(), &keys::audience_page(tenant, id, page))
            .await?
            .map(|p| p.value)
            .ok_or_else(|| AppError::Internal(format!("blast {id} has no audience page {page}")))
    }

    /// The recipient records of one page, as `T` (the whole [`Recipient`],
    /// or only what counting needs).
    pub(super) async fn page_records<T: DeserializeOwned>(
        &self,
        tenant: &TenantId,
        id: &BlastId,
        page: u32,
    ) -> Result<Vec<Versioned<T>>, AppError> {
        let mut out = Vec::new();
        for shard in 0..keys::RECIPIENT_SHARDS {
            let mut query = Query::partition(keys::recipients_pk(tenant, id, page, shard));
            loop {
                let result = self.store.query(&query).await?;
                for item in &result.items {
                    out.push(Versioned {
                        value: decode(item)?,
                        version: item.version,
                    });
                }
                match result.next {
                    Some(next) => query.after = Some(next),
                    None => break,
                }
            }
        }
        Ok(out)
    }
}

/// Adds the first of `works` (queue writes) to `writes`, a transaction
/// holding a bounded number, and returns the rest, queued after it commits.
fn first_batch(writes: &mut Vec<Write>, mut works: Vec<Write>) -> Vec<Write> {
    let rest = works.split_off(works.len().min(ENQUEUE_BATCH));
    writes.extend(works);
    rest
}

/// A recipient's record as counting reads it.
#[derive(Deserialize)]
struct Counted {
    state: RecipientState,
    #[serde(default)]
    replied_at: Option<Timestamp>,
    #[serde(default)]
    rebooked_at: Option<Timestamp>,
}

/// The blast's one timer.
pub(super) fn blast_timer(blast: &Blast, due: Timestamp) -> Timer {
    Timer::new(
        blast.tenant.clone(),
        RecordRef::Blast(blast.id.clone()),
        TimerKind::Blast,
        due,
    )
}

fn blast_id(id: &str) -> Result<BlastId, AppError> {
    BlastId::new(id).map_err(|_| AppError::NotFound("blast"))
}
