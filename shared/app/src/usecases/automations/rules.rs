//! Saving rules. Every save is a new version (the previous ones are kept),
//! conditioned on the version the editor read (`If-Match`), checked before
//! it lands: every reference exists and fits, and the tenant's rules
//! together hold no loop. An edit re-plans the rule's pending firings; a
//! deactivation or a deletion cancels them; each says how many.

use clinicflow_core::automation::graph::cycle;
use clinicflow_core::automation::{Firing, FiringState, Replan, Rule, RuleSpec, SkipReason, plan};
use clinicflow_core::ids::RuleId;
use clinicflow_core::pipeline::Pipeline;
use clinicflow_core::submission::FieldError;
use clinicflow_core::tenant::Tenant;
use clinicflow_core::timer::{Timer, TimerKind};
use clinicflow_ports::{Condition, Index, Query, SortKey, Write};
use serde::Serialize;
use tracing::info;

use super::health::health_timer;
use super::preview::Preview;
use super::{catalog, place};
use crate::error::AppError;
use crate::records::{self, Versioned};
use crate::usecases::{MAX_ROUNDS, busy, landed};
use crate::{App, keys};

/// A save's result: the rule, what it did to pending firings, and on
/// activation what it armed (the preview it matched).
#[derive(Clone, Debug, Serialize)]
pub struct RuleSaved {
    #[serde(flatten)]
    pub rule: Rule,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replan: Option<Replan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub armed: Option<Preview>,
}

fn parse_id(id: &str) -> Result<RuleId, AppError> {
    RuleId::new(id).map_err(|_| AppError::NotFound("automation"))
}

impl App {
    pub async fn list_rules(&self, tenant: &Tenant) -> Result<Vec<Rule>, AppError> {
        let rules = self.rules_of(&tenant.id).await?;
        Ok(rules.iter().map(|r| r.value.clone()).collect())
    }

    pub async fn get_rule(&self, tenant: &Tenant, id: &str) -> Result<Versioned<Rule>, AppError> {
        let id = parse_id(id)?;
        records::get::<Rule>(self.store.as_ref(), &keys::rule(&tenant.id, &id))
            .await?
            .ok_or(AppError::NotFound("automation"))
    }

    /// One saved version of a rule.
    pub async fn rule_at_version(
        &self,
        tenant: &Tenant,
        id: &str,
        version: u64,
    ) -> Result<Rule, AppError> {
        let id = parse_id(id)?;
        records::get::<Rule>(
            self.store.as_ref(),
            &keys::rule_version(&tenant.id, &id, version),
        )
        .await?
        .map(|r| r.value)
        .ok_or(AppError::NotFound("automation version"))
    }

    /// Checks `spec` as rule `id` among the tenant's other rules.
    async fn check_rule(
        &self,
        tenant: &Tenant,
        id: &RuleId,
        spec: &RuleSpec,
    ) -> Result<(), AppError> {
        let pipelines: Vec<Pipeline> = self
            .pipelines(&tenant.id)
            .await?
            .into_iter()
            .map(|p| p.value)
            .collect();
        let problems = spec.problems(&catalog(tenant, &pipelines));
        if !problems.is_empty() {
            return Err(AppError::Invalid(
                problems
                    .into_iter()
                    .map(|(path, problem)| FieldError::new(&path, problem))
                    .collect(),
            ));
        }
        let rules = self.rules_of(&tenant.id).await?;
        let mut set: Vec<(&str, &RuleSpec)> = rules
            .iter()
            .filter(|r| &r.value.id != id)
            .map(|r| (r.value.id.as_str(), &r.value.spec))
            .collect();
        set.push((id.as_str(), spec));
        if let Some(path) = cycle(&set) {
            return Err(AppError::invalid(
                "actions",
                format!(
                    "the rules would loop: {} (each one's action triggers the next)",
                    path.join(" → ")
                ),
            ));
        }
        Ok(())
    }

    /// The writes of a save: the rule, its version, and the tenant's rule-set revision.
    async fn save_writes(
        &self,
        tenant: &Tenant,
        rule: &Rule,
        previous: Option<u64>,
    ) -> Result<Vec<Write>, AppError> {
        Ok(vec![
            records::rule(&tenant.id, rule, previous)?,
            records::rule_version(&tenant.id, rule)?,
            self.revision_bump(tenant).await?,
        ])
    }

    /// The write that moves the tenant's rule-set revision on, so every
    /// process reads its rules again.
    async fn revision_bump(&self, tenant: &Tenant) -> Result<Write, AppError> {
        let revision =
            records::get::<u64>(self.store.as_ref(), &keys::rules_revision(&tenant.id)).await?;
        records::rules_revision(
            &tenant.id,
            revision.as_ref().map_or(1, |r| r.value + 1),
            revision.map(|r| r.version),
        )
    }

    /// Saves a new rule, inactive; `id` is generated when not given.
    pub async fn create_rule(
        &self,
        tenant: &Tenant,
        id: Option<&str>,
        spec: RuleSpec,
    ) -> Result<Rule, AppError> {
        let id = match id {
            Some(id) => RuleId::new(id).map_err(|e| AppError::invalid("id", e))?,
            None => RuleId::new(format!("r-{}", self.ids.new_id().to_ascii_lowercase()))
                .map_err(AppError::Internal)?,
        };
        self.check_rule(tenant, &id, &spec).await?;
        let rule = Rule {
            id,
            version: 1,
            active: false,
            spec,
            updated_at: self.clock.now(),
        };
        let writes = self.save_writes(tenant, &rule, None).await?;
        if !landed(self.store.write(writes).await)? {
            return Err(AppError::Conflict(format!(
                "an automation `{}` exists already",
                rule.id
            )));
        }
        info!(tenant = %tenant.id, rule = %rule.id, "automation created");
        Ok(rule)
    }

    /// Saves a new version of rule `id`, read at `if_match` when given.
    pub async fn update_rule(
        &self,
        tenant: &Tenant,
        id: &str,
        if_match: Option<u64>,
        spec: RuleSpec,
    ) -> Result<RuleSaved, AppError> {
        let current = self.get_rule(tenant, id).await?;
        self.check_rule(tenant, &current.value.id, &spec).await?;
        let retimed =
            current.value.spec.trigger != spec.trigger || current.value.spec.delay != spec.delay;
        let saved = self
            .change_rule(tenant, id, if_match, |rule| rule.spec = spec.clone())
            .await?;
        let replan = if retimed && saved.active {
            Some(self.settle_pending(tenant, &saved, Pending::Replan).await?)
        } else {
            None
        };
        Ok(RuleSaved {
            rule: saved,
            replan,
            armed: None,
        })
    }

    /// Activates or deactivates rule `id`. Activation arms every firing
    /// its preview shows (now and in the next seven days, within its
    /// backfill) unless `existing` is false (then only what happens from
    /// now on); deactivation cancels its pending firings.
    pub async fn set_rule_active(
        &self,
        tenant: &Tenant,
        id: &str,
        if_match: Option<u64>,
        active: bool,
        existing: bool,
        by: Option<&str>,
    ) -> Result<RuleSaved, AppError> {
        let saved = self
            .change_rule(tenant, id, if_match, |rule| rule.active = active)
            .await?;
        if active {
            self.store
                .write(vec![health_timer(tenant, &saved.id, self.clock.now())?])
                .await
                .map_err(|e| AppError::Unavailable(e.to_string()))?;
            if !existing {
                info!(tenant = %tenant.id, rule = %saved.id, "automation activated for what happens from now on");
                return Ok(RuleSaved {
                    rule: saved,
                    replan: None,
                    armed: None,
                });
            }
            let armed = self.arm_preview(tenant, &saved, by, false).await?;
            info!(tenant = %tenant.id, rule = %saved.id, armed = armed.fire_now + armed.upcoming, "automation activated");
            Ok(RuleSaved {
                rule: saved,
                replan: None,
                armed: Some(armed),
            })
        } else {
            let replan = self
                .settle_pending(tenant, &saved, Pending::Cancel(SkipReason::RuleInactive))
                .await?;
            info!(tenant = %tenant.id, rule = %saved.id, cancelled = replan.cancelled, "automation deactivated");
            Ok(RuleSaved {
                rule: saved,
                replan: Some(replan),
                armed: None,
            })
        }
    }

    /// Deletes rule `id` (its versions and firings stay, for the record),
    /// cancelling its pending firings.
    pub async fn delete_rule(
        &self,
        tenant: &Tenant,
        id: &str,
        if_match: Option<u64>,
    ) -> Result<Replan, AppError> {
        for _ in 0..MAX_ROUNDS {
            let current = self.get_rule(tenant, id).await?;
            if if_match.is_some_and(|v| v != current.value.version) {
                return Err(stale(current.value.version));
            }
            let writes = vec![
                records::delete(
                    keys::rule(&tenant.id, &current.value.id),
                    Condition::VersionIs(current.version),
                ),
                self.revision_bump(tenant).await?,
            ];
            if landed(self.store.write(writes).await)? {
                info!(tenant = %tenant.id, rule = %current.value.id, "automation deleted");
                return self
                    .settle_pending(
                        tenant,
                        &current.value,
                        Pending::Cancel(SkipReason::RuleDeleted),
                    )
                    .await;
            }
        }
        Err(busy("automation"))
    }

    /// Saves rule `id` changed by `change` as its next version.
    async fn change_rule(
        &self,
        tenant: &Tenant,
        id: &str,
        if_match: Option<u64>,
        change: impl Fn(&mut Rule),
    ) -> Result<Rule, AppError> {
        for _ in 0..MAX_ROUNDS {
            let current = self.get_rule(tenant, id).await?;
            if if_match.is_some_and(|v| v != current.value.version) {
                return Err(stale(current.value.version));
            }
            let mut next = current.value.clone();
            change(&mut next);
            next.version += 1;
            next.updated_at = self.clock.now();
            let writes = self
                .save_writes(tenant, &next, Some(current.version))
                .await?;
            if landed(self.store.write(writes).await)? {
                return Ok(next);
            }
        }
        Err(busy("automation"))
    }

    /// Every pending firing of `rule`: cancelled with a reason, or (after
    /// an edit of its trigger or delay) planned again from its event under
    /// the new version, or cancelled when the new trigger no longer
    /// matches it.
    async fn settle_pending(
        &self,
        tenant: &Tenant,
        rule: &Rule,
        what: Pending,
    ) -> Result<Replan, AppError> {
        let now = self.clock.now();
        let mut replan = Replan {
            at: Some(now),
            reason: match what {
                Pending::Replan => "rule_changed".into(),
                Pending::Cancel(r) => r.as_str().into(),
            },
            ..Replan::default()
        };
        // The pending firings first: a re-planned one moves in the index
        // being read, and must not be met twice.
        let mut query = Query {
            index: Index::Gsi1,
            pk: keys::rule_firings_index_pk(&tenant.id, &rule.id),
            sk: SortKey::All,
            descending: false,
            limit: 500,
            after: None,
        };
        let mut pending = Vec::new();
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let firing: Firing = records::decode(item)?;
                if firing.state == FiringState::Pending {
                    pending.push(keys::auto_firing(
                        &tenant.id,
                        &firing.record,
                        &firing.rule,
                        &firing.occurrence,
                    ));
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        for key in pending {
            let Some(stored) = records::get::<Firing>(self.store.as_ref(), &key).await? else {
                continue;
            };
            let firing = &stored.value;
            if firing.state != FiringState::Pending {
                continue;
            }
            let replanned = match what {
                Pending::Replan => self.replanned(tenant, rule, firing).await?,
                Pending::Cancel(_) => None,
            };
            let mut next = firing.clone();
            let timer_write = match &replanned {
                Some(math) => {
                    next.delay = math.clone();
                    next.armed_version = rule.version;
                    let mut timer = Timer::new(
                        tenant.id.clone(),
                        firing.record.clone(),
                        TimerKind::Automation,
                        next.delay.due,
                    );
                    timer.rule = Some(firing.rule.clone());
                    timer.occurrence = Some(firing.occurrence.clone());
                    records::timer(&timer, now, Condition::Always)?
                }
                None => {
                    next.state = FiringState::Cancelled;
                    next.reason = Some(match what {
                        Pending::Cancel(r) => r,
                        Pending::Replan => SkipReason::RuleChanged,
                    });
                    next.settled_at = Some(now);
                    records::delete(
                        keys::timer(
                            &tenant.id,
                            &firing.record,
                            &Timer::automation_name(&firing.rule, &firing.occurrence),
                        ),
                        Condition::Always,
                    )
                }
            };
            let writes = vec![
                records::auto_firing(&tenant.id, &next, Some(stored.version))?,
                timer_write,
            ];
            // A firing that fired meanwhile keeps what it did, and is not counted.
            if landed(self.store.write(writes).await)? {
                match replanned {
                    Some(_) => replan.replanned += 1,
                    None => replan.cancelled += 1,
                }
            }
        }
        info!(tenant = %tenant.id, rule = %rule.id, cancelled = replan.cancelled, replanned = replan.replanned, reason = %replan.reason, "pending firings settled");
        Ok(replan)
    }

    /// A pending firing's delay under the rule's new version, if its event
    /// still arms it for the same occurrence.
    async fn replanned(
        &self,
        tenant: &Tenant,
        rule: &Rule,
        firing: &Firing,
    ) -> Result<Option<plan::DelayMath>, AppError> {
        let Some(subject) = self.record_view(tenant, &firing.record).await? else {
            return Ok(None);
        };
        let branch = tenant.branch_or_default(&subject.branch);
        Ok(plan::arm(
            &rule.spec,
            &subject.view,
            &firing.event,
            firing.event_at,
            place(branch),
        )
        .filter(|armed| armed.occurrence == firing.occurrence)
        .map(|armed| armed.math))
    }
}

#[derive(Clone, Copy)]
enum Pending {
    Replan,
    Cancel(SkipReason),
}

fn stale(current: u64) -> AppError {
    AppError::PreconditionFailed(format!(
        "the automation is at version {current}; read it again and reapply your change"
    ))
}
