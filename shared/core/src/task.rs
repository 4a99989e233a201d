//! Tasks: what needs a person's attention — a manager's (an SLA breach, a
//! low score) or anyone's (what an automation rule asks of a consultant,
//! a coordinator, a manager).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{LeadId, RecordRef, StaffId, TaskId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Nobody contacted a lead within the SLA.
    SlaBreach,
    /// No active consultant could take a lead.
    NoConsultant,
    /// A patient asked for another appointment time: call them.
    RescheduleRequest,
    /// A patient scored a visit low.
    LowScore,
    /// What a clinic's automation rule asks of someone.
    Automation,
    /// A lead came from a lead-ad form nobody mapped (or whose answers
    /// did not read): map it.
    UnmappedLeadForm,
    /// A patient with an open lead called and nobody answered: call back.
    MissedCall,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::SlaBreach => "sla_breach",
            TaskKind::NoConsultant => "no_consultant",
            TaskKind::RescheduleRequest => "reschedule_request",
            TaskKind::LowScore => "low_score",
            TaskKind::Automation => "automation",
            TaskKind::UnmappedLeadForm => "unmapped_lead_form",
            TaskKind::MissedCall => "missed_call",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    /// The lead or appointment the task is about.
    #[serde(flatten)]
    pub about: RecordRef,
    pub kind: TaskKind,
    /// A consultant or a manager.
    pub assignee: StaffId,
    pub title: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Timestamp>,
    /// The automation firing that opened it (rule, record, occurrence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<Timestamp>,
}

/// The task of one SLA breach: one per lead and cycle, however often the
/// deadline is processed.
pub fn sla_breach_id(lead: &LeadId, cycle: u32) -> TaskId {
    TaskId::derived("sla_breach", lead, Some(cycle))
}

impl Task {
    /// Open past its due time at `now`.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.done_at.is_none() && self.due_at.is_some_and(|due| due < now)
    }
}

pub fn no_consultant_id(lead: &LeadId) -> TaskId {
    TaskId::derived("no_consultant", lead, None)
}

pub fn unmapped_lead_form_id(lead: &LeadId) -> TaskId {
    TaskId::derived("unmapped_lead_form", lead, None)
}
