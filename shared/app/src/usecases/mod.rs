//! The use cases, as methods of [`App`](crate::App), each in its own module.
//!
//! Every state change is one conditional transaction on the store, re-read
//! and retried when another writer got there first. Work for other
//! functions is queued by the same transaction (an outbox write), and also
//! armed as a timer in it, so that a lost queue message only delays it.

mod appointments;
mod assign;
pub(crate) mod automations;
pub(crate) mod blasts;
mod calls;
mod compose;
mod deliver;
mod inbound;
mod intake;
mod lead_ads;
mod outreach;
mod pacing;
mod queries;
mod sla;
mod staff;
mod sweep;

pub use appointments::{
    AppointmentDetail, AppointmentFilter, BookInput, DayPart, FeedOutcome, FhirRefusal, FhirWrite,
    LinkPage, MoveInput, PlanStep, Reply, SurveyFilter, SurveySummary,
};
pub use automations::{DealInput, DealView, Preview, PreviewEntry, RuleHealth, RuleSaved};
pub use blasts::{BlastInput, BlastView, RecipientFilter, Refused};
pub use intake::Submitted;
pub use queries::{LeadDetail, LeadFilter, Listing, MessageFilter, TaskFilter};
pub use staff::{ContactInput, StageInput};
pub use sweep::SweepReport;

use clinicflow_core::ids::{LeadId, TenantId};
use clinicflow_core::lead::{LeadEvent, Recorded};
use clinicflow_core::message::Message;
use clinicflow_ports::{Condition, Write, WriteError};
use jiff::Timestamp;

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
    /// The writes that record `event` in a lead's history and, for the
    /// events others are told of, publish it.
    fn history(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        event: LeadEvent,
        at: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let recorded = Recorded {
            id: self.ids.new_id(),
            at,
            event,
        };
        let mut writes = vec![records::event(tenant, lead, &recorded)?];
        writes.extend(records::publication(tenant, lead, &recorded)?);
        Ok(writes)
    }

    /// The writes that put a new message in the ledger, queue its
    /// delivery, and arm the timer that delivers it should the queue
    /// message never arrive.
    fn ledger_entry(&self, message: &Message, now: Timestamp) -> Result<[Write; 3], AppError> {
        let safety_net = now.saturating_add(self.tuning.safety_net).unwrap_or(now);
        let delivery = Work::Deliver {
            tenant: message.tenant.clone(),
            about: message.about.clone(),
            message: message.id.clone(),
        };
        Ok([
            records::message(message, None)?,
            records::timer(
                &compose::deliver_timer(message, safety_net),
                now,
                Condition::Always,
            )?,
            delivery.enqueue(),
        ])
    }

    /// Handles one queue message (assign or deliver). An `Err` means the
    /// message should be retried; after enough retries it is dead-lettered.
    pub async fn handle_work(&self, body: &str) -> Result<(), AppError> {
        match Work::parse(body).map_err(AppError::Internal)? {
            Work::Assign {
                tenant,
                lead,
                contact,
            } => self.assign_lead(&tenant, &lead, contact.as_ref()).await,
            Work::Deliver {
                tenant,
                about,
                message,
            } => self.deliver_message(&tenant, &about, &message).await,
            Work::Inbound { tenant, inbound } => self.handle_inbound(&tenant, &inbound).await,
            Work::Calcom { tenant, write } => self.apply_calcom(&tenant, &write).await,
            Work::Answer {
                tenant,
                appointment,
                version,
                reply,
                key,
            } => {
                self.answer_by_link(&tenant, &appointment, version, reply, &key)
                    .await
            }
            Work::BlastPage {
                tenant,
                blast,
                page,
            } => self.send_blast_page(&tenant, &blast, page).await,
            Work::Automation {
                tenant,
                about,
                events,
                at,
                depth,
            } => {
                self.arm_automations(&tenant, &about, &events, at, depth)
                    .await
            }
        }
    }
}
