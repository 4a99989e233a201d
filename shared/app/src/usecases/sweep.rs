//! The timer sweep: fires every due timer once, however many sweeps
//! overlap. Each timer is claimed by a conditional write that also pushes
//! its due time to the end of a lease, so a sweep that dies mid-work leaves
//! the timer to be fired again after the lease, and the work it does is
//! idempotent.

use clinicflow_core::ids::RecordRef;
use clinicflow_core::timer::{Timer, TimerKind};
use clinicflow_ports::{Condition, Index, Item, Query, SortKey, WriteError};
use futures_util::stream::{self, StreamExt};
use jiff::Timestamp;
use tracing::{error, warn};

use crate::error::AppError;
use crate::records;
use crate::{App, keys};

/// Timers fired at once within one sweep.
const CONCURRENCY: usize = 8;

/// Pages of due timers read per shard in one sweep, at most.
const MAX_PAGES: usize = 20;

/// Claims of one timer before its work is given up (with an error in the
/// log): a timer whose work can never succeed must not fire forever.
pub(crate) const MAX_ATTEMPTS: u32 = 10;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Timers whose work was done.
    pub fired: usize,
    /// Timers whose work failed; they fire again after the lease.
    pub failed: usize,
    /// Timers another sweep claimed first.
    pub skipped: usize,
}

enum Outcome {
    Fired,
    Failed,
    Skipped,
}

impl App {
    /// Fires the timers due now.
    pub async fn sweep_due_timers(&self) -> Result<SweepReport, AppError> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        for shard in 0..keys::DUE_SHARDS {
            for _ in 0..MAX_PAGES {
                let page = self
                    .store
                    .query(&Query {
                        index: Index::Gsi1,
                        pk: keys::due_index_pk(shard),
                        sk: SortKey::AtMost(keys::due_until(now)),
                        descending: false,
                        limit: self.tuning.sweep_batch,
                        after: None,
                    })
                    .await?;
                let full = page.items.len() >= self.tuning.sweep_batch;
                let outcomes: Vec<Outcome> = stream::iter(page.items)
                    .map(|item| self.claim_and_fire(item, now))
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
                for outcome in outcomes {
                    match outcome {
                        Outcome::Fired => report.fired += 1,
                        Outcome::Failed => report.failed += 1,
                        Outcome::Skipped => report.skipped += 1,
                    }
                }
                // Claimed timers left the due range, so the next page is new.
                if !full {
                    break;
                }
            }
        }
        Ok(report)
    }

    async fn claim_and_fire(&self, item: Item, now: Timestamp) -> Outcome {
        let timer: Timer = match records::decode(&item) {
            Ok(t) => t,
            Err(e) => {
                // It could never be fired; removed, it no longer blocks its shard.
                error!(key = %item.key.sk, error = %e, "undecodable timer removed");
                let _ = self
                    .store
                    .write(vec![records::delete(
                        item.key,
                        Condition::VersionIs(item.version),
                    )])
                    .await;
                return Outcome::Failed;
            }
        };
        if timer.attempts >= MAX_ATTEMPTS {
            error!(tenant = %timer.tenant, record = %timer.about, timer = timer.kind.as_str(), attempts = timer.attempts, "timer given up after failing every time");
            let _ = self
                .store
                .write(vec![records::delete(
                    item.key,
                    Condition::VersionIs(item.version),
                )])
                .await;
            return Outcome::Failed;
        }
        let mut claimed = timer.clone();
        claimed.due_at = now.saturating_add(self.tuning.lease).unwrap_or(now);
        claimed.attempts += 1;
        let claim = match records::timer_claim(&claimed, item.version) {
            Ok(w) => w,
            Err(e) => {
                error!(error = %e, "timer claim could not be built");
                return Outcome::Failed;
            }
        };
        match self.store.write(vec![claim]).await {
            Ok(()) => {}
            Err(WriteError::ConditionFailed { .. }) => return Outcome::Skipped,
            Err(e) => {
                warn!(error = %e, "timer claim failed");
                return Outcome::Failed;
            }
        }
        crate::metrics::timer_late(timer.due_at, now);
        match self.fire(&timer, item.version + 1).await {
            Ok(()) => Outcome::Fired,
            Err(e) => {
                warn!(tenant = %timer.tenant, record = %timer.about, timer = timer.kind.as_str(), error = %e, "timer work failed; it fires again after its lease");
                Outcome::Failed
            }
        }
    }

    async fn fire(&self, timer: &Timer, claimed: u64) -> Result<(), AppError> {
        match (timer.kind, &timer.message) {
            (TimerKind::Assign, _) => match &timer.about {
                RecordRef::Lead(lead) => self.assign_lead(&timer.tenant, lead, None).await,
                RecordRef::Appointment(_)
                | RecordRef::Blast(_)
                | RecordRef::Deal(_)
                | RecordRef::Rule(_) => self.drop_timer(timer, claimed).await,
            },
            (TimerKind::Deliver, Some(message)) => {
                self.deliver_message(&timer.tenant, &timer.about, message)
                    .await
            }
            (TimerKind::Step, _) => self.fire_step(timer, claimed).await,
            (TimerKind::Deliver, None) => self.drop_timer(timer, claimed).await,
            (TimerKind::SlaWarn, _) => self.sla_warn(timer, claimed).await,
            (TimerKind::SlaReassign, _) => self.sla_reassign(timer, claimed).await,
            (TimerKind::Blast, _) => self.fire_blast_timer(timer, claimed).await,
            (TimerKind::Automation, _) => self.fire_automation(timer, claimed).await,
        }
    }
}
