//! What a rule may name: the fields of each subject (and of its patient,
//! and of the event that triggered it), their types and the values they
//! take. A record is seen by the engine as a [`View`]: field → value, built
//! by the application from the stored record.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::spec::{Subject, Trigger};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Text(Domain),
    Bool,
    Time,
}

/// The values a text field takes, checked at save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    Free,
    Branch,
    Practitioner,
    Service,
    Consultant,
    Form,
    Pipeline,
    /// A stage of the rule's pipeline.
    Stage,
    Enum(&'static [&'static str]),
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldType,
    /// A time a rule can be timed from.
    pub anchor: bool,
}

const fn text(name: &'static str, domain: Domain) -> Field {
    Field {
        name,
        kind: FieldType::Text(domain),
        anchor: false,
    }
}

const fn flag(name: &'static str) -> Field {
    Field {
        name,
        kind: FieldType::Bool,
        anchor: false,
    }
}

const fn time(name: &'static str, anchor: bool) -> Field {
    Field {
        name,
        kind: FieldType::Time,
        anchor,
    }
}

const APPOINTMENT_STATUSES: &[&str] = &[
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
];

const OUTCOMES: &[&str] = &["open", "won", "lost"];

const LEAD: &[Field] = &[
    text("lead.stage", Domain::Stage),
    text("lead.source", Domain::Free),
    text("lead.campaign", Domain::Free),
    text("lead.branch", Domain::Branch),
    text("lead.language", Domain::Free),
    text("lead.owner", Domain::Consultant),
    text("lead.service", Domain::Free),
    text("lead.form", Domain::Form),
    flag("lead.contacted"),
    time("lead.created_at", true),
    time("lead.stage_entered_at", true),
];

const DEAL: &[Field] = &[
    text("deal.pipeline", Domain::Pipeline),
    text("deal.stage", Domain::Stage),
    text("deal.outcome", Domain::Enum(OUTCOMES)),
    text("deal.branch", Domain::Branch),
    text("deal.owner", Domain::Consultant),
    text("deal.source", Domain::Free),
    text("deal.language", Domain::Free),
    flag("deal.in_treatment"),
    flag("deal.first_visit"),
    flag("deal.has_parent"),
    time("deal.created_at", true),
    time("deal.stage_entered_at", true),
];

const APPOINTMENT: &[Field] = &[
    text("appointment.status", Domain::Enum(APPOINTMENT_STATUSES)),
    flag("appointment.confirmed"),
    text("appointment.practitioner", Domain::Practitioner),
    text("appointment.service", Domain::Service),
    text("appointment.branch", Domain::Branch),
    text("appointment.source", Domain::Free),
    flag("appointment.has_lead"),
    time("appointment.starts_at", true),
    time("appointment.booked_at", true),
];

const PATIENT: &[Field] = &[
    flag("patient.opted_out"),
    flag("patient.marketing_consent"),
    flag("patient.has_future_appointment"),
];

const EVENT_TOUCH: &[Field] = &[text(
    "event.touch_type",
    Domain::Enum(&["call", "message", "visit", "note"]),
)];
const EVENT_INBOUND: &[Field] = &[text(
    "event.channel",
    Domain::Enum(&["sms", "whatsapp", "email"]),
)];
const EVENT_FORM: &[Field] = &[text("event.form", Domain::Form)];

fn subject_fields(subject: Subject) -> &'static [Field] {
    match subject {
        Subject::Lead => LEAD,
        Subject::Deal => DEAL,
        Subject::Appointment => APPOINTMENT,
    }
}

fn event_fields(trigger: &Trigger) -> &'static [Field] {
    match trigger {
        Trigger::TouchRecorded { .. } => EVENT_TOUCH,
        Trigger::InboundMessage { .. } => EVENT_INBOUND,
        Trigger::FormSubmitted { .. } => EVENT_FORM,
        _ => &[],
    }
}

/// A field of the subject itself.
pub fn field(subject: Subject, name: &str) -> Option<Field> {
    subject_fields(subject)
        .iter()
        .find(|f| f.name == name)
        .copied()
}

/// A field a condition of this rule may test: the subject's, its
/// patient's, and its triggering event's.
pub fn field_for(subject: Subject, trigger: &Trigger, name: &str) -> Option<Field> {
    subject_fields(subject)
        .iter()
        .chain(PATIENT)
        .chain(event_fields(trigger))
        .find(|f| f.name == name)
        .copied()
}

pub fn names_for(subject: Subject, trigger: &Trigger) -> Vec<&'static str> {
    subject_fields(subject)
        .iter()
        .chain(PATIENT)
        .chain(event_fields(trigger))
        .map(|f| f.name)
        .collect()
}

pub fn anchors(subject: Subject) -> Vec<&'static str> {
    subject_fields(subject)
        .iter()
        .filter(|f| f.anchor)
        .map(|f| f.name)
        .collect()
}

/// A field's value in a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Time(Timestamp),
    Text(String),
}

impl Value {
    /// As it compares with a rule's JSON value.
    pub fn matches(&self, v: &serde_json::Value) -> bool {
        match (self, v) {
            (Value::Bool(a), serde_json::Value::Bool(b)) => a == b,
            (Value::Text(a), serde_json::Value::String(b)) => a == b,
            _ => false,
        }
    }
}

/// A record as the engine sees it; a field that is not set is absent.
pub type View = BTreeMap<String, Value>;
