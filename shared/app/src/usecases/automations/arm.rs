//! Arming: the events of a record (queued by the transaction that made
//! them) meet the tenant's active rules; each rule whose trigger they
//! satisfy gets a firing for that occurrence, written `Absent` with its
//! timer, so an event delivered three times arms once. A patient's message
//! also reaches their open deals.

use clinicflow_core::automation::{
    Armed, Event, Firing, FiringState, MAX_DEPTH, Rule, SkipReason, Trigger, plan,
};
use clinicflow_core::contact::ContactKey;
use clinicflow_core::ids::{LeadId, RecordRef, TenantId};
use clinicflow_core::message::Channel;
use clinicflow_core::pipeline::{Deal, Outcome};
use clinicflow_core::tenant::Tenant;
use clinicflow_core::timer::{Timer, TimerKind};
use clinicflow_ports::{Condition, Index, Query, SortKey, Write};
use jiff::{SignedDuration, Timestamp};
use tracing::info;

use super::place;
use super::subjects::Subjected;
use crate::error::AppError;
use crate::records;
use crate::usecases::landed;
use crate::work::Work;
use crate::{App, keys};

/// A time trigger whose time lies further back than this when its record
/// changes is past, not due.
const GRACE: SignedDuration = SignedDuration::from_mins(1);

/// Firings armed in one transaction (two writes each, within DynamoDB's 100).
const BATCH: usize = 40;

/// The queue message that tells the engine of `events` of a record: an
/// outbox write of the transaction that made them.
pub(crate) fn automation_events(
    tenant: &TenantId,
    about: &RecordRef,
    events: Vec<Event>,
    at: Timestamp,
    depth: u8,
) -> Write {
    Work::Automation {
        tenant: tenant.clone(),
        about: about.clone(),
        events,
        at,
        depth,
    }
    .enqueue()
}

/// How a firing is armed: by an event as it happens, or by activation
/// and "run now" (with who asked).
pub(super) struct Arming<'a> {
    pub rule: &'a Rule,
    pub about: &'a RecordRef,
    pub event: Event,
    pub event_at: Timestamp,
    pub armed: Armed,
    pub depth: u8,
    pub by: Option<&'a str>,
    /// Armed but not to fire, and why (past due, beyond the backfill).
    pub skip: Option<SkipReason>,
}

impl App {
    /// Arms the firings `events` of record `about` call for.
    pub(crate) async fn arm_automations(
        &self,
        tenant: &TenantId,
        about: &RecordRef,
        events: &[Event],
        at: Timestamp,
        depth: u8,
    ) -> Result<(), AppError> {
        let Some(tenant) = self.directory.tenant(tenant) else {
            return Ok(());
        };
        let rules = self.rules_of(&tenant.id).await?;
        if !rules.iter().any(|r| r.value.active) {
            return Ok(());
        }
        let Some(subject) = self.record_view(tenant, about).await? else {
            return Ok(());
        };
        self.arm_subject(tenant, &rules, about, &subject, events, at, depth)
            .await
    }

    /// The engine's news of a patient's message: on their open lead (if
    /// any) and on each of their open deals, as outbox writes of the
    /// transaction that records the message.
    pub(crate) async fn inbound_events(
        &self,
        tenant: &TenantId,
        contact: &ContactKey,
        lead: Option<&LeadId>,
        channel: Channel,
        id: &str,
        at: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let event = Event::InboundMessage {
            channel,
            id: id.to_owned(),
        };
        let mut writes: Vec<Write> = lead
            .map(|l| {
                automation_events(
                    tenant,
                    &RecordRef::Lead(l.clone()),
                    vec![event.clone()],
                    at,
                    0,
                )
            })
            .into_iter()
            .collect();
        for deal in self.open_deals(tenant, contact).await? {
            writes.push(automation_events(
                tenant,
                &RecordRef::Deal(deal.id),
                vec![event.clone()],
                at,
                0,
            ));
        }
        Ok(writes)
    }

    /// Arms what `events` of the record call for: the firings of one
    /// event land in one transaction (a redelivered event, whose firings
    /// exist, falls back to one write each).
    #[allow(clippy::too_many_arguments)]
    async fn arm_subject(
        &self,
        tenant: &Tenant,
        rules: &[crate::records::Versioned<Rule>],
        about: &RecordRef,
        subject: &Subjected,
        events: &[Event],
        at: Timestamp,
        depth: u8,
    ) -> Result<(), AppError> {
        let branch = tenant.branch_or_default(&subject.branch);
        let mut armings = Vec::new();
        for rule in rules.iter().map(|r| &r.value) {
            if !rule.active || rule.spec.subject != subject.subject() {
                continue;
            }
            for event in events {
                let Some(armed) = plan::arm(&rule.spec, &subject.view, event, at, place(branch))
                else {
                    continue;
                };
                let past = matches!(rule.spec.trigger, Trigger::Time { .. })
                    && armed.math.due < at.saturating_sub(GRACE).unwrap_or(at);
                armings.push(self.firing_writes(
                    tenant,
                    Arming {
                        rule,
                        about,
                        event: event.clone(),
                        event_at: at,
                        armed,
                        depth,
                        by: None,
                        skip: past.then_some(SkipReason::PastDue),
                    },
                )?);
            }
        }
        // One firing per occurrence (a time trigger answers every event of
        // its record with the same one): a key appears once per transaction.
        let mut seen = std::collections::BTreeSet::new();
        armings.retain(|(firing, _)| seen.insert(firing.id.clone()));
        for chunk in armings.chunks(BATCH) {
            let writes: Vec<Write> = chunk.iter().flat_map(|(_, w)| w.iter().cloned()).collect();
            if landed(self.store.write(writes).await)? {
                info!(tenant = %tenant.id, record = %about, firings = chunk.len(), "automation firings armed");
                continue;
            }
            for (firing, writes) in chunk {
                if landed(self.store.write(writes.clone()).await)? {
                    info!(tenant = %tenant.id, rule = %firing.rule, record = %firing.record, due = %firing.delay.due, state = firing.state.as_str(), "automation firing armed");
                }
            }
        }
        Ok(())
    }

    /// Writes a firing (and its timer) unless one exists for its
    /// occurrence: `true` when it is new.
    pub(super) async fn arm_firing(
        &self,
        tenant: &Tenant,
        a: Arming<'_>,
    ) -> Result<bool, AppError> {
        let (firing, writes) = self.firing_writes(tenant, a)?;
        let new = landed(self.store.write(writes).await)?;
        if new {
            info!(tenant = %tenant.id, rule = %firing.rule, record = %firing.record, due = %firing.delay.due, state = firing.state.as_str(), "automation firing armed");
        }
        Ok(new)
    }

    /// A firing and the writes that arm it (`Absent`), with its timer when it is to fire.
    fn firing_writes(
        &self,
        tenant: &Tenant,
        a: Arming<'_>,
    ) -> Result<(Firing, Vec<Write>), AppError> {
        let now = self.clock.now();
        let occurrence = a.armed.occurrence.clone();
        let skip = if a.depth > MAX_DEPTH {
            Some(SkipReason::DepthLimit)
        } else {
            a.skip
        };
        let firing = Firing {
            id: Firing::id_of(&a.rule.id, a.about, &occurrence),
            rule: a.rule.id.clone(),
            armed_version: a.rule.version,
            fired_version: None,
            record: a.about.clone(),
            occurrence: occurrence.clone(),
            trigger: a.rule.spec.trigger.kind().to_owned(),
            event: a.event,
            event_at: a.event_at,
            depth: a.depth,
            armed_at: now,
            delay: a.armed.math,
            state: if skip.is_some() {
                FiringState::Skipped
            } else {
                FiringState::Pending
            },
            reason: skip,
            conditions: Vec::new(),
            actions: Vec::new(),
            settled_at: skip.map(|_| now),
            error: None,
            by: a.by.map(str::to_owned),
        };
        let mut writes = vec![records::auto_firing(&tenant.id, &firing, None)?];
        if skip.is_none() {
            let mut timer = Timer::new(
                tenant.id.clone(),
                a.about.clone(),
                TimerKind::Automation,
                firing.delay.due,
            );
            timer.rule = Some(firing.rule.clone());
            timer.occurrence = Some(occurrence);
            writes.push(records::timer(&timer, now, Condition::Always)?);
        }
        Ok((firing, writes))
    }

    /// The patient's deals still open.
    async fn open_deals(
        &self,
        tenant: &TenantId,
        contact: &ContactKey,
    ) -> Result<Vec<Deal>, AppError> {
        let mut query = Query {
            index: Index::Gsi2,
            pk: keys::patient_deals_index_pk(tenant, contact),
            sk: SortKey::All,
            descending: true,
            limit: 50,
            after: None,
        };
        let mut deals = Vec::new();
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let deal: Deal = records::decode(item)?;
                if deal.outcome == Outcome::Open {
                    deals.push(deal);
                }
            }
            match page.next {
                Some(next) if deals.len() < 50 => query.after = Some(next),
                _ => return Ok(deals),
            }
        }
    }
}
