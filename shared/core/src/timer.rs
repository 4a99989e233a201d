//! Timers: stored records with a due time that the sweep fires. Every piece
//! of pending work has one, so that a lost queue message or a crash only
//! delays the work until its timer is due.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{MessageId, RecordRef, RuleId, TenantId};

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
    /// A rule of the automation engine fires for an appointment.
    Step,
    /// A blast starts (when scheduled), or its pages are driven again
    /// (deferred recipients, lost queue messages).
    Blast,
    /// An automation rule's firing for a record falls due.
    Automation,
}

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Assign => "assign",
            TimerKind::SlaWarn => "sla_warn",
            TimerKind::SlaReassign => "sla_reassign",
            TimerKind::Deliver => "deliver",
            TimerKind::Step => "step",
            TimerKind::Blast => "blast",
            TimerKind::Automation => "automation",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub tenant: TenantId,
    /// The lead or appointment the timer is for; it lives in its partition.
    #[serde(flatten)]
    pub about: RecordRef,
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
    /// The rule a step timer fires, and the occurrence it fires it for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<String>,
}

impl Timer {
    /// A timer of `kind` for `about`, due at `due_at`, never claimed yet.
    pub fn new(tenant: TenantId, about: RecordRef, kind: TimerKind, due_at: Timestamp) -> Timer {
        Timer {
            tenant,
            about,
            kind,
            due_at,
            cycle: 0,
            message: None,
            attempts: 0,
            rule: None,
            occurrence: None,
        }
    }

    /// The timer's name within its record: one timer per name.
    pub fn name(&self) -> String {
        match (&self.rule, self.kind) {
            (Some(rule), TimerKind::Step) => Timer::step_name(rule),
            (Some(rule), TimerKind::Automation) => {
                Timer::automation_name(rule, self.occurrence.as_deref().unwrap_or_default())
            }
            _ => Timer::name_of(self.kind, self.message.as_ref()),
        }
    }

    /// The name of the timer that fires `rule`'s step for a record.
    pub fn step_name(rule: &RuleId) -> String {
        format!("step.{rule}")
    }

    /// The name of the timer of an automation rule's firing for one occurrence.
    pub fn automation_name(rule: &RuleId, occurrence: &str) -> String {
        format!("auto.{rule}.{occurrence}")
    }

    /// The name of the timer of `kind` (for `message`, if a delivery timer).
    pub fn name_of(kind: TimerKind, message: Option<&MessageId>) -> String {
        match message {
            Some(m) => format!("{}.{m}", kind.as_str()),
            None => kind.as_str().to_owned(),
        }
    }
}
