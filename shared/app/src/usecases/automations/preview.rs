//! Before a rule goes live: who it would hit now and in the next seven
//! days, and who it would skip and why — computed by the same functions
//! the sweep fires with, so that activation and "run now", which arm
//! exactly what the preview shows, fire what it said. Also a rule's
//! health: its last execution and its next due firing.

use std::collections::BTreeMap;

use clinicflow_core::automation::plan::Seen;
use clinicflow_core::automation::{Firing, FiringState, Rule, SkipReason, Subject, Trigger, plan};
use clinicflow_core::ids::{AppointmentId, DealId, LeadId, RecordRef};
use clinicflow_core::tenant::Tenant;
use clinicflow_ports::{Index, Query, SortKey};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use tracing::info;

use super::arm::Arming;
use super::place;
use crate::error::AppError;
use crate::records;
use crate::{App, keys};

/// How far ahead a preview looks.
pub const HORIZON: SignedDuration = SignedDuration::from_hours(24 * 7);

/// Entries of each kind a preview lists (its counts cover everyone).
const SAMPLE: usize = 20;

#[derive(Clone, Debug, Serialize)]
pub struct PreviewEntry {
    #[serde(flatten)]
    pub record: RecordRef,
    pub occurrence: String,
    pub due: Timestamp,
    /// `fire_now`, `upcoming`, `skipped` or `armed_already`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SkipReason>,
    pub conditions: Vec<Seen>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Preview {
    pub rule: String,
    pub version: u64,
    pub at: Option<Timestamp>,
    /// Whether the trigger is a state records can be found in now (a
    /// stage, a status, a time): event triggers reach only future events.
    pub applies: bool,
    /// Records in the trigger's state within the horizon.
    pub matched: u32,
    /// Due now: what "run now" fires.
    pub fire_now: u32,
    /// Due in the next seven days (activation arms them too).
    pub upcoming: u32,
    /// Not fired, by reason.
    pub skipped: BTreeMap<&'static str, u32>,
    /// Occurrences the rule already has a firing for: never fired again.
    pub armed_already: u32,
    pub sample: Vec<PreviewEntry>,
}

/// What a rule did lately: its last execution, and what is next.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RuleHealth {
    /// The last firing settled (fired or skipped).
    pub last_execution: Option<Timestamp>,
    /// Of the firings due in the last 24 hours.
    pub matched: u32,
    pub fired: u32,
    pub skipped: BTreeMap<&'static str, u32>,
    pub cancelled: u32,
    /// Firings whose actions failed every time they were tried.
    pub failed: u32,
    pub pending: u32,
    pub next_due: Option<Timestamp>,
}

impl App {
    /// The rule's preview at this moment.
    pub async fn preview_rule(&self, tenant: &Tenant, id: &str) -> Result<Preview, AppError> {
        let rule = self.get_rule(tenant, id).await?.value;
        self.walk(tenant, &rule, None).await
    }

    /// "Run now": fires, as its preview shows, every occurrence due now
    /// that has no firing yet; a second click finds them armed.
    pub async fn run_rule(
        &self,
        tenant: &Tenant,
        id: &str,
        by: Option<&str>,
    ) -> Result<Preview, AppError> {
        let rule = self.get_rule(tenant, id).await?.value;
        if !rule.active {
            return Err(AppError::Conflict(
                "the automation is inactive; activate it first".into(),
            ));
        }
        self.arm_preview(tenant, &rule, by, true).await
    }

    /// Arms what the preview shows: the occurrences due now, and unless
    /// `now_only` those due in the next seven days.
    pub(super) async fn arm_preview(
        &self,
        tenant: &Tenant,
        rule: &Rule,
        by: Option<&str>,
        now_only: bool,
    ) -> Result<Preview, AppError> {
        let preview = self.walk(tenant, rule, Some((by, now_only))).await?;
        info!(tenant = %tenant.id, rule = %rule.id, fire_now = preview.fire_now, upcoming = preview.upcoming, "automation armed from its preview");
        Ok(preview)
    }

    /// Walks the records the rule's trigger can find, counting each; with
    /// `arm`, arms what it counts as firing.
    async fn walk(
        &self,
        tenant: &Tenant,
        rule: &Rule,
        arm: Option<(Option<&str>, bool)>,
    ) -> Result<Preview, AppError> {
        let now = self.clock.now();
        let mut preview = Preview {
            rule: rule.id.to_string(),
            version: rule.version,
            at: Some(now),
            applies: rule.spec.trigger.is_state(),
            ..Preview::default()
        };
        if !preview.applies {
            return Ok(preview);
        }
        let horizon = now.checked_add(HORIZON).unwrap_or(now);
        for about in self.candidates(tenant, rule, now).await? {
            let Some(subject) = self.subject(tenant, &about, now).await? else {
                continue;
            };
            let Some((event, event_at)) = plan::state_event(&rule.spec, &subject.view) else {
                continue;
            };
            let branch = tenant.branch_or_default(&subject.branch);
            let Some(armed) = plan::arm(&rule.spec, &subject.view, &event, event_at, place(branch))
            else {
                continue;
            };
            let due = armed.math.due;
            if due > horizon {
                continue;
            }
            preview.matched += 1;
            let verdict = plan::check(
                &rule.spec,
                &armed.occurrence,
                &subject.view,
                &event.view(),
                place(branch),
            );
            let past_limit = match (rule.spec.backfill, &rule.spec.trigger) {
                (Some(b), _) => now.checked_sub(b).ok(),
                (None, Trigger::Time { .. }) => Some(now),
                (None, _) => None,
            };
            let exists = self
                .store
                .get(&keys::auto_firing(
                    &tenant.id,
                    &about,
                    &rule.id,
                    &armed.occurrence,
                ))
                .await?
                .is_some();
            let (state, reason) = if exists {
                ("armed_already", None)
            } else if due <= now && past_limit.is_some_and(|limit| due < limit) {
                (
                    "skipped",
                    Some(match rule.spec.backfill {
                        Some(_) => SkipReason::BeyondBackfill,
                        None => SkipReason::PastDue,
                    }),
                )
            } else if due <= now {
                match verdict.skip {
                    Some(reason) => ("skipped", Some(reason)),
                    None => ("fire_now", None),
                }
            } else {
                ("upcoming", verdict.skip)
            };
            match state {
                "armed_already" => preview.armed_already += 1,
                "fire_now" => preview.fire_now += 1,
                "upcoming" => preview.upcoming += 1,
                _ => {
                    *preview
                        .skipped
                        .entry(reason.map_or("", SkipReason::as_str))
                        .or_default() += 1
                }
            }
            let arms = matches!(
                (state, arm),
                ("fire_now", Some(_)) | ("upcoming", Some((_, false)))
            );
            if let (true, Some((by, _))) = (arms, arm) {
                self.arm_firing(
                    tenant,
                    Arming {
                        rule,
                        about: &about,
                        event: event.clone(),
                        event_at,
                        armed: armed.clone(),
                        depth: 0,
                        by,
                        skip: None,
                    },
                )
                .await?;
            }
            if preview.sample.len() < SAMPLE {
                preview.sample.push(PreviewEntry {
                    record: about,
                    occurrence: armed.occurrence,
                    due,
                    state,
                    reason,
                    conditions: verdict.conditions,
                });
            }
        }
        Ok(preview)
    }

    /// The records a rule's trigger can find now: the leads, the deals of
    /// its pipeline, or the appointments whose anchor may fall in reach.
    async fn candidates(
        &self,
        tenant: &Tenant,
        rule: &Rule,
        now: Timestamp,
    ) -> Result<Vec<RecordRef>, AppError> {
        let mut found = Vec::new();
        let read = |pk: String| {
            let store = self.store.clone();
            async move {
                let mut ids = Vec::new();
                let mut query = Query {
                    index: Index::Gsi1,
                    pk,
                    sk: SortKey::All,
                    descending: false,
                    limit: 500,
                    after: None,
                };
                loop {
                    let page = store.query(&query).await?;
                    for item in &page.items {
                        ids.push(item.key.pk.clone());
                    }
                    match page.next {
                        Some(next) => query.after = Some(next),
                        None => return Ok::<_, AppError>(ids),
                    }
                }
            }
        };
        match rule.spec.subject {
            Subject::Lead => {
                for pk in read(keys::leads_index_pk(&tenant.id)).await? {
                    if let Ok(id) = LeadId::new(keys::record_id(&pk)) {
                        found.push(RecordRef::Lead(id));
                    }
                }
            }
            Subject::Deal => {
                let pipelines: Vec<_> = match rule.spec.pipeline() {
                    Some(p) => vec![p.to_owned()],
                    None => self
                        .pipelines(&tenant.id)
                        .await?
                        .into_iter()
                        .filter(|p| !p.value.is_leads())
                        .map(|p| p.value.id.to_string())
                        .collect(),
                };
                for p in pipelines {
                    let Ok(p) = clinicflow_core::ids::PipelineId::new(p) else {
                        continue;
                    };
                    for pk in read(keys::pipeline_deals_index_pk(&tenant.id, &p)).await? {
                        if let Ok(id) = DealId::new(keys::record_id(&pk)) {
                            found.push(RecordRef::Deal(id));
                        }
                    }
                }
            }
            Subject::Appointment => {
                // The days whose appointments' triggers may fall between the
                // backfill and the horizon.
                let reach = match &rule.spec.trigger {
                    Trigger::Time { offset, .. } => offset.abs(),
                    _ => SignedDuration::from_hours(24 * 30),
                };
                let delay = rule.spec.delay.map_or(SignedDuration::ZERO, |d| d.after);
                let margin = SignedDuration::from_hours(48);
                let back =
                    rule.spec.backfill.unwrap_or(SignedDuration::ZERO) + reach + delay + margin;
                let ahead = HORIZON + reach + margin;
                for branch in &tenant.branches {
                    let tz = &branch.time_zone;
                    let mut day = tz.to_datetime(now.checked_sub(back).unwrap_or(now)).date();
                    let last = tz.to_datetime(now.checked_add(ahead).unwrap_or(now)).date();
                    while day <= last {
                        for pk in
                            read(keys::branch_day_index_pk(&tenant.id, &branch.id, day)).await?
                        {
                            if let Ok(id) = AppointmentId::new(keys::record_id(&pk)) {
                                found.push(RecordRef::Appointment(id));
                            }
                        }
                        let Ok(next) = day.tomorrow() else { break };
                        day = next;
                    }
                }
            }
        }
        Ok(found)
    }

    /// The rule's last execution and what is next.
    pub async fn rule_health(&self, tenant: &Tenant, id: &str) -> Result<RuleHealth, AppError> {
        let rule = self.get_rule(tenant, id).await?.value;
        let now = self.clock.now();
        let since = now
            .checked_sub(SignedDuration::from_hours(24))
            .unwrap_or(now);
        let mut health = RuleHealth::default();
        let mut query = Query {
            index: Index::Gsi1,
            pk: keys::rule_firings_index_pk(&tenant.id, &rule.id),
            sk: SortKey::AtLeast(keys::millis(since)),
            descending: false,
            limit: 500,
            after: None,
        };
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let f: Firing = records::decode(item)?;
                if f.settled_at.is_some() && f.state != FiringState::Cancelled {
                    health.last_execution = health.last_execution.max(f.settled_at);
                }
                match f.state {
                    FiringState::Pending => {
                        health.pending += 1;
                        if health.next_due.is_none_or(|d| f.delay.due < d) {
                            health.next_due = Some(f.delay.due);
                        }
                    }
                    _ if f.delay.due > now => {}
                    FiringState::Fired => {
                        health.matched += 1;
                        health.fired += 1;
                    }
                    FiringState::Skipped => {
                        health.matched += 1;
                        *health
                            .skipped
                            .entry(f.reason.map_or("", SkipReason::as_str))
                            .or_default() += 1;
                    }
                    FiringState::Cancelled => health.cancelled += 1,
                    FiringState::Failed => {
                        health.matched += 1;
                        health.failed += 1;
                    }
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(health),
            }
        }
    }
}

impl App {
    /// A rule's firings, latest due first.
    pub async fn list_firings(
        &self,
        tenant: &Tenant,
        id: &str,
        state: Option<FiringState>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<crate::usecases::Listing<Firing>, AppError> {
        let rule = self.get_rule(tenant, id).await?.value;
        let pk = keys::rule_firings_index_pk(&tenant.id, &rule.id);
        self.scan(tenant, Index::Gsi1, pk, limit, cursor, |f: &Firing| {
            state.is_none_or(|s| f.state == s)
        })
        .await
    }

    /// The firings about one record: why each message, task and move it got was made.
    pub async fn record_firings(
        &self,
        tenant: &Tenant,
        about: &RecordRef,
    ) -> Result<Vec<Firing>, AppError> {
        let mut query = Query::partition(keys::record_pk(&tenant.id, about));
        query.sk = SortKey::BeginsWith("AUTO#".into());
        let mut firings = Vec::new();
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                firings.push(records::decode(item)?);
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(firings),
            }
        }
    }

    /// A clinic's own system says `code` happened to a record: the
    /// event is durable (queued for the engine) before the answer.
    pub async fn external_trigger(
        &self,
        tenant: &Tenant,
        code: &str,
        about: &RecordRef,
    ) -> Result<String, AppError> {
        if clinicflow_core::ids::RuleId::new(code).is_err() {
            return Err(AppError::NotFound("trigger"));
        }
        let now = self.clock.now();
        if self.record_view(tenant, about).await?.is_none() {
            return Err(AppError::NotFound("record"));
        }
        let id = self.ids.new_id();
        let write = super::arm::automation_events(
            &tenant.id,
            about,
            vec![clinicflow_core::automation::Event::External {
                code: code.to_owned(),
                id: id.clone(),
            }],
            now,
            0,
        );
        self.store
            .write(vec![write])
            .await
            .map_err(|e| AppError::Unavailable(e.to_string()))?;
        Ok(id)
    }
}
