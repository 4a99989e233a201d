//! What a rule does when it fires for an appointment: its messages (from
//! the tenant's templates, on its channels) and its tasks, each with an id
//! derived from (rule, appointment, occurrence), so that a firing repeated
//! repeats nothing. A message that asks (buttons) also becomes the
//! patient's open question.

use clinicflow_core::appointment::Appointment;
use clinicflow_core::ids::{MessageId, RecordRef, TaskId};
use clinicflow_core::journey::{Action, Buttons, Recipient, Rule, Trigger};
use clinicflow_core::lead::Lead;
use clinicflow_core::locale;
use clinicflow_core::messaging::Windows;
use clinicflow_core::task::{Task, TaskKind};
use clinicflow_core::tenant::{Consultant, Tenant};
use clinicflow_ports::Write;
use jiff::{SignedDuration, Timestamp};

use super::branch_of;
use super::messages::{self, About};
use crate::App;
use crate::error::AppError;
use crate::records::{self, Question, Versioned};

/// How long an unanswered survey question stays open.
const SURVEY_OPEN: SignedDuration = SignedDuration::from_hours(24);

/// What a firing knows besides the appointment and the rule.
pub(super) struct Context<'a> {
    pub occurrence: &'a str,
    /// The appointment's lead, as read.
    pub lead: Option<&'a Versioned<Lead>>,
    /// The consultant who owns the patient's lead, if any.
    pub owner: Option<&'a Consultant>,
    /// The patient's last WhatsApp message (their window).
    pub windows: Windows,
    /// For staff notices: what happened (`cancelled`, `reschedule`, `reply`).
    pub what: &'static str,
    /// A survey score that came with the event.
    pub score: Option<u8>,
}

/// A firing's writes and the ids of the messages it sends.
pub(super) struct Fired {
    pub messages: Vec<MessageId>,
    pub writes: Vec<Write>,
}

impl App {
    /// The writes of `rule`'s actions for `a`; `None` when a message to the
    /// patient has no channel that reaches them now (the step is skipped).
    pub(super) async fn actions(
        &self,
        tenant: &Tenant,
        a: &Appointment,
        rule: &Rule,
        c: &Context<'_>,
        now: Timestamp,
    ) -> Result<Option<Fired>, AppError> {
        let about = RecordRef::Appointment(a.id.clone());
        let timed = rule.is_timed();
        let mut fired = Fired {
            messages: Vec::new(),
            writes: Vec::new(),
        };
        for (i, action) in rule.actions.iter().enumerate() {
            let slot = if i == 0 {
                c.occurrence.to_owned()
            } else {
                format!("{}.{i}", c.occurrence)
            };
            match action {
                Action::Message { kind, to, buttons } => {
                    let id =
                        MessageId::fired(&rule.id, &about, &slot).map_err(AppError::Internal)?;
                    let link = match buttons {
                        Buttons::Answer => self.link(tenant, a).await?,
                        _ => None,
                    };
                    let about_message = About {
                        id,
                        kind: *kind,
                        to: *to,
                        buttons: *buttons,
                        windows: if *to == Recipient::Patient {
                            c.windows
                        } else {
                            Windows::default()
                        },
                        link,
                        owner: c.owner,
                        what: c.what,
                        // A timed step's message is for its occurrence: checked again before it goes.
                        fired: timed.then(|| (rule.id.clone(), c.occurrence.to_owned())),
                        expires_at: match rule.trigger {
                            Trigger::BeforeStart { .. } => Some(a.booking.start),
                            Trigger::Event(_) => None,
                        },
                    };
                    let Some(message) = messages::message(tenant, a, about_message, now)? else {
                        if *to == Recipient::Patient {
                            return Ok(None);
                        }
                        continue;
                    };
                    if *to == Recipient::Patient && *buttons != Buttons::None {
                        fired.writes.push(records::question(
                            &tenant.id,
                            &a.booking.patient.contact_key,
                            &Question {
                                appointment: a.id.clone(),
                                version: a.version,
                                asks: *buttons,
                                message: message.id.clone(),
                                expires_at: match buttons {
                                    Buttons::Score => now + SURVEY_OPEN,
                                    _ => a.booking.start,
                                },
                            },
                        )?);
                    }
                    fired.messages.push(message.id.clone());
                    fired.writes.extend(self.ledger_entry(&message, now)?);
                }
                Action::Task { kind } => {
                    let id = TaskId::fired(&rule.id, &about, &slot).map_err(AppError::Internal)?;
                    fired.writes.push(records::task(
                        &tenant.id,
                        &task(tenant, a, id, *kind, c.score, now),
                        None,
                    )?);
                }
                Action::LeadStage(stage) => {
                    let Some(lead) = c.lead.filter(|l| l.value.stage.can_move_to(*stage)) else {
                        continue;
                    };
                    let reason = Some(format!("appointment {} {}", a.id, a.status()));
                    let (_, moved) = self
                        .stage_writes(tenant, &lead.value, lead.version, *stage, reason, now, 0)
                        .await?;
                    fired.writes.extend(moved);
                }
            }
        }
        Ok(Some(fired))
    }
}

/// A task for the branch manager about `a`.
fn task(
    tenant: &Tenant,
    a: &Appointment,
    id: TaskId,
    kind: TaskKind,
    score: Option<u8>,
    now: Timestamp,
) -> Task {
    let b = &a.booking;
    let branch = branch_of(tenant, b);
    let when = format!(
        "{} {}",
        locale::date(b.start, &branch.time_zone, &tenant.default_language),
        locale::time(b.start, &branch.time_zone)
    );
    let patient = b.patient.first_name();
    let service = tenant
        .service(&b.service)
        .map_or_else(|| b.service.to_string(), |s| s.name.clone());
    let title = match kind {
        TaskKind::RescheduleRequest => format!(
            "Call {patient} to find a new time for the {service} appointment of {when} at {} (appointment {})",
            branch.name, a.id
        ),
        TaskKind::LowScore => format!(
            "{patient} scored the {service} visit of {when} at {} {}/{}: call them (appointment {})",
            branch.name,
            score.unwrap_or_default(),
            tenant.appointments.survey.range().1,
            a.id
        ),
        TaskKind::SlaBreach
        | TaskKind::NoConsultant
        | TaskKind::Automation
        | TaskKind::UnmappedLeadForm
        | TaskKind::MissedCall => {
            format!("Appointment {} of {when} at {}", a.id, branch.name)
        }
    };
    Task {
        id,
        about: RecordRef::Appointment(a.id.clone()),
        kind,
        assignee: (&branch.manager).into(),
        title,
        created_at: now,
        done_at: None,
        due_at: None,
        firing: None,
    }
}
