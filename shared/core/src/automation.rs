//! The clinic's own automation rules, as data: what a tenant stores and
//! edits through the staff API (`/v1/automations`), as opposed to the
//! appointment journeys of [`crate::journey`], which are configured.
//!
//! A rule is about one subject (a lead, a deal, an appointment) and has a
//! trigger — an event, a time relative to one of the record's fields, or
//! idling in a stage — conditions over the record, an optional delay (in
//! calendar time or the branch's opening hours) and actions. Each firing
//! is keyed by (rule, record, occurrence): the stage entry, the anchor
//! field's value, or the event's id, so a rule acts at most once per
//! occurrence, and a moved appointment or a deal that left its stage is a
//! new occurrence while the old one dies.
//!
//! - [`spec`]: the rule's JSON and its checks at save (every reference
//!   exists and fits; delays within bounds; paths named).
//! - [`fields`]: what conditions and anchors may name, per subject.
//! - [`graph`]: loops between rules, found at save.
//! - [`plan`]: arming a firing for an event, and checking it when it fires.

pub mod fields;
pub mod graph;
pub mod plan;
pub mod spec;

pub use fields::{Value, View};
pub use plan::{Armed, Event, Firing, FiringState, SkipReason, Verdict};
pub use spec::{Action, Assignee, Clock, RuleSpec, Subject, Trigger};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::RuleId;

/// The deepest chain of firings one event may start (a rule's stage move
/// firing another rule, and so on): a loop the save-time check could not
/// see stops here.
pub const MAX_DEPTH: u8 = 5;

/// A stored rule: its current version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: RuleId,
    /// Bumped by every save; `If-Match` names it.
    pub version: u64,
    pub active: bool,
    #[serde(flatten)]
    pub spec: RuleSpec,
    pub updated_at: Timestamp,
}

/// What an edit, a deactivation or a deletion did to the rule's pending
/// firings, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replan {
    pub at: Option<Timestamp>,
    pub cancelled: u32,
    pub replanned: u32,
    pub reason: String,
}

/// A ready-made set of pipelines and rules a tenant loads with one call.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    pub pipelines: Vec<crate::pipeline::Pipeline>,
    pub rules: Vec<PresetRule>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PresetRule {
    pub id: RuleId,
    #[serde(flatten)]
    pub spec: RuleSpec,
}

/// The presets by name.
pub const PRESETS: &[&str] = &["dental"];

/// The preset `name`: seed 004's four dental pipelines and their robots.
pub fn preset(name: &str) -> Option<Result<Preset, String>> {
    let json = match name {
        "dental" => include_str!("../presets/dental.json"),
        _ => return None,
    };
    Some(serde_json::from_str(json).map_err(|e| format!("preset `{name}`: {e}")))
}

#[cfg(test)]
#[path = "automation_tests.rs"]
mod tests;
