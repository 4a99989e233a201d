//! Tasks for managers: what needs a person's attention.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{LeadId, ManagerId, TaskId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Nobody contacted a lead within the SLA.
    SlaBreach,
    /// No active consultant could take a lead.
    NoConsultant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub lead: LeadId,
    pub kind: TaskKind,
    pub assignee: ManagerId,
    pub title: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<Timestamp>,
}

/// The task of one SLA breach: one per lead and cycle, however often the
/// deadline is processed.
pub fn sla_breach_id(lead: &LeadId, cycle: u32) -> TaskId {
    TaskId::derived("sla_breach", lead, Some(cycle))
}

pub fn no_consultant_id(lead: &LeadId) -> TaskId {
    TaskId::derived("no_consultant", lead, None)
}
