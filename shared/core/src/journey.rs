//! The appointment journeys: configured rules, each fired for one
//! appointment at one occurrence, and the plan of an appointment as a pure
//! function of (appointment, rules, facts about the patient, now). (The
//! clinic's own rules, stored and edited through the API, are
//! [`crate::automation`]'s.)
//!
//! A rule is a trigger (an event, or a time before the appointment's start),
//! conditions, a delay (calendar time, or the branch's opening hours) and
//! actions (a message from a template, a task, a stage move of the lead).
//! Every default journey — confirmation, nudge, reminder, no-show
//! recovery, aftercare, the survey, the answers to a patient's reply, and
//! the lead's stage following its appointment — is one of these rules,
//! with the tenant's timings and switches applied over the defaults.
//!
//! An occurrence names what a rule fires *for*: the appointment's start
//! (so a moved appointment is a new occurrence and the old one dies), or
//! the moment the status began (a no-show, a completion), or the version
//! an answer made. Messages and tasks take their ids from (rule, record,
//! occurrence), so a rule fires at most once per occurrence.

use std::collections::BTreeMap;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::appointment::{Actor, Appointment, AppointmentEvent, AppointmentStatus, Confirmation};
use crate::ids::{BranchId, PractitionerId, RuleId, ServiceId};
use crate::lead::Stage;
use crate::task::TaskKind;
use crate::template::TemplateKind;
use crate::tenant::Branch;

/// A rule of the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: RuleId,
    pub enabled: bool,
    pub trigger: Trigger,
    pub conditions: Vec<Condition>,
    pub delay: Delay,
    /// For steps before the start: the least time that must remain before
    /// the appointment when the step goes; later, it is dropped.
    pub min_lead: SignedDuration,
    /// Whether the rule speaks first (a reminder) rather than answering the
    /// patient (a reply): unsolicited messages keep to the patient's send
    /// hours and count against their daily cap.
    pub unsolicited: bool,
    pub actions: Vec<Action>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Something happened to the appointment.
    Event(AppointmentEvent),
    /// A time before the appointment's start, moved to the same local time
    /// on the branch's previous working day when that day is closed
    /// (`working_day`).
    BeforeStart {
        before: SignedDuration,
        working_day: bool,
    },
}

/// How long after its trigger a rule fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delay {
    Calendar(SignedDuration),
    /// Counted in the branch's opening hours, in its time zone.
    OpeningHours(SignedDuration),
}

impl Delay {
    pub fn is_zero(self) -> bool {
        match self {
            Delay::Calendar(d) | Delay::OpeningHours(d) => d.is_zero(),
        }
    }
}

/// What must hold of the appointment and its patient for a rule to act.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Status(Vec<AppointmentStatus>),
    Confirmation(Vec<Confirmation>),
    /// The patient booked nothing since the trigger.
    NoBookingSince,
    /// The patient wrote nothing since the trigger.
    NoReplySince,
    /// The patient opted out of no channel.
    NotOptedOut,
    /// The change was the patient's own.
    ByPatient,
    /// The appointment belongs to a lead.
    HasLead,
    /// The survey score is at most this.
    ScoreAtMost(u8),
    Services(Vec<ServiceId>),
    Practitioners(Vec<PractitionerId>),
    Branches(Vec<BranchId>),
}

/// Who a rule's message goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    Patient,
    /// The consultant who owns the patient's lead, else the branch manager.
    Owner,
    BranchManager,
}

/// The one-tap answers a message offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Buttons {
    None,
    /// Confirm, reschedule, cancel: the message asks about the appointment.
    Answer,
    /// A score: the message asks the survey question.
    Score,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Message {
        kind: TemplateKind,
        to: Recipient,
        buttons: Buttons,
    },
    /// A task for the branch manager.
    Task { kind: TaskKind },
    /// The appointment's lead moves to this stage of the pipeline (when it
    /// has a lead, and the pipeline allows the move).
    LeadStage(Stage),
}

/// Why a step did not (or will not) go. Shown to staff in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Its time had passed when the appointment got its current time.
    BookedTooLate,
    AlreadyConfirmed,
    Declined,
    Cancelled,
    NotBooked,
    /// The visit is over: fulfilled, no-show or entered in error.
    AppointmentOver,
    /// The status it was for changed since.
    StatusChanged,
    /// The patient's quiet hours pushed it past its usefulness.
    QuietHours,
    /// Its time passed (the sweep ran late) beyond its usefulness.
    TooLate,
    Rebooked,
    Replied,
    OptedOut,
    /// No channel of the clinic reaches the patient now.
    NoChannel,
    /// The patient's daily cap on automated messages was reached.
    DailyCap,
    /// The appointment is not one the rule is for (service, branch, …).
    FilteredOut,
    ScoreAboveThreshold,
    NotByPatient,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        use SkipReason::*;
        match self {
            BookedTooLate => "booked_too_late",
            AlreadyConfirmed => "already_confirmed",
            Declined => "declined",
            Cancelled => "cancelled",
            NotBooked => "not_booked",
            AppointmentOver => "appointment_over",
            StatusChanged => "status_changed",
            QuietHours => "quiet_hours",
            TooLate => "too_late",
            Rebooked => "rebooked",
            Replied => "replied",
            OptedOut => "opted_out",
            NoChannel => "no_channel",
            DailyCap => "daily_cap",
            FilteredOut => "filtered_out",
            ScoreAboveThreshold => "score_above_threshold",
            NotByPatient => "not_by_patient",
        }
    }
}

/// The local hours in which unsolicited messages may reach a patient
/// (outside them are the patient's quiet hours).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendHours {
    pub from: Time,
    pub until: Time,
}

impl Default for SendHours {
    fn default() -> Self {
        SendHours {
            from: Time::constant(9, 0, 0, 0),
            until: Time::constant(21, 0, 0, 0),
        }
    }
}

impl SendHours {
    /// `09:00-21:00`; `00:00-24:00` for any time of day.
    pub fn parse(s: &str) -> Result<SendHours, String> {
        let bad = || format!("`{s}` is not a range of local times such as 09:00-21:00");
        let (from, until) = s.split_once('-').ok_or_else(bad)?;
        let from: Time = from.trim().parse().map_err(|_| bad())?;
        let until: Time = match until.trim() {
            "24:00" => Time::MAX,
            other => other.parse().map_err(|_| bad())?,
        };
        if from >= until {
            return Err(format!(
                "`{s}`: the hours must start before they end, within one day"
            ));
        }
        Ok(SendHours { from, until })
    }

    /// The first instant at or after `at` inside the hours, in `tz`.
    pub fn fit(&self, at: Timestamp, tz: &TimeZone) -> Timestamp {
        let local = tz.to_datetime(at);
        let day = local.date();
        let open = |d: jiff::civil::Date| tz.to_timestamp(d.to_datetime(self.from)).unwrap_or(at);
        if local.time() < self.from {
            open(day)
        } else if local.time() >= self.until {
            day.tomorrow().map(open).unwrap_or(at)
        } else {
            at
        }
    }

    /// The opening of the hours on the local day after `at`'s.
    pub fn next_day(&self, at: Timestamp, tz: &TimeZone) -> Timestamp {
        let day = tz.to_datetime(at).date();
        day.tomorrow()
            .ok()
            .and_then(|d| tz.to_timestamp(d.to_datetime(self.from)).ok())
            .unwrap_or(at)
    }
}

/// What the engine knows besides the appointment when it plans.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub now: Timestamp,
    pub branch: &'a Branch,
    /// The patient's time zone (see [`crate::locale::patient_zone`]).
    pub patient_zone: &'a TimeZone,
    pub send_hours: SendHours,
    /// When the patient last booked an appointment.
    pub last_booked_at: Option<Timestamp>,
    /// When the patient last wrote to the clinic.
    pub last_inbound_at: Option<Timestamp>,
    /// Whether the patient opted out on any channel.
    pub opted_out: bool,
}

/// What came with an event a rule answers at once.
#[derive(Clone, Copy, Debug, Default)]
pub struct Occasion<'a> {
    pub actor: Option<&'a Actor>,
    pub score: Option<u8>,
}

/// One rule's step for the appointment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub rule: RuleId,
    pub occurrence: String,
    pub step: Step,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Goes at `at`; `deferred_from` is when it was due before the
    /// patient's quiet hours moved it.
    Due {
        at: Timestamp,
        deferred_from: Option<Timestamp>,
    },
    Skipped(SkipReason),
}

/// The status an event leaves the appointment in, for events that are
/// statuses (what a delayed rule re-checks when it fires).
fn event_status(event: AppointmentEvent) -> Option<&'static [AppointmentStatus]> {
    use AppointmentStatus::*;
    match event {
        AppointmentEvent::Booked => Some(&[Booked]),
        AppointmentEvent::Cancelled => Some(&[Cancelled]),
        AppointmentEvent::NoShow => Some(&[Noshow]),
        AppointmentEvent::Completed => Some(&[Fulfilled]),
        AppointmentEvent::Arrived => Some(&[Arrived, CheckedIn]),
        _ => None,
    }
}

impl Rule {
    /// Whether it fires on a timer (a time before the start, or a delay
    /// after a status) rather than at once with its event.
    pub fn is_timed(&self) -> bool {
        match self.trigger {
            Trigger::BeforeStart { .. } => true,
            Trigger::Event(_) => self.unsolicited || !self.delay.is_zero(),
        }
    }

    /// The occurrence this rule would fire for now, if the appointment is
    /// in the state its trigger names.
    pub fn occurrence(&self, appointment: &Appointment) -> Option<String> {
        match self.trigger {
            Trigger::BeforeStart { .. } => {
                Some(appointment.booking.start.as_millisecond().to_string())
            }
            Trigger::Event(event) => {
                let statuses = event_status(event)?;
                statuses
                    .contains(&appointment.status())
                    .then(|| appointment.status_since.as_millisecond().to_string())
            }
        }
    }

    /// The first condition that does not hold, as the reason to skip.
    fn unmet(
        &self,
        appointment: &Appointment,
        facts: &Facts<'_>,
        occasion: Occasion<'_>,
    ) -> Option<SkipReason> {
        let b = &appointment.booking;
        for condition in &self.conditions {
            let reason = match condition {
                Condition::Status(statuses) if !statuses.contains(&b.status) => {
                    Some(match b.status {
                        AppointmentStatus::Cancelled => SkipReason::Cancelled,
                        AppointmentStatus::Fulfilled
                        | AppointmentStatus::Noshow
                        | AppointmentStatus::EnteredInError => SkipReason::AppointmentOver,
                        _ if matches!(self.trigger, Trigger::Event(_)) => SkipReason::StatusChanged,
                        _ => SkipReason::NotBooked,
                    })
                }
                Condition::Confirmation(allowed) if !allowed.contains(&b.confirmation) => {
                    Some(match b.confirmation {
                        Confirmation::Declined => SkipReason::Declined,
                        _ => SkipReason::AlreadyConfirmed,
                    })
                }
                Condition::NoBookingSince
                    if facts
                        .last_booked_at
                        .is_some_and(|t| t > appointment.status_since) =>
                {
                    Some(SkipReason::Rebooked)
                }
                Condition::NoReplySince
                    if facts
                        .last_inbound_at
                        .is_some_and(|t| t > appointment.status_since) =>
                {
                    Some(SkipReason::Replied)
                }
                Condition::NotOptedOut if facts.opted_out => Some(SkipReason::OptedOut),
                Condition::ByPatient if !occasion.actor.is_some_and(Actor::is_patient) => {
                    Some(SkipReason::NotByPatient)
                }
                Condition::HasLead if b.lead.is_none() => Some(SkipReason::FilteredOut),
                Condition::ScoreAtMost(max) if occasion.score.is_none_or(|s| s > *max) => {
                    Some(SkipReason::ScoreAboveThreshold)
                }
                Condition::Services(ids) if !ids.contains(&b.service) => {
                    Some(SkipReason::FilteredOut)
                }
                Condition::Practitioners(ids) if !ids.contains(&b.practitioner) => {
                    Some(SkipReason::FilteredOut)
                }
                Condition::Branches(ids) if !ids.contains(&b.branch) => {
                    Some(SkipReason::FilteredOut)
                }
                _ => None,
            };
            if reason.is_some() {
                return reason;
            }
        }
        None
    }

    /// When the trigger falls, before quiet hours: `None` when it cannot be
    /// computed (a branch without opening hours).
    fn due(&self, appointment: &Appointment, branch: &Branch) -> Option<Timestamp> {
        match self.trigger {
            Trigger::BeforeStart {
                before,
                working_day,
            } => {
                let due = appointment.booking.start.checked_sub(before).ok()?;
                if !working_day {
                    return Some(due);
                }
                let tz = &branch.time_zone;
                let local = tz.to_datetime(due);
                let mut day = local.date();
                for _ in 0..14 {
                    if branch.opening_hours.opens_on(tz, day) {
                        return tz.to_timestamp(day.to_datetime(local.time())).ok();
                    }
                    day = day.yesterday().ok()?;
                }
                Some(due)
            }
            Trigger::Event(_) => {
                let since = appointment.status_since;
                match self.delay {
                    Delay::Calendar(d) => since.checked_add(d).ok(),
                    Delay::OpeningHours(d) => {
                        branch
                            .opening_hours
                            .add_open_time(&branch.time_zone, since, d)
                    }
                }
            }
        }
    }

    /// This rule's step for the appointment as it stands at `facts.now`;
    /// `None` when the rule is off or its trigger has not happened.
    pub fn plan(&self, appointment: &Appointment, facts: &Facts<'_>) -> Option<Planned> {
        if !self.enabled || !self.is_timed() {
            return None;
        }
        let occurrence = self.occurrence(appointment)?;
        let planned = |step| Planned {
            rule: self.id.clone(),
            occurrence: occurrence.clone(),
            step,
        };
        if let Some(reason) = self.unmet(appointment, facts, Occasion::default()) {
            return Some(planned(Step::Skipped(reason)));
        }
        let Some(due) = self.due(appointment, facts.branch) else {
            return Some(planned(Step::Skipped(SkipReason::TooLate)));
        };
        let start_relative = matches!(self.trigger, Trigger::BeforeStart { .. });
        if start_relative && due < appointment.slot_since {
            return Some(planned(Step::Skipped(SkipReason::BookedTooLate)));
        }
        let at = if self.unsolicited {
            facts.send_hours.fit(due, facts.patient_zone)
        } else {
            due
        };
        let deferred_from = (at != due).then_some(due);
        Some(planned(self.useful(appointment, at, deferred_from)))
    }

    /// A step at `at`, or dropped when that is too late to be of use.
    fn useful(
        &self,
        appointment: &Appointment,
        at: Timestamp,
        deferred_from: Option<Timestamp>,
    ) -> Step {
        if let Trigger::BeforeStart { .. } = self.trigger {
            let latest = appointment
                .booking
                .start
                .checked_sub(self.min_lead)
                .unwrap_or(appointment.booking.start);
            if at > latest {
                return Step::Skipped(if deferred_from.is_some() {
                    SkipReason::QuietHours
                } else {
                    SkipReason::TooLate
                });
            }
        }
        Step::Due { at, deferred_from }
    }

    /// The step when it fires at `facts.now`: its plan, dropped if its time
    /// passed beyond use while nobody fired it.
    pub fn fire(&self, appointment: &Appointment, facts: &Facts<'_>) -> Option<Planned> {
        let mut planned = self.plan(appointment, facts)?;
        if let Step::Due { at, deferred_from } = planned.step
            && at < facts.now
        {
            planned.step = match self.useful(appointment, facts.now, deferred_from) {
                Step::Due { .. } => Step::Due { at, deferred_from },
                skipped => skipped,
            };
        }
        Some(planned)
    }

    /// The step moved to the next day's send hours because the patient's
    /// daily cap was reached, or dropped when that is too late.
    pub fn after_cap(&self, appointment: &Appointment, facts: &Facts<'_>) -> Step {
        let next = facts.send_hours.next_day(facts.now, facts.patient_zone);
        match self.useful(appointment, next, Some(facts.now)) {
            Step::Skipped(_) => Step::Skipped(SkipReason::DailyCap),
            due => due,
        }
    }
}

/// The rules that answer `event` at once (replies to the patient, tasks),
/// whose conditions hold.
pub fn react<'r>(
    rules: &'r [Rule],
    event: AppointmentEvent,
    appointment: &Appointment,
    occasion: Occasion<'_>,
    facts: &Facts<'_>,
) -> Vec<&'r Rule> {
    rules
        .iter()
        .filter(|r| r.enabled && !r.is_timed() && r.trigger == Trigger::Event(event))
        .filter(|r| r.unmet(appointment, facts, occasion).is_none())
        .collect()
}

/// Every timed rule's step for the appointment: the explainable plan.
pub fn plan(rules: &[Rule], appointment: &Appointment, facts: &Facts<'_>) -> Vec<Planned> {
    rules
        .iter()
        .filter_map(|r| r.plan(appointment, facts))
        .collect()
}

/// A survey's scale: CSAT (1–5) or NPS (0–10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyScale {
    #[default]
    Csat,
    Nps,
}

impl SurveyScale {
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyScale::Csat => "csat",
            SurveyScale::Nps => "nps",
        }
    }

    pub fn range(self) -> (u8, u8) {
        match self {
            SurveyScale::Csat => (1, 5),
            SurveyScale::Nps => (0, 10),
        }
    }

    /// The highest score that counts as low: an unhappy patient.
    pub fn default_low(self) -> u8 {
        match self {
            SurveyScale::Csat => 2,
            SurveyScale::Nps => 6,
        }
    }
}

/// A tenant's changes to one default rule, in its configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// For a step before the start: how long before (`48h`).
    #[serde(default)]
    pub before: Option<SignedDuration>,
    /// For a step after an event: how long after (`2h`).
    #[serde(default)]
    pub delay: Option<SignedDuration>,
    /// Count the delay in the branch's opening hours rather than the calendar.
    #[serde(default)]
    pub opening_hours: Option<bool>,
    /// For a step before the start: the least time before the start it may still go.
    #[serde(default)]
    pub min_lead: Option<SignedDuration>,
    /// Only for these services (ids).
    #[serde(default)]
    pub services: Option<Vec<String>>,
}

/// The default rules, with the tenant's changes; problems as (path, problem).
pub fn rules(
    path: &str,
    overrides: &BTreeMap<String, RuleConfig>,
    low_score: u8,
) -> Result<Vec<Rule>, Vec<(String, String)>> {
    let mut rules = defaults(low_score);
    let mut problems = Vec::new();
    for (id, config) in overrides {
        let at = format!("{path}.{id}");
        let Some(rule) = rules.iter_mut().find(|r| r.id.as_str() == id) else {
            let names: Vec<String> = defaults(low_score)
                .iter()
                .map(|r| r.id.to_string())
                .collect();
            problems.push((
                at,
                format!("no such journey; the journeys are: {}", names.join(", ")),
            ));
            continue;
        };
        if let Some(enabled) = config.enabled {
            rule.enabled = enabled;
        }
        match (&mut rule.trigger, config.before) {
            (Trigger::BeforeStart { before, .. }, Some(b)) => *before = b,
            (Trigger::Event(_), Some(_)) => problems.push((
                format!("{at}.before"),
                "this journey follows an event; set its `delay` instead".into(),
            )),
            _ => {}
        }
        if let Some(d) = config.delay {
            match rule.trigger {
                Trigger::Event(_) if rule.is_timed() => {
                    rule.delay = if config.opening_hours == Some(true) {
                        Delay::OpeningHours(d)
                    } else {
                        Delay::Calendar(d)
                    };
                }
                Trigger::Event(_) => problems.push((
                    format!("{at}.delay"),
                    "this journey answers the patient at once; it has no delay".into(),
                )),
                Trigger::BeforeStart { .. } => problems.push((
                    format!("{at}.delay"),
                    "this journey is timed before the appointment; set `before` instead".into(),
                )),
            }
            if d.is_negative() {
                problems.push((format!("{at}.delay"), "must not be negative".into()));
            }
        }
        if let Some(m) = config.min_lead {
            rule.min_lead = m;
        }
        if let Some(services) = &config.services {
            let mut ids = Vec::new();
            for (i, s) in services.iter().enumerate() {
                match ServiceId::new(s) {
                    Ok(id) => ids.push(id),
                    Err(e) => problems.push((format!("{at}.services[{i}]"), e)),
                }
            }
            rule.conditions.push(Condition::Services(ids));
        }
        if let Trigger::BeforeStart { before, .. } = rule.trigger
            && (before <= rule.min_lead || rule.min_lead.is_negative())
        {
            problems.push((
                format!("{at}.min_lead"),
                format!(
                    "must be shorter than `before` ({before:#}) and not negative, or the step could never go"
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

fn id(s: &str) -> RuleId {
    // The default ids are valid slugs.
    RuleId::new(s).unwrap_or_else(|_| unreachable!("default rule id {s}"))
}

fn message(kind: TemplateKind, to: Recipient, buttons: Buttons) -> Action {
    Action::Message { kind, to, buttons }
}

/// The default journeys. `low_score`: the highest survey score that opens
/// a task for the branch manager.
pub fn defaults(low_score: u8) -> Vec<Rule> {
    use AppointmentEvent as E;
    use AppointmentStatus as S;
    let hours = SignedDuration::from_hours;
    let booked = Condition::Status(vec![S::Booked]);
    let unconfirmed =
        Condition::Confirmation(vec![Confirmation::NeedsAction, Confirmation::Tentative]);
    let before =
        |id_: &str, h: i64, working_day, min_lead, conditions: Vec<Condition>, kind, buttons| {
            Rule {
                id: id(id_),
                enabled: true,
                trigger: Trigger::BeforeStart {
                    before: hours(h),
                    working_day,
                },
                conditions,
                delay: Delay::Calendar(SignedDuration::ZERO),
                min_lead,
                unsolicited: true,
                actions: vec![message(kind, Recipient::Patient, buttons)],
            }
        };
    let after =
        |id_: &str, event, delay: SignedDuration, conditions: Vec<Condition>, actions| Rule {
            id: id(id_),
            enabled: true,
            trigger: Trigger::Event(event),
            conditions,
            delay: Delay::Calendar(delay),
            min_lead: SignedDuration::ZERO,
            unsolicited: true,
            actions,
        };
    let reply = |id_: &str, event, conditions: Vec<Condition>, actions| Rule {
        id: id(id_),
        enabled: true,
        trigger: Trigger::Event(event),
        conditions,
        delay: Delay::Calendar(SignedDuration::ZERO),
        min_lead: SignedDuration::ZERO,
        unsolicited: false,
        actions,
    };
    let recovery = || {
        vec![
            Condition::Status(vec![S::Noshow]),
            Condition::NoBookingSince,
            Condition::NoReplySince,
            Condition::NotOptedOut,
        ]
    };
    let completed = || vec![Condition::Status(vec![S::Fulfilled])];
    vec![
        before(
            "appointment_confirmation",
            48,
            true,
            hours(24),
            vec![booked.clone(), unconfirmed.clone()],
            TemplateKind::AppointmentConfirmation,
            Buttons::Answer,
        ),
        before(
            "appointment_nudge",
            24,
            false,
            hours(4),
            vec![booked.clone(), unconfirmed],
            TemplateKind::AppointmentNudge,
            Buttons::Answer,
        ),
        before(
            "appointment_reminder",
            2,
            false,
            SignedDuration::from_mins(30),
            vec![
                booked,
                Condition::Confirmation(vec![
                    Confirmation::NeedsAction,
                    Confirmation::Accepted,
                    Confirmation::Tentative,
                ]),
            ],
            TemplateKind::AppointmentReminder,
            Buttons::None,
        ),
        after(
            "no_show_recovery_1",
            E::NoShow,
            hours(2),
            recovery(),
            vec![message(
                TemplateKind::NoShowRecovery1,
                Recipient::Patient,
                Buttons::None,
            )],
        ),
        after(
            "no_show_recovery_2",
            E::NoShow,
            hours(24),
            recovery(),
            vec![message(
                TemplateKind::NoShowRecovery2,
                Recipient::Patient,
                Buttons::None,
            )],
        ),
        after(
            "no_show_recovery_3",
            E::NoShow,
            hours(72),
            recovery(),
            vec![message(
                TemplateKind::NoShowRecovery3,
                Recipient::Patient,
                Buttons::None,
            )],
        ),
        after(
            "aftercare",
            E::Completed,
            SignedDuration::ZERO,
            completed(),
            vec![message(
                TemplateKind::Aftercare,
                Recipient::Patient,
                Buttons::None,
            )],
        ),
        after(
            "satisfaction_survey",
            E::Completed,
            hours(1),
            completed(),
            vec![message(
                TemplateKind::Survey,
                Recipient::Patient,
                Buttons::Score,
            )],
        ),
        reply(
            "confirmation_reply",
            E::Confirmed,
            vec![Condition::ByPatient],
            vec![message(
                TemplateKind::AnswerConfirmed,
                Recipient::Patient,
                Buttons::None,
            )],
        ),
        reply(
            "cancellation_reply",
            E::Cancelled,
            vec![Condition::ByPatient],
            vec![
                message(
                    TemplateKind::AnswerCancelled,
                    Recipient::Patient,
                    Buttons::None,
                ),
                message(
                    TemplateKind::AppointmentNotice,
                    Recipient::Owner,
                    Buttons::None,
                ),
            ],
        ),
        reply(
            "reschedule_request",
            E::RescheduleRequested,
            vec![Condition::ByPatient],
            vec![
                message(
                    TemplateKind::AnswerReschedule,
                    Recipient::Patient,
                    Buttons::None,
                ),
                Action::Task {
                    kind: TaskKind::RescheduleRequest,
                },
            ],
        ),
        reply(
            "survey_thanks",
            E::SurveyAnswered,
            vec![],
            vec![message(
                TemplateKind::SurveyThanks,
                Recipient::Patient,
                Buttons::None,
            )],
        ),
        reply(
            "lead_follows_booking",
            E::Booked,
            vec![Condition::HasLead],
            vec![Action::LeadStage(Stage::AppointmentBooked)],
        ),
        reply(
            "lead_follows_arrival",
            E::Arrived,
            vec![Condition::HasLead],
            vec![Action::LeadStage(Stage::Arrived)],
        ),
        reply(
            "lead_follows_completion",
            E::Completed,
            vec![Condition::HasLead],
            vec![Action::LeadStage(Stage::Arrived)],
        ),
        reply(
            "lead_follows_no_show",
            E::NoShow,
            vec![Condition::HasLead],
            vec![Action::LeadStage(Stage::NoShow)],
        ),
        reply(
            "low_score_alert",
            E::SurveyAnswered,
            vec![Condition::ScoreAtMost(low_score)],
            vec![Action::Task {
                kind: TaskKind::LowScore,
            }],
        ),
    ]
}

#[cfg(test)]
#[path = "journey_tests.rs"]
mod tests;
