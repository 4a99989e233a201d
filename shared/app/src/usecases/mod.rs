//! The use cases, as methods of [`App`](crate::App), each in its own module.
//!
//! Every state change is one conditional transaction on the store, re-read
//! and retried when another writer got there first. Work for other
//! functions is sent to a queue after the commit, and also armed as a timer
//! in the commit itself, so that a lost queue message only delays it.

mod assign;
mod compose;
mod deliver;
mod intake;
mod queries;
mod sla;
mod staff;
mod sweep;

pub use intake::Submitted;
pub use queries::{LeadDetail, LeadFilter, Listing, MessageFilter, TaskFilter};
pub use staff::{ContactInput, StageInput};
pub use sweep::SweepReport;

use clinicflow_core::ids::{LeadId, TenantId};
use clinicflow_core::lead::{LeadEvent, Recorded};
use clinicflow_core::message::Message;
use clinicflow_ports::{Condition, Write, WriteError};
use jiff::Timestamp;
use tracing::warn;

use crate::error::AppError;
use crate::work::Work;
use crate::{App, records};

/// Optimistic-concurrency rounds before a use case gives up as busy.
const MAX_ROUNDS: usize = 32;

/// `Ok(true)` when the transaction landed, `Ok(false)` when a condition
/// failed (someone else wrote first: read again and retry).
fn landed(result: Result<(), WriteError>) -> Result<bool, AppError> {
    match result {
        Ok(()) => Ok(true),
        Err(WriteError::ConditionFailed { .. }) => Ok(false),
        Err(WriteError::Store(e)) => Err(e.into()),
    }
}

fn busy(what: &str) -> AppError {
    AppError::Busy(format!("{what}: too many concurrent changes, try again"))
}

impl App {
    /// The write that records `event` in a lead's history.
    fn history(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        event: LeadEvent,
        at: Timestamp,
    ) -> Result<Write, AppError> {
        let recorded = Recorded {
            id: self.ids.new_id(),
            at,
            event,
        };
        records::event(tenant, lead, &recorded)
    }

    /// The writes that put a new message in the ledger, with the timer
    /// that delivers it should its queue message never arrive.
    fn ledger_entry(&self, message: &Message, now: Timestamp) -> Result<[Write; 2], AppError> {
        let safety_net = now.saturating_add(self.tuning.safety_net).unwrap_or(now);
        Ok([
            records::message(message, None)?,
            records::timer(
                &compose::deliver_timer(message, safety_net),
                now,
                Condition::Always,
            )?,
        ])
    }

    /// Queues delivery of ledger messages just committed.
    async fn deliver_soon(&self, messages: impl IntoIterator<Item = &Message>) {
        let work = messages
            .into_iter()
            .map(|m| Work::Deliver {
                tenant: m.tenant.clone(),
                lead: m.lead.clone(),
                message: m.id.clone(),
            })
            .collect();
        self.enqueue(work).await;
    }

    /// Sends work to its queue after a commit. A failure is logged, not
    /// returned: the commit armed a timer that does the work anyway.
    async fn enqueue(&self, work: Vec<Work>) {
        let Some(first) = work.first() else { return };
        let queue = first.queue();
        let bodies = work.iter().map(Work::to_body).collect();
        if let Err(e) = self.queue.send(queue, bodies).await {
            warn!(queue = queue.as_str(), error = %e, "queue send failed; the safety-net timer will do the work");
        }
    }

    /// Handles one queue message (assign or deliver). An `Err` means the
    /// message should be retried; after enough retries it is dead-lettered.
    pub async fn handle_work(&self, body: &str) -> Result<(), AppError> {
        match Work::parse(body).map_err(AppError::Internal)? {
            Work::Assign { tenant, lead } => self.assign_lead(&tenant, &lead).await,
            Work::Deliver {
                tenant,
                lead,
                message,
            } => self.deliver_message(&tenant, &lead, &message).await,
        }
    }
}
