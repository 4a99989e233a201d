//! Timers: stored records with a due time that the sweep fires. Every piece
//! of pending work has one, so that a lost queue message or a crash only
//! delays the work until its timer is due.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{LeadId, MessageId, TenantId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// The lead still needs an owner (safety net behind the leads queue).
    Assign,
    /// The first-contact deadline: warn the branch manager.
    SlaWarn,
    /// The second deadline: hand the lead to the next consultant.
    SlaReassign,
    /// A ledger message still needs sending (safety net behind the outbox queue, and retries).
    Deliver,
}

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Assign => "assign",
            TimerKind::SlaWarn => "sla_warn",
            TimerKind::SlaReassign => "sla_reassign",
            TimerKind::Deliver => "deliver",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub tenant: TenantId,
    pub lead: LeadId,
    pub kind: TimerKind,
    pub due_at: Timestamp,
    /// The SLA cycle an SLA timer belongs to.
    #[serde(default)]
    pub cycle: u32,
    /// The message a delivery timer is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageId>,
    /// How many times a sweep claimed this timer (its work failed each
    /// time but the last).
    #[serde(default)]
    pub attempts: u32,
}

impl Timer {
    /// The timer's name within its lead: one timer per name.
    pub fn name(&self) -> String {
        Timer::name_of(self.kind, self.message.as_ref())
    }

    /// The name of the timer of `kind` (for `message`, if a delivery timer).
    pub fn name_of(kind: TimerKind, message: Option<&MessageId>) -> String {
        match message {
            Some(m) => format!("{}.{m}", kind.as_str()),
            None => kind.as_str().to_owned(),
        }
    }
}
