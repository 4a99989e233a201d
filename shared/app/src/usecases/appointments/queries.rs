//! What staff read of appointments: a branch's day (by morning or
//! afternoon, practitioner, service, status, confirmation), one
//! appointment with its history, messages, tasks and the explained plan
//! of its journey, and the patients' scores.

use clinicflow_core::appointment::{Appointment, AppointmentStatus, Confirmation, Revision};
use clinicflow_core::ids::{AppointmentId, BranchId, PractitionerId, RecordRef, RuleId, ServiceId};
use clinicflow_core::journey::{self, Action, SkipReason, Step};
use clinicflow_core::message::{Channel, Message};
use clinicflow_core::messaging;
use clinicflow_core::task::Task;
use clinicflow_core::tenant::{Branch, Tenant};
use clinicflow_core::timer::Timer;
use clinicflow_ports::{Index, Query, SortKey};
use jiff::civil::{Date, Time};
use jiff::{SignedDuration, Timestamp};

use super::{branch_of, facts, patient_zone};
use crate::error::AppError;
use crate::records::{Firing, Patient, SurveyAnswer, decode};
use crate::usecases::Listing;
use crate::{App, keys};

/// Half a day at the branch: before or after local noon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayPart {
    Morning,
    Afternoon,
}

/// Which appointments of a day to list.
#[derive(Clone, Debug)]
pub struct AppointmentFilter {
    /// The branch's local date.
    pub date: Date,
    /// Required when the tenant has more than one branch.
    pub branch: Option<BranchId>,
    pub part: Option<DayPart>,
    pub practitioner: Option<PractitionerId>,
    pub service: Option<ServiceId>,
    pub status: Option<AppointmentStatus>,
    pub confirmation: Option<Confirmation>,
}

impl AppointmentFilter {
    /// The branch the filter reads: the one named, or the only one.
    pub(crate) fn branch<'t>(&self, tenant: &'t Tenant) -> Result<&'t Branch, AppError> {
        match &self.branch {
            Some(b) => tenant
                .branch(b)
                .ok_or_else(|| AppError::invalid("branch", "is not a branch of this clinic")),
            None if tenant.branches.len() == 1 => Ok(tenant.default_branch()),
            None => Err(AppError::invalid(
                "branch",
                "is required: this clinic has several branches",
            )),
        }
    }

    /// The index partition of the branch's day and the range of its half
    /// day (in the branch's time zone).
    pub(crate) fn day_range(
        &self,
        tenant: &Tenant,
    ) -> Result<(BranchId, String, SortKey), AppError> {
        let branch = self.branch(tenant)?;
        let tz = &branch.time_zone;
        let noon = tz
            .to_timestamp(self.date.to_datetime(Time::constant(12, 0, 0, 0)))
            .map_err(|_| AppError::invalid("date", "is out of range"))?;
        let sk = match self.part {
            None => SortKey::All,
            Some(DayPart::Morning) => SortKey::AtMost(format!(
                "{}#~",
                keys::millis(noon - SignedDuration::from_millis(1))
            )),
            Some(DayPart::Afternoon) => SortKey::AtLeast(keys::millis(noon)),
        };
        let pk = keys::branch_day_index_pk(&tenant.id, &branch.id, self.date);
        Ok((branch.id.clone(), pk, sk))
    }

    /// Whether an appointment of the day's index passes the filter.
    pub(crate) fn matches(&self, a: &Appointment, branch: &BranchId) -> bool {
        let b = &a.booking;
        self.practitioner.as_ref().is_none_or(|p| &b.practitioner == p)
            && self.service.as_ref().is_none_or(|s| &b.service == s)
            && self.status.is_none_or(|s| b.status == s)
            && self.confirmation.is_none_or(|c| b.confirmation == c)
            // The day's index may hold an appointment moved since (it may lag).
            && &b.branch == branch
    }
}

/// One step of an appointment's journey, explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanStep {
    pub rule: RuleId,
    /// The occurrence it is for (the appointment's start, a status's start, a version).
    pub occurrence: String,
    /// `planned`, `sent`, `skipped`, or `done` (a rule that moved the
    /// lead or opened a task without a message).
    pub state: &'static str,
    /// When it goes (planned) or went (sent, skipped).
    pub at: Option<Timestamp>,
    /// When it was due before the patient's quiet hours moved it.
    pub deferred_from: Option<Timestamp>,
    /// The channel it goes on (planned) or went on (sent).
    pub channel: Option<Channel>,
    pub reason: Option<SkipReason>,
    pub messages: Vec<String>,
    /// Whether it is for the appointment as it is now (not an earlier time).
    pub current: bool,
}

/// An appointment with everything about it.
#[derive(Clone, Debug)]
pub struct AppointmentDetail {
    pub appointment: Appointment,
    pub history: Vec<Revision>,
    pub plan: Vec<PlanStep>,
    pub messages: Vec<Message>,
    pub timers: Vec<Timer>,
    pub tasks: Vec<Task>,
    pub survey: Option<SurveyAnswer>,
}

/// Which scores to list.
#[derive(Clone, Debug, Default)]
pub struct SurveyFilter {
    pub branch: Option<BranchId>,
    pub practitioner: Option<PractitionerId>,
    pub service: Option<ServiceId>,
}

/// Scores read, summed up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SurveySummary {
    pub count: usize,
    pub average: Option<f64>,
    /// For NPS: % promoters (9–10) − % detractors (0–6).
    pub nps: Option<f64>,
}

impl App {
    /// A branch's appointments on one local day, by start.
    pub async fn list_appointments(
        &self,
        tenant: &Tenant,
        filter: &AppointmentFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Listing<Appointment>, AppError> {
        let (branch, pk, sk) = filter.day_range(tenant)?;
        self.scan_range(
            tenant,
            Index::Gsi1,
            pk,
            sk,
            false,
            limit,
            cursor,
            |a: &Appointment| filter.matches(a, &branch),
        )
        .await
    }

    /// One appointment with its history, messages, tasks and plan.
    pub async fn appointment_detail(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<AppointmentDetail, AppError> {
        let id = AppointmentId::new(id).map_err(|_| AppError::NotFound("appointment"))?;
        let mut query = Query::partition(keys::appointment_pk(&tenant.id, &id));
        let mut appointment = None;
        let (mut history, mut messages, mut timers, mut firings, mut survey) =
            (vec![], vec![], vec![], vec![], None);
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let sk = item.key.sk.as_str();
                if sk == keys::APPOINTMENT_SK {
                    appointment = Some(decode::<Appointment>(item)?);
                } else if sk.starts_with(keys::REVISION_PREFIX) {
                    history.push(decode(item)?);
                } else if sk.starts_with(keys::MESSAGE_PREFIX) {
                    messages.push(decode::<Message>(item)?);
                } else if sk.starts_with(keys::TIMER_PREFIX) {
                    timers.push(decode::<Timer>(item)?);
                } else if sk.starts_with(keys::FIRING_PREFIX) {
                    firings.push(decode::<Firing>(item)?);
                } else if sk == keys::SURVEY_SK {
                    survey = Some(decode(item)?);
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let appointment = appointment.ok_or(AppError::NotFound("appointment"))?;
        let tasks = self
            .store
            .query(&Query {
                index: Index::Gsi2,
                pk: keys::record_tasks_index_pk(&tenant.id, &RecordRef::Appointment(id.clone())),
                ..Query::partition("")
            })
            .await?;
        let tasks = tasks.items.iter().map(decode).collect::<Result<_, _>>()?;
        let patient = self
            .booking_patient(tenant, &appointment.booking)
            .await?
            .map(|p| p.value);
        messages.sort_by_key(|m| m.created_at);
        timers.sort_by_key(|t| t.due_at);
        let plan = explain(
            tenant,
            &appointment,
            patient.as_ref(),
            &firings,
            &messages,
            self.clock.now(),
        );
        Ok(AppointmentDetail {
            appointment,
            history,
            plan,
            messages,
            timers,
            tasks,
            survey,
        })
    }

    /// Patients' scores, newest first, and their summary over the page.
    pub async fn list_surveys(
        &self,
        tenant: &Tenant,
        filter: &SurveyFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Listing<SurveyAnswer>, SurveySummary), AppError> {
        let pk = keys::surveys_index_pk(&tenant.id);
        let listing = self
            .scan(
                tenant,
                Index::Gsi1,
                pk,
                limit,
                cursor,
                |s: &SurveyAnswer| {
                    filter.branch.as_ref().is_none_or(|b| &s.branch == b)
                        && filter
                            .practitioner
                            .as_ref()
                            .is_none_or(|p| &s.practitioner == p)
                        && filter.service.as_ref().is_none_or(|v| &s.service == v)
                },
            )
            .await?;
        let count = listing.items.len();
        let scores: Vec<f64> = listing.items.iter().map(|s| f64::from(s.score)).collect();
        let average = (count > 0).then(|| scores.iter().sum::<f64>() / count as f64);
        let nps =
            (count > 0 && tenant.appointments.survey == journey::SurveyScale::Nps).then(|| {
                let promoters = listing.items.iter().filter(|s| s.score >= 9).count() as f64;
                let detractors = listing.items.iter().filter(|s| s.score <= 6).count() as f64;
                (promoters - detractors) * 100.0 / count as f64
            });
        Ok((
            listing,
            SurveySummary {
                count,
                average,
                nps,
            },
        ))
    }
}

/// The journey of `a` explained: each step that fired (sent or skipped, for
/// the current time or an earlier one) and each still to come, with when,
/// on which channel, or why not.
fn explain(
    tenant: &Tenant,
    a: &Appointment,
    patient: Option<&Patient>,
    firings: &[Firing],
    messages: &[Message],
    now: Timestamp,
) -> Vec<PlanStep> {
    let zone = patient_zone(tenant, &a.booking);
    let known = facts(tenant, a, &zone, patient, now);
    let planned = journey::plan(&tenant.appointments.rules, a, &known);
    let channel_of = |ids: &[clinicflow_core::ids::MessageId]| {
        messages
            .iter()
            .find(|m| ids.first() == Some(&m.id))
            .map(|m| m.channel)
    };
    let mut steps: Vec<PlanStep> = firings
        .iter()
        .map(|f| {
            let current = planned
                .iter()
                .any(|p| p.rule == f.rule && p.occurrence == f.occurrence)
                || f.occurrence.starts_with('v')
                || f.occurrence == "survey";
            PlanStep {
                rule: f.rule.clone(),
                occurrence: f.occurrence.clone(),
                state: match (&f.skipped, f.messages.is_empty()) {
                    (Some(_), _) => "skipped",
                    (None, true) => "done",
                    (None, false) => "sent",
                },
                at: Some(f.at),
                deferred_from: None,
                channel: channel_of(&f.messages),
                reason: f.skipped,
                messages: f.messages.iter().map(ToString::to_string).collect(),
                current,
            }
        })
        .collect();
    for p in planned {
        if firings
            .iter()
            .any(|f| f.rule == p.rule && f.occurrence == p.occurrence)
        {
            continue;
        }
        let (state, at, deferred_from, reason) = match p.step {
            Step::Due { at, deferred_from } => ("planned", Some(at), deferred_from, None),
            Step::Skipped(reason) => ("skipped", None, None, Some(reason)),
        };
        let channel = at.and_then(|at| planned_channel(tenant, a, &p.rule, patient, at));
        steps.push(PlanStep {
            rule: p.rule,
            occurrence: p.occurrence,
            state,
            at,
            deferred_from,
            channel,
            reason: reason.or_else(|| {
                (state == "planned" && channel.is_none()).then_some(SkipReason::NoChannel)
            }),
            messages: Vec::new(),
            current: true,
        });
    }
    steps.sort_by_key(|s| (!s.current, s.at));
    steps
}

/// The channel a planned step would go on at `at`, as things stand: the
/// first of the tenant's channels for its kind that reaches the patient
/// and can carry it then (WhatsApp's window as the patient left it).
fn planned_channel(
    tenant: &Tenant,
    a: &Appointment,
    rule: &RuleId,
    patient: Option<&Patient>,
    at: Timestamp,
) -> Option<Channel> {
    let rule = tenant.appointments.rule(rule.as_str())?;
    let kind = rule.actions.iter().find_map(|action| match action {
        Action::Message { kind, .. } => Some(*kind),
        Action::Task { .. } | Action::LeadStage(_) => None,
    })?;
    let reach = &a.booking.patient.reach;
    let routes = match branch_of(tenant, &a.booking).channels.as_deref() {
        Some(order) => messaging::routes_in(order, reach),
        None => tenant.messaging.routing.routes(kind, reach),
    };
    let template = tenant.messaging.whatsapp_templates.get(&kind);
    let approved = template.map(|t| t.call(&a.booking.patient.language, &Default::default()));
    let windows = patient
        .map(|p| p.windows)
        .unwrap_or_default()
        .for_template(template);
    messaging::pick(routes, &windows, at, approved.as_ref()).map(|(route, _, _)| route.channel)
}
