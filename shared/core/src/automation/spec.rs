//! A rule's JSON, and what is checked before it is saved: every template,
//! channel, pipeline, stage, field, person and role it names exists and
//! fits, delays are within bounds, and an operational rule never sends a
//! promotional template. Problems are (path in the rule's JSON, problem).

use std::collections::BTreeSet;

use jiff::SignedDuration;
use jiff::civil::Time;
use serde::{Deserialize, Serialize};

use super::fields::{self, FieldType};
use crate::appointment::AppointmentStatus;
use crate::lead::ContactKind;
use crate::message::{Channel, Purpose};
use crate::pipeline::{LEADS, Pipeline};

/// What a rule is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Lead,
    Deal,
    Appointment,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Lead => "lead",
            Subject::Deal => "deal",
            Subject::Appointment => "appointment",
        }
    }
}

/// How a delay or an idle time is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    #[default]
    Calendar,
    /// The branch's opening hours, holidays and time zone.
    Business,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A lead or deal was created (a deal also by a rule's copy).
    RecordCreated,
    /// The record entered a stage of a pipeline.
    StageEntered { pipeline: String, stage: String },
    /// The appointment's status became this.
    AppointmentStatus { status: AppointmentStatus },
    /// The patient wrote (on any channel, or on this one).
    InboundMessage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
    },
    /// Staff recorded a contact (of this type).
    TouchRecorded {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        touch_type: Option<ContactKind>,
    },
    /// The patient posted a web form again (of this form).
    FormSubmitted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        form: Option<String>,
    },
    /// A clinic's own system posted `code` to `POST /v1/automations/triggers/{code}`.
    External { code: String },
    /// A time relative to one of the record's time fields (negative:
    /// before), optionally at a local time of day in the branch's zone.
    Time {
        anchor: String,
        offset: SignedDuration,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_local: Option<Time>,
    },
    /// The record stayed in a stage this long (SLA, stalled deals).
    Idle {
        pipeline: String,
        stage: String,
        #[serde(rename = "for")]
        after: SignedDuration,
        #[serde(default)]
        clock: Clock,
    },
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::RecordCreated => "record_created",
            Trigger::StageEntered { .. } => "stage_entered",
            Trigger::AppointmentStatus { .. } => "appointment_status",
            Trigger::InboundMessage { .. } => "inbound_message",
            Trigger::TouchRecorded { .. } => "touch_recorded",
            Trigger::FormSubmitted { .. } => "form_submitted",
            Trigger::External { .. } => "external",
            Trigger::Time { .. } => "time",
            Trigger::Idle { .. } => "idle",
        }
    }

    /// Whether the trigger is a state the record can be found in now
    /// (so "run now" and activation can reach records already there).
    pub fn is_state(&self) -> bool {
        matches!(
            self,
            Trigger::RecordCreated
                | Trigger::StageEntered { .. }
                | Trigger::AppointmentStatus { .. }
                | Trigger::Time { .. }
                | Trigger::Idle { .. }
        )
    }
}

/// One test of a field of the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub value: serde_json::Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    IsSet,
    IsNotSet,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::IsSet => "is_set",
            Op::IsNotSet => "is_not_set",
        }
    }
}

/// Every condition of `all`, and at least one of `any` when it has some.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<Condition>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delay {
    #[serde(rename = "for")]
    pub after: SignedDuration,
    #[serde(default)]
    pub clock: Clock,
}

/// Who a task goes to: a named person, or a role resolved when it fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignee {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The record's owner (consultant), else its branch's manager.
    Responsible,
    /// The manager of the record's branch.
    BranchManager,
    /// Whom the responsible person answers to: the branch's manager.
    Supervisor,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A message to the patient from one of the tenant's templates
    /// (`[tenants.blasts.templates]`), on this channel first if given.
    SendMessage {
        template: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
    },
    CreateTask {
        assignee: Assignee,
        title: String,
        /// Due this long after the task is made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<SignedDuration>,
    },
    /// To another stage of the record's pipeline.
    MoveStage { stage: String },
    /// A new deal in another pipeline, linked to this record.
    CopyToPipeline { pipeline: String, stage: String },
    /// This deal into another pipeline (a lead: a copy, and the lead stays).
    MoveToPipeline { pipeline: String, stage: String },
    /// The record to this consultant.
    Reassign { to: String },
    /// A signed POST of the firing (ids, no patient data) to the clinic's
    /// own system: its callback URL (`[tenants.appointments]
    /// callback_url`), signed with its callback secret.
    Webhook {},
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::SendMessage { .. } => "send_message",
            Action::CreateTask { .. } => "create_task",
            Action::MoveStage { .. } => "move_stage",
            Action::CopyToPipeline { .. } => "copy_to_pipeline",
            Action::MoveToPipeline { .. } => "move_to_pipeline",
            Action::Reassign { .. } => "reassign",
            Action::Webhook {} => "webhook",
        }
    }
}

/// A rule as staff write it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    /// Seed 003's grouping: touch, appointment, document, pipeline, sla.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub subject: Subject,
    /// Operational rules may only use operational templates; promotional
    /// ones reach only patients who consented.
    #[serde(default = "operational")]
    pub purpose: Purpose,
    pub trigger: Trigger,
    #[serde(default)]
    pub conditions: Conditions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    pub actions: Vec<Action>,
    /// How far in the past a due time may lie for activation and "run
    /// now" to still fire it. Unset: records in the trigger's state now
    /// (a stage, a status) whenever they entered it; for a time trigger,
    /// only times still ahead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<SignedDuration>,
}

fn operational() -> Purpose {
    Purpose::Operational
}

/// What a rule's references are checked against: the tenant's
/// configuration and its stored pipelines.
pub struct Catalog<'a> {
    pub pipelines: &'a [Pipeline],
    /// Template id → its purpose.
    pub templates: Vec<(&'a str, Purpose)>,
    /// Channels the tenant can send on.
    pub channels: Vec<Channel>,
    pub consultants: BTreeSet<&'a str>,
    pub managers: BTreeSet<&'a str>,
    pub branches: BTreeSet<&'a str>,
    pub practitioners: BTreeSet<&'a str>,
    pub services: BTreeSet<&'a str>,
    pub forms: BTreeSet<&'a str>,
    /// Whether the clinic has a callback URL for webhooks.
    pub webhook: bool,
}

impl Catalog<'_> {
    pub fn pipeline(&self, id: &str) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.id.as_str() == id)
    }
}

/// The least and the most a delay (or an idle time) may be.
pub const MIN_DELAY: SignedDuration = SignedDuration::from_mins(1);
pub const MAX_DELAY: SignedDuration = SignedDuration::from_hours(24 * 366);

type Problems = Vec<(String, String)>;

impl RuleSpec {
    /// Everything wrong with the rule, as (path, problem); empty when it may be saved.
    pub fn problems(&self, catalog: &Catalog<'_>) -> Problems {
        let mut p = Problems::new();
        if self.name.trim().is_empty() || self.name.len() > 200 {
            p.push(("name".into(), "must be 1 to 200 characters".into()));
        }
        self.check_trigger(catalog, &mut p);
        for (group, list) in [("all", &self.conditions.all), ("any", &self.conditions.any)] {
            for (i, c) in list.iter().enumerate() {
                self.check_condition(&format!("conditions.{group}[{i}]"), c, catalog, &mut p);
            }
        }
        if let Some(delay) = self.delay {
            bounded("delay.for", delay.after, &mut p);
        }
        if self.actions.is_empty() || self.actions.len() > 10 {
            p.push(("actions".into(), "must hold 1 to 10 actions".into()));
        }
        for (i, a) in self.actions.iter().enumerate() {
            self.check_action(&format!("actions[{i}]"), a, catalog, &mut p);
        }
        if let Some(b) = self.backfill
            && (b.is_negative() || b > MAX_DELAY)
        {
            p.push(("backfill".into(), "must be from 0 to a year".into()));
        }
        p
    }

    /// The pipeline the rule's records are in, when the trigger names one.
    pub fn pipeline(&self) -> Option<&str> {
        match &self.trigger {
            Trigger::StageEntered { pipeline, .. } | Trigger::Idle { pipeline, .. } => {
                Some(pipeline)
            }
            _ if self.subject == Subject::Lead => Some(LEADS),
            _ => None,
        }
    }

    fn check_trigger(&self, catalog: &Catalog<'_>, p: &mut Problems) {
        let subject = self.subject;
        let only = |p: &mut Problems, allowed: &[Subject]| {
            if !allowed.contains(&subject) {
                p.push((
                    "trigger.kind".into(),
                    format!(
                        "`{}` is not a trigger of a {} rule",
                        self.trigger.kind(),
                        subject.as_str()
                    ),
                ));
            }
        };
        match &self.trigger {
            Trigger::RecordCreated => only(p, &[Subject::Lead, Subject::Deal]),
            Trigger::StageEntered { pipeline, stage }
            | Trigger::Idle {
                pipeline, stage, ..
            } => {
                only(p, &[Subject::Lead, Subject::Deal]);
                if subject == Subject::Appointment {
                    return;
                }
                let wants_leads = subject == Subject::Lead;
                match catalog.pipeline(pipeline) {
                    None => p.push(("trigger.pipeline".into(), no_pipeline(pipeline, catalog))),
                    Some(pl) if pl.is_leads() != wants_leads => p.push((
                        "trigger.pipeline".into(),
                        if wants_leads {
                            "a lead rule's pipeline is `leads`".into()
                        } else {
                            "a deal rule's pipeline is one of the tenant's own, not `leads`".into()
                        },
                    )),
                    Some(pl) if pl.stage(stage).is_none() => {
                        p.push(("trigger.stage".into(), no_stage(stage, pl)))
                    }
                    Some(_) => {}
                }
                if let Trigger::Idle { after, .. } = &self.trigger {
                    bounded("trigger.for", *after, p);
                }
            }
            Trigger::AppointmentStatus { .. } => only(p, &[Subject::Appointment]),
            Trigger::InboundMessage { channel } => {
                if let Some(c) = channel
                    && !catalog.channels.contains(c)
                {
                    p.push((
                        "trigger.channel".into(),
                        "the clinic does not use this channel".into(),
                    ));
                }
            }
            Trigger::TouchRecorded { .. } => only(p, &[Subject::Lead]),
            Trigger::FormSubmitted { form } => {
                only(p, &[Subject::Lead]);
                if let Some(f) = form
                    && !catalog.forms.contains(f.as_str())
                {
                    p.push(("trigger.form".into(), format!("no form `{f}`")));
                }
            }
            Trigger::External { code } => {
                if crate::ids::RuleId::new(code).is_err() {
                    p.push((
                        "trigger.code".into(),
                        "must be 1 to 64 lower-case letters, digits, `-` or `_`".into(),
                    ));
                }
            }
            Trigger::Time { anchor, offset, .. } => match fields::field(subject, anchor) {
                Some(f) if f.kind == FieldType::Time && f.anchor => {
                    if offset.abs() > MAX_DELAY {
                        p.push(("trigger.offset".into(), "must be within a year".into()));
                    }
                }
                Some(_) => p.push((
                    "trigger.anchor".into(),
                    format!("`{anchor}` is not a time field a rule can be timed from"),
                )),
                None => p.push((
                    "trigger.anchor".into(),
                    format!(
                        "no field `{anchor}` on a {}; time fields: {}",
                        subject.as_str(),
                        fields::anchors(subject).join(", ")
                    ),
                )),
            },
        }
    }

    fn check_condition(&self, at: &str, c: &Condition, catalog: &Catalog<'_>, p: &mut Problems) {
        let Some(field) = fields::field_for(self.subject, &self.trigger, &c.field) else {
            p.push((
                format!("{at}.field"),
                format!(
                    "no field `{}` on a {} rule with this trigger; fields: {}",
                    c.field,
                    self.subject.as_str(),
                    fields::names_for(self.subject, &self.trigger).join(", ")
                ),
            ));
            return;
        };
        let values: Vec<&serde_json::Value> = match (c.op, &c.value) {
            (Op::IsSet | Op::IsNotSet, serde_json::Value::Null) => return,
            (Op::IsSet | Op::IsNotSet, _) => {
                p.push((format!("{at}.value"), "takes no value".into()));
                return;
            }
            (Op::Eq | Op::Ne, v) if !v.is_array() && !v.is_null() => vec![v],
            (Op::In | Op::NotIn, serde_json::Value::Array(vs)) if !vs.is_empty() => {
                vs.iter().collect()
            }
            (Op::In | Op::NotIn, _) => {
                p.push((format!("{at}.value"), "must be a non-empty list".into()));
                return;
            }
            _ => {
                p.push((format!("{at}.value"), "must be one value".into()));
                return;
            }
        };
        if field.kind == FieldType::Time {
            p.push((
                format!("{at}.op"),
                "a time field can only be tested with is_set or is_not_set".into(),
            ));
            return;
        }
        for (i, v) in values.iter().enumerate() {
            let path = if c.op == Op::In || c.op == Op::NotIn {
                format!("{at}.value[{i}]")
            } else {
                format!("{at}.value")
            };
            match (field.kind, v) {
                (FieldType::Bool, serde_json::Value::Bool(_)) => {}
                (FieldType::Bool, _) => p.push((path, "must be true or false".into())),
                (FieldType::Text(domain), serde_json::Value::String(s)) => {
                    if let Some(problem) = self.check_value(domain, s, catalog) {
                        p.push((path, problem));
                    }
                }
                (FieldType::Text(_), _) => p.push((path, "must be a string".into())),
                (FieldType::Time, _) => {}
            }
        }
    }

    /// Whether `value` is one the field can hold.
    fn check_value(
        &self,
        domain: fields::Domain,
        value: &str,
        catalog: &Catalog<'_>,
    ) -> Option<String> {
        use fields::Domain::*;
        let known = |set: &BTreeSet<&str>, what: &str| {
            (!set.contains(value)).then(|| format!("no {what} `{value}`"))
        };
        match domain {
            Free => None,
            Branch => known(&catalog.branches, "branch"),
            Practitioner => known(&catalog.practitioners, "practitioner"),
            Service => known(&catalog.services, "service"),
            Consultant => known(&catalog.consultants, "consultant"),
            Form => known(&catalog.forms, "form"),
            Pipeline => catalog
                .pipeline(value)
                .is_none()
                .then(|| no_pipeline(value, catalog)),
            Stage => {
                let pipelines: Vec<&crate::pipeline::Pipeline> = match self.pipeline() {
                    Some(id) => catalog.pipeline(id).into_iter().collect(),
                    None => catalog.pipelines.iter().filter(|p| !p.is_leads()).collect(),
                };
                (!pipelines.iter().any(|p| p.stage(value).is_some()))
                    .then(|| format!("no stage `{value}` in the rule's pipeline"))
            }
            Enum(allowed) => (!allowed.contains(&value))
                .then(|| format!("`{value}` is not one of: {}", allowed.join(", "))),
        }
    }

    fn check_action(&self, at: &str, a: &Action, catalog: &Catalog<'_>, p: &mut Problems) {
        match a {
            Action::SendMessage { template, channel } => {
                match catalog.templates.iter().find(|(id, _)| id == template) {
                    None => p.push((
                        format!("{at}.template"),
                        format!(
                            "no template `{template}`; templates: {}",
                            catalog
                                .templates
                                .iter()
                                .map(|(id, _)| *id)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )),
                    Some((_, purpose)) if *purpose != self.purpose => p.push((
                        format!("{at}.template"),
                        format!(
                            "`{template}` is a {} template; this rule is {}",
                            purpose_name(*purpose),
                            purpose_name(self.purpose)
                        ),
                    )),
                    Some(_) => {}
                }
                if let Some(c) = channel
                    && (!catalog.channels.contains(c) || *c == Channel::Webhook)
                {
                    p.push((
                        format!("{at}.channel"),
                        "the clinic reaches patients on no such channel".into(),
                    ));
                }
            }
            Action::CreateTask {
                assignee,
                title,
                due,
            } => {
                match (&assignee.person, &assignee.role) {
                    (Some(person), None) => {
                        if !catalog.consultants.contains(person.as_str())
                            && !catalog.managers.contains(person.as_str())
                        {
                            p.push((
                                format!("{at}.assignee.person"),
                                format!("no consultant or manager `{person}`"),
                            ));
                        }
                    }
                    (None, Some(_)) => {}
                    _ => p.push((
                        format!("{at}.assignee"),
                        "name either a `person` or a `role`".into(),
                    )),
                }
                if title.trim().is_empty() || title.len() > 200 {
                    p.push((format!("{at}.title"), "must be 1 to 200 characters".into()));
                }
                if let Some(d) = due {
                    bounded(&format!("{at}.due"), *d, p);
                }
            }
            Action::MoveStage { .. } if self.subject == Subject::Appointment => p.push((
                format!("{at}.type"),
                "an appointment is in no pipeline".into(),
            )),
            Action::MoveStage { stage } => match self.pipeline().and_then(|id| catalog.pipeline(id)) {
                Some(pl) if pl.stage(stage).is_none() => {
                    p.push((format!("{at}.stage"), no_stage(stage, pl)))
                }
                Some(_) => {}
                None => p.push((
                    format!("{at}.stage"),
                    "a deal rule moves stages only when its trigger names the pipeline (stage_entered or idle); use move_to_pipeline".into(),
                )),
            },
            Action::CopyToPipeline { pipeline, stage }
            | Action::MoveToPipeline { pipeline, stage } => match catalog.pipeline(pipeline) {
                None => p.push((format!("{at}.pipeline"), no_pipeline(pipeline, catalog))),
                Some(pl) if pl.is_leads() => p.push((
                    format!("{at}.pipeline"),
                    "deals go into the tenant's own pipelines, not `leads`".into(),
                )),
                Some(pl) if pl.stage(stage).is_none() => {
                    p.push((format!("{at}.stage"), no_stage(stage, pl)))
                }
                Some(_) if self.subject == Subject::Appointment => p.push((
                    format!("{at}.type"),
                    "an appointment rule cannot copy a record into a pipeline".into(),
                )),
                Some(_) => {}
            },
            Action::Reassign { to } => {
                if self.subject == Subject::Appointment {
                    p.push((
                        format!("{at}.type"),
                        "an appointment has no owner to reassign".into(),
                    ));
                } else if self.subject == Subject::Lead {
                    p.push((
                        format!("{at}.type"),
                        "a lead's owner follows the assignment ladder and the SLA; a rule reassigns deals".into(),
                    ));
                } else if !catalog.consultants.contains(to.as_str()) {
                    p.push((format!("{at}.to"), format!("no consultant `{to}`")));
                }
            }
            Action::Webhook {} => {
                if !catalog.webhook {
                    p.push((
                        format!("{at}.type"),
                        "the clinic has no callback URL to post to (`[tenants.appointments] callback_url`)".into(),
                    ));
                }
            }
        }
    }
}

fn purpose_name(p: Purpose) -> &'static str {
    match p {
        Purpose::Operational => "operational",
        Purpose::Promotional => "promotional",
    }
}

fn bounded(path: &str, d: SignedDuration, p: &mut Problems) {
    if d < MIN_DELAY || d > MAX_DELAY {
        p.push((
            path.to_owned(),
            "must be at least one minute and at most a year".into(),
        ));
    }
}

fn no_pipeline(id: &str, catalog: &Catalog<'_>) -> String {
    let ids: Vec<&str> = catalog.pipelines.iter().map(|p| p.id.as_str()).collect();
    format!("no pipeline `{id}`; pipelines: {}", ids.join(", "))
}

fn no_stage(stage: &str, pipeline: &Pipeline) -> String {
    let ids: Vec<&str> = pipeline.stages.iter().map(|s| s.id.as_str()).collect();
    format!(
        "no stage `{stage}` in `{}`; stages: {}",
        pipeline.id,
        ids.join(", ")
    )
}
