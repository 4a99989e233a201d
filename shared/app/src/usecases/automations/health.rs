//! A rule's daily health check: a rule that fired every day of the last
//! week and not once in the last 24 hours has probably lost its trigger
//! (a renamed stage, a form that stopped posting, a scheduler that stopped
//! feeding): its branch manager gets a task saying so, once per day. The
//! check is a timer in the rule's own partition, armed on activation and
//! re-armed by itself while the rule is active.

use clinicflow_core::automation::{Firing, FiringState, Rule};
use clinicflow_core::ids::{RecordRef, RuleId, StaffId, TaskId};
use clinicflow_core::task::{Task, TaskKind};
use clinicflow_core::tenant::Tenant;
use clinicflow_core::timer::{Timer, TimerKind};
use clinicflow_ports::{Condition, Index, Query, SortKey, Write};
use jiff::{SignedDuration, Timestamp};
use tracing::{info, warn};

use crate::error::AppError;
use crate::records;
use crate::usecases::landed;
use crate::{App, keys};

const DAY: SignedDuration = SignedDuration::from_hours(24);

/// The occurrence that names a rule's health timer.
const HEALTH: &str = "health";

/// The rule's health timer, due a day after `now`.
pub(super) fn health_timer(
    tenant: &Tenant,
    rule: &RuleId,
    now: Timestamp,
) -> Result<Write, AppError> {
    records::timer(&timer(tenant, rule, now), now, Condition::Always)
}

fn timer(tenant: &Tenant, rule: &RuleId, now: Timestamp) -> Timer {
    let mut timer = Timer::new(
        tenant.id.clone(),
        RecordRef::Rule(rule.clone()),
        TimerKind::Automation,
        now.checked_add(DAY).unwrap_or(now),
    );
    timer.rule = Some(rule.clone());
    timer.occurrence = Some(HEALTH.into());
    timer
}

/// Whether firings settled at `fired` (newest or not) show a rule that
/// fired on each of the seven days before the last 24 hours, and not in them.
pub fn fell_silent(fired: &[Timestamp], now: Timestamp) -> bool {
    let mut days = [0u32; 8];
    for at in fired {
        let ago = now.duration_since(*at);
        if ago.is_negative() {
            continue;
        }
        let day = usize::try_from(ago.as_secs() / DAY.as_secs()).unwrap_or(usize::MAX);
        if let Some(n) = days.get_mut(day) {
            *n += 1;
        }
    }
    days[0] == 0 && days[1..].iter().all(|n| *n > 0)
}

impl App {
    /// Checks rule `timer.rule`'s last week; re-arms the check while the rule is active.
    pub(super) async fn check_health(
        &self,
        tenant: &Tenant,
        timer: &Timer,
        claimed: u64,
    ) -> Result<(), AppError> {
        let Some(rule_id) = &timer.rule else {
            return self.drop_timer(timer, claimed).await;
        };
        let rule =
            records::get::<Rule>(self.store.as_ref(), &keys::rule(&tenant.id, rule_id)).await?;
        let Some(rule) = rule.map(|r| r.value).filter(|r| r.active) else {
            return self.drop_timer(timer, claimed).await;
        };
        let now = self.clock.now();
        let since = now.checked_sub(DAY * 8).unwrap_or(now);
        let mut query = Query {
            index: Index::Gsi1,
            pk: keys::rule_firings_index_pk(&tenant.id, &rule.id),
            sk: SortKey::Between(keys::millis(since), keys::millis(now)),
            descending: false,
            limit: 500,
            after: None,
        };
        let mut fired = Vec::new();
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let f: Firing = records::decode(item)?;
                if f.state == FiringState::Fired {
                    fired.extend(f.settled_at);
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let mut next = self::timer(tenant, &rule.id, now);
        next.attempts = 0;
        let mut writes = vec![records::timer(&next, now, Condition::VersionIs(claimed))?];
        if fell_silent(&fired, now) {
            let manager = &tenant.default_branch().manager;
            let day = tenant.default_branch().time_zone.to_datetime(now).date();
            let task = Task {
                id: TaskId::new(format!("silent-{}-{day}", rule.id)).map_err(AppError::Internal)?,
                about: RecordRef::Rule(rule.id.clone()),
                kind: TaskKind::Automation,
                assignee: StaffId::from(manager),
                title: format!(
                    "The automation “{}” fired every day for a week and not once in the last 24 hours: check its trigger",
                    rule.spec.name
                ),
                created_at: now,
                done_at: None,
                due_at: now.checked_add(DAY).ok(),
                firing: None,
            };
            writes.push(records::task(&tenant.id, &task, None)?);
            warn!(tenant = %tenant.id, rule = %rule.id, "automation fell silent; manager tasked");
        }
        if !landed(self.store.write(writes.clone()).await)? && writes.len() > 1 {
            // The alert of the day exists already: only re-arm.
            writes.truncate(1);
            landed(self.store.write(writes).await)?;
        }
        info!(tenant = %tenant.id, rule = %rule.id, fired = fired.len(), "automation health checked");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_after_a_week_of_daily_firings() {
        let now: Timestamp = "2026-12-10T12:00:00Z".parse().unwrap();
        let daily: Vec<Timestamp> = (1..=7)
            .map(|d| now - SignedDuration::from_hours(24 * d + 2))
            .collect();
        assert!(fell_silent(&daily, now));
        let mut today = daily.clone();
        today.push(now - SignedDuration::from_hours(1));
        assert!(!fell_silent(&today, now));
        assert!(
            !fell_silent(&daily[..6], now),
            "a day without firings is not daily"
        );
    }
}
