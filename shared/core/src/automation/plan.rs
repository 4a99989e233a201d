//! Arming and firing. An event (or, for activation and "run now", the
//! state a record is in) arms a firing of a rule for one occurrence, due
//! when its trigger and delay say; when it falls due, the record is read
//! again and the firing is checked against it — the occurrence still
//! current (the deal still in that stay, the appointment still at that
//! time), the record not closed, the patient not opted out, every
//! condition true — and either fires or is skipped with its reason. The
//! firing keeps what it saw: each condition with the value it met, and
//! the delay arithmetic.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::fields::{Value, View};
use super::spec::{Action, Clock, Condition, Delay, Op, RuleSpec, Subject, Trigger};
use crate::appointment::AppointmentStatus;
use crate::ids::{RecordRef, RuleId};
use crate::lead::ContactKind;
use crate::message::{Channel, Purpose};
use crate::schedule::WeeklySchedule;

/// What happened to a record, as the engine hears of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RecordCreated,
    StageEntered {
        pipeline: String,
        stage: String,
        /// The stay's occurrence ([`crate::pipeline::stage_entry`]).
        entry: String,
    },
    AppointmentStatus {
        status: AppointmentStatus,
        entry: String,
    },
    InboundMessage {
        channel: Channel,
        id: String,
    },
    TouchRecorded {
        touch_type: ContactKind,
        id: String,
    },
    FormSubmitted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        form: Option<String>,
        id: String,
    },
    External {
        code: String,
        id: String,
    },
    /// The record changed: rules timed from its fields plan again.
    Saved,
}

impl Event {
    /// A deal entering the stage it is in now.
    pub fn entered(deal: &crate::pipeline::Deal) -> Event {
        Event::StageEntered {
            pipeline: deal.pipeline.to_string(),
            stage: deal.stage.to_string(),
            entry: deal.stage_entry(),
        }
    }

    /// The event's own fields, for conditions (`event.touch_type`).
    pub fn view(&self) -> View {
        let mut v = View::new();
        let text = |s: &str| Value::Text(s.to_owned());
        match self {
            Event::TouchRecorded { touch_type, .. } => {
                v.insert("event.touch_type".into(), text(touch_kind(*touch_type)));
            }
            Event::InboundMessage { channel, .. } => {
                v.insert("event.channel".into(), text(channel.as_str()));
            }
            Event::FormSubmitted { form: Some(f), .. } => {
                v.insert("event.form".into(), text(f));
            }
            _ => {}
        }
        v
    }
}

fn touch_kind(k: ContactKind) -> &'static str {
    match k {
        ContactKind::Call => "call",
        ContactKind::Message => "message",
        ContactKind::Visit => "visit",
        ContactKind::Note => "note",
    }
}

/// What the delay arithmetic was: shown with the firing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelayMath {
    /// When the trigger happened (or its anchor, offset and local time applied).
    pub from: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<SignedDuration>,
    pub clock: Clock,
    /// The branch's time zone the clock and local times were read in.
    pub zone: String,
    pub due: Timestamp,
}

/// A firing, armed: the occurrence it is for and when it is due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Armed {
    pub occurrence: String,
    pub math: DelayMath,
}

/// The branch a record belongs to, for clocks and local times.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub zone: &'a TimeZone,
    pub hours: &'a WeeklySchedule,
}

fn entry_field(subject: Subject) -> &'static str {
    match subject {
        Subject::Lead => "lead.stage_entry",
        Subject::Deal => "deal.stage_entry",
        Subject::Appointment => "appointment.status_entry",
    }
}

fn text<'v>(view: &'v View, field: &str) -> Option<&'v str> {
    match view.get(field) {
        Some(Value::Text(s)) => Some(s),
        _ => None,
    }
}

fn time(view: &View, field: &str) -> Option<Timestamp> {
    match view.get(field) {
        Some(Value::Time(t)) => Some(*t),
        _ => None,
    }
}

fn flag(view: &View, field: &str) -> bool {
    matches!(view.get(field), Some(Value::Bool(true)))
}

fn counted(
    clock: Clock,
    from: Timestamp,
    d: SignedDuration,
    place: Place<'_>,
) -> Option<Timestamp> {
    match clock {
        Clock::Calendar => from.checked_add(d).ok(),
        Clock::Business => place.hours.add_open_time(place.zone, from, d),
    }
}

/// When a time trigger falls for the record: its anchor, the offset, and
/// the local time of day; with the anchor's occurrence.
fn timed(rule: &RuleSpec, view: &View, place: Place<'_>) -> Option<(String, Timestamp)> {
    let Trigger::Time {
        anchor,
        offset,
        at_local,
    } = &rule.trigger
    else {
        return None;
    };
    let value = time(view, anchor)?;
    let mut at = value.checked_add(*offset).ok()?;
    if let Some(local) = at_local {
        let day = place.zone.to_datetime(at).date();
        at = place.zone.to_timestamp(day.to_datetime(*local)).ok()?;
    }
    Some((format!("t-{}", value.as_millisecond()), at))
}

/// The firing `event` arms for the rule, if its trigger is satisfied:
/// `at` is when the event happened.
pub fn arm(
    rule: &RuleSpec,
    view: &View,
    event: &Event,
    at: Timestamp,
    place: Place<'_>,
) -> Option<Armed> {
    let (occurrence, from) = match (&rule.trigger, event) {
        (Trigger::RecordCreated, Event::RecordCreated) => ("created".to_owned(), at),
        (
            Trigger::StageEntered { pipeline, stage },
            Event::StageEntered {
                pipeline: p,
                stage: s,
                entry,
            },
        ) if pipeline == p && stage == s => (entry.clone(), at),
        (
            Trigger::Idle {
                pipeline,
                stage,
                after,
                clock,
            },
            Event::StageEntered {
                pipeline: p,
                stage: s,
                entry,
            },
        ) if pipeline == p && stage == s => (entry.clone(), counted(*clock, at, *after, place)?),
        (Trigger::AppointmentStatus { status }, Event::AppointmentStatus { status: s, entry })
            if status == s =>
        {
            (entry.clone(), at)
        }
        (Trigger::InboundMessage { channel }, Event::InboundMessage { channel: c, id })
            if channel.is_none_or(|want| want == *c) =>
        {
            (id.clone(), at)
        }
        (Trigger::TouchRecorded { touch_type }, Event::TouchRecorded { touch_type: t, id })
            if touch_type.is_none_or(|want| want == *t) =>
        {
            (id.clone(), at)
        }
        (Trigger::FormSubmitted { form }, Event::FormSubmitted { form: f, id })
            if form.is_none() || form == f =>
        {
            (id.clone(), at)
        }
        (Trigger::External { code }, Event::External { code: c, id }) if code == c => {
            (id.clone(), at)
        }
        (Trigger::Time { .. }, _) => timed(rule, view, place)?,
        _ => return None,
    };
    let due = match rule.delay {
        Some(Delay { after, clock }) => counted(clock, from, after, place)?,
        None => from,
    };
    Some(Armed {
        occurrence,
        math: DelayMath {
            from,
            delay: rule.delay.map(|d| d.after),
            clock: rule.delay.map(|d| d.clock).unwrap_or_default(),
            zone: place.zone.iana_name().unwrap_or("UTC").to_owned(),
            due,
        },
    })
}

/// The event that put the record in the state the rule's trigger names,
/// and when, for rules whose trigger is a state (activation, "run now"):
/// `None` when the record is not in it, or the trigger is an event that
/// cannot be found again.
pub fn state_event(rule: &RuleSpec, view: &View) -> Option<(Event, Timestamp)> {
    let subject = rule.subject.as_str();
    let entered = || {
        Some((
            text(view, entry_field(rule.subject))?.to_owned(),
            time(view, &format!("{subject}.stage_entered_at"))?,
        ))
    };
    match &rule.trigger {
        Trigger::RecordCreated => Some((
            Event::RecordCreated,
            time(view, &format!("{subject}.created_at"))?,
        )),
        Trigger::StageEntered { pipeline, stage }
        | Trigger::Idle {
            pipeline, stage, ..
        } => {
            let in_pipeline = match rule.subject {
                Subject::Deal => text(view, "deal.pipeline") == Some(pipeline.as_str()),
                _ => true,
            };
            if !in_pipeline || text(view, &format!("{subject}.stage")) != Some(stage.as_str()) {
                return None;
            }
            let (entry, at) = entered()?;
            Some((
                Event::StageEntered {
                    pipeline: pipeline.clone(),
                    stage: stage.clone(),
                    entry,
                },
                at,
            ))
        }
        Trigger::AppointmentStatus { status } => {
            let wanted = serde_json::to_value(status).ok()?;
            if text(view, "appointment.status") != wanted.as_str() {
                return None;
            }
            Some((
                Event::AppointmentStatus {
                    status: *status,
                    entry: text(view, "appointment.status_entry")?.to_owned(),
                },
                time(view, "appointment.status_since")?,
            ))
        }
        Trigger::Time { anchor, .. } => Some((Event::Saved, time(view, anchor)?)),
        _ => None,
    }
}

/// Why a firing did not act.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The record left the stage (or status) the firing was for.
    LeftStage,
    /// The anchor field changed (the appointment moved): a new occurrence
    /// has its own firing.
    AnchorChanged,
    /// The lead was lost, the deal lost, the appointment cancelled.
    RecordClosed,
    RecordGone,
    OptedOut,
    /// A promotional rule, and the patient gave no marketing consent.
    NoConsent,
    /// A condition was false (the firing shows which, and what it saw).
    ConditionFalse,
    /// Its time had passed when the trigger happened.
    PastDue,
    /// Its time lies further back than the rule's backfill.
    BeyondBackfill,
    /// Caused by a chain of firings deeper than [`super::MAX_DEPTH`].
    DepthLimit,
    RuleInactive,
    RuleDeleted,
    /// The rule's trigger or delay changed: re-planned under the new version.
    RuleChanged,
    /// No channel of the clinic reaches the patient now.
    NoChannel,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        use SkipReason::*;
        match self {
            LeftStage => "left_stage",
            AnchorChanged => "anchor_changed",
            RecordClosed => "record_closed",
            RecordGone => "record_gone",
            OptedOut => "opted_out",
            NoConsent => "no_consent",
            ConditionFalse => "condition_false",
            PastDue => "past_due",
            BeyondBackfill => "beyond_backfill",
            DepthLimit => "depth_limit",
            RuleInactive => "rule_inactive",
            RuleDeleted => "rule_deleted",
            RuleChanged => "rule_changed",
            NoChannel => "no_channel",
        }
    }
}

/// One condition as the firing saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    pub field: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub expected: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
    pub held: bool,
}

fn holds(c: &Condition, actual: Option<&Value>) -> bool {
    let one = |v: &serde_json::Value| actual.is_some_and(|a| a.matches(v));
    let any = || c.value.as_array().is_some_and(|vs| vs.iter().any(one));
    match c.op {
        Op::IsSet => actual.is_some(),
        Op::IsNotSet => actual.is_none(),
        Op::Eq => one(&c.value),
        Op::Ne => !one(&c.value),
        Op::In => any(),
        Op::NotIn => !any(),
    }
}

fn see(c: &Condition, view: &View) -> Seen {
    let actual = view.get(&c.field);
    Seen {
        field: c.field.clone(),
        op: c.op,
        expected: c.value.clone(),
        actual: actual.cloned(),
        held: holds(c, actual),
    }
}

/// The verdict on a firing: every condition as seen, and why it does not
/// act, if it does not.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub conditions: Vec<Seen>,
    pub skip: Option<SkipReason>,
}

/// Whether the record is closed for rules that are not about closing it.
fn closed(rule: &RuleSpec, view: &View) -> bool {
    let about_state = matches!(
        rule.trigger,
        Trigger::StageEntered { .. } | Trigger::Idle { .. } | Trigger::AppointmentStatus { .. }
    );
    if about_state {
        return false;
    }
    match rule.subject {
        Subject::Lead => text(view, "lead.stage") == Some("lost"),
        Subject::Deal => text(view, "deal.outcome") == Some("lost"),
        Subject::Appointment => matches!(
            text(view, "appointment.status"),
            Some("cancelled" | "entered-in-error")
        ),
    }
}

/// The firing of `occurrence`, checked against the record as it is now
/// (`view`, with the triggering event's fields in `event`).
pub fn check(
    rule: &RuleSpec,
    occurrence: &str,
    view: &View,
    event: &View,
    place: Place<'_>,
) -> Verdict {
    let mut all = view.clone();
    all.extend(event.iter().map(|(k, v)| (k.clone(), v.clone())));
    let conditions: Vec<Seen> = rule
        .conditions
        .all
        .iter()
        .chain(&rule.conditions.any)
        .map(|c| see(c, &all))
        .collect();
    let current = match &rule.trigger {
        Trigger::StageEntered { .. } | Trigger::Idle { .. } | Trigger::AppointmentStatus { .. } => {
            Some(
                state_event(rule, view)
                    .map(|(e, _)| e)
                    .and_then(|e| match e {
                        Event::StageEntered { entry, .. }
                        | Event::AppointmentStatus { entry, .. } => Some(entry),
                        _ => None,
                    }),
            )
        }
        Trigger::Time { .. } => Some(timed(rule, view, place).map(|(o, _)| o)),
        _ => None,
    };
    let sends = rule
        .actions
        .iter()
        .any(|a| matches!(a, Action::SendMessage { .. }));
    let all_held = conditions[..rule.conditions.all.len()]
        .iter()
        .all(|s| s.held);
    let any = &conditions[rule.conditions.all.len()..];
    let any_held = any.is_empty() || any.iter().any(|s| s.held);
    let skip = match current {
        Some(None) if matches!(rule.trigger, Trigger::Time { .. }) => {
            Some(SkipReason::AnchorChanged)
        }
        Some(None) => Some(SkipReason::LeftStage),
        Some(Some(now_for)) if now_for != occurrence => Some(match rule.trigger {
            Trigger::Time { .. } => SkipReason::AnchorChanged,
            _ => SkipReason::LeftStage,
        }),
        _ if closed(rule, view) => Some(SkipReason::RecordClosed),
        _ if sends && flag(view, "patient.opted_out") => Some(SkipReason::OptedOut),
        _ if sends
            && rule.purpose == Purpose::Promotional
            && !flag(view, "patient.marketing_consent") =>
        {
            Some(SkipReason::NoConsent)
        }
        _ if !(all_held && any_held) => Some(SkipReason::ConditionFalse),
        _ => None,
    };
    Verdict { conditions, skip }
}

/// A firing's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FiringState {
    Pending,
    Fired,
    Skipped,
    Cancelled,
    /// Its actions could not be made, every time it was tried: the error is kept.
    Failed,
}

impl FiringState {
    pub fn as_str(self) -> &'static str {
        match self {
            FiringState::Pending => "pending",
            FiringState::Fired => "fired",
            FiringState::Skipped => "skipped",
            FiringState::Cancelled => "cancelled",
            FiringState::Failed => "failed",
        }
    }
}

/// What one action of a firing did: its deterministic id and its result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    #[serde(rename = "type")]
    pub kind: String,
    /// The message, task or deal it made (the id every retry names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub result: String,
}

/// A rule's firing for one record and occurrence: the explanation every
/// message, task and move it made links to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    pub id: String,
    pub rule: RuleId,
    /// The version it was armed under, and the one it fired under.
    pub armed_version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_version: Option<u64>,
    #[serde(flatten)]
    pub record: RecordRef,
    pub occurrence: String,
    pub trigger: String,
    pub event: Event,
    /// When the triggering event happened.
    pub event_at: Timestamp,
    /// How many firings led to this one.
    pub depth: u8,
    pub armed_at: Timestamp,
    pub delay: DelayMath,
    pub state: FiringState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<SkipReason>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Seen>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Done>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<Timestamp>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Who asked, for activation and "run now".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Firing {
    /// The id of a firing: `{rule}.{record}.{occurrence}`.
    pub fn id_of(rule: &RuleId, record: &RecordRef, occurrence: &str) -> String {
        format!("{rule}.{}.{occurrence}", record.id())
    }

    /// The deterministic id of its `i`th action's product (a message, a
    /// task, a deal): a digest of the firing's id, so that it stays a short
    /// token however long the record's id and the occurrence are.
    pub fn action_id(&self, i: usize) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.id.as_bytes());
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!("au{hex}-{i}")
    }
}
