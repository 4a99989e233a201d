//! A patient's answer about an appointment — a WhatsApp button, a reply
//! to our message (`1`, `evet`, `R`), a tap on the signed link's page, or
//! a survey score — turned into the appointment's change:
//!
//! - confirm → the patient's participant status `accepted`;
//! - cancel → `cancelled` with reason "patient", the owner told;
//! - reschedule → a task for the branch and a reply that someone will call;
//! - a score → stored with the visit, practitioner, branch and service.
//!
//! An answer to a version the appointment has left (it moved, was
//! cancelled or marked since) changes nothing and is answered with the
//! current time. Each answer is published and sent to the clinic's
//! scheduler when it asked to hear them.

use clinicflow_core::answer::{Answer, Payload};
use clinicflow_core::appointment::{
    Actor, Appointment, AppointmentEvent, AppointmentStatus, Confirmation,
};
use clinicflow_core::contact::ContactKey;
use clinicflow_core::ids::{AppointmentId, MessageId, RecordRef, TenantId};
use clinicflow_core::journey::{Buttons, Recipient};
use clinicflow_core::message::Message;
use clinicflow_core::template::TemplateKind;
use clinicflow_core::tenant::Tenant;
use clinicflow_ports::{Condition, Index, Query, Write};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tracing::info;

use super::messages::{self, About};
use super::owner_of;
use super::save::{Change, commit};
use crate::error::AppError;
use crate::records::{self, Question, SurveyAnswer, Versioned};
use crate::usecases::{MAX_ROUNDS, busy};
use crate::{App, keys};

/// What a patient answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Reply {
    Answer(Answer),
    Score(u8),
}

/// A patient's answer, found in what they sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answered {
    pub appointment: AppointmentId,
    /// The version the question was about, when the answer carries it.
    pub version: Option<u64>,
    pub reply: Reply,
}

impl App {
    /// The answer an inbound message gives, if it is one: a payload of our
    /// buttons, a reply to our message (WhatsApp's `context`), or a word of
    /// the grammar (a score) answering the patient's open question.
    pub(crate) async fn answer_in(
        &self,
        tenant: &Tenant,
        contact: &ContactKey,
        text: &str,
        payload: Option<&str>,
        context: Option<(&str, &str)>,
        now: Timestamp,
    ) -> Result<Option<Answered>, AppError> {
        if let Some(p) = payload.and_then(Payload::parse) {
            return Ok(Some(match p {
                Payload::Answer {
                    appointment,
                    version,
                    answer,
                } => Answered {
                    appointment,
                    version: Some(version),
                    reply: Reply::Answer(answer),
                },
                Payload::Score { appointment, score } => Answered {
                    appointment,
                    version: None,
                    reply: Reply::Score(score),
                },
            }));
        }
        let text = payload.unwrap_or(text);
        let read = |asks: Buttons| match asks {
            Buttons::Answer => tenant
                .appointments
                .answers
                .classify(text)
                .map(Reply::Answer),
            Buttons::Score => {
                let (min, max) = tenant.appointments.survey.range();
                clinicflow_core::answer::score(text, min, max).map(Reply::Score)
            }
            Buttons::None => None,
        };
        // A reply quoting one of our messages answers that message.
        if let Some((provider, id)) = context {
            let mut query = Query::partition(keys::provider_index_pk(&tenant.id, provider, id));
            query.index = Index::Gsi2;
            if let Some(item) = self.store.query(&query).await?.items.first()
                && let Some(m) = records::get::<Message>(self.store.as_ref(), &item.key).await?
                && let RecordRef::Appointment(appointment) = &m.value.about
            {
                let asks = match m.value.kind {
                    TemplateKind::AppointmentConfirmation | TemplateKind::AppointmentNudge => {
                        Buttons::Answer
                    }
                    TemplateKind::Survey => Buttons::Score,
                    _ => Buttons::None,
                };
                let version = m
                    .value
                    .buttons
                    .iter()
                    .map(|b| b.payload.as_str())
                    .chain(
                        m.value
                            .whatsapp_template
                            .iter()
                            .flat_map(|t| t.buttons.iter().map(String::as_str)),
                    )
                    .find_map(|p| match Payload::parse(p) {
                        Some(Payload::Answer { version, .. }) => Some(version),
                        _ => None,
                    });
                if let Some(reply) = read(asks) {
                    return Ok(Some(Answered {
                        appointment: appointment.clone(),
                        version,
                        reply,
                    }));
                }
            }
        }
        let question = self.open_question(&tenant.id, contact, now).await?;
        Ok(question.and_then(|q| {
            read(q.asks).map(|reply| Answered {
                appointment: q.appointment,
                version: Some(q.version).filter(|_| q.asks == Buttons::Answer),
                reply,
            })
        }))
    }

    /// Whether the patient has an open question: free text from them is
    /// then about that appointment.
    pub(crate) async fn open_question(
        &self,
        tenant: &TenantId,
        contact: &ContactKey,
        now: Timestamp,
    ) -> Result<Option<Question>, AppError> {
        Ok(
            records::get::<Question>(self.store.as_ref(), &keys::question(tenant, contact))
                .await?
                .map(|q| q.value)
                .filter(|q| q.expires_at > now),
        )
    }

    /// The writes of a patient's answer, `key` naming the answer uniquely
    /// (the provider's event id). `None` when the appointment is not theirs
    /// or the answer does not fit it (a score for a visit not made): the
    /// caller treats it as text.
    pub(crate) async fn answer_writes(
        &self,
        tenant: &Tenant,
        contact: Option<&ContactKey>,
        answered: &Answered,
        via: &str,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<Vec<Write>>, AppError> {
        let Some(Versioned { value: a, .. }) = records::get::<Appointment>(
            self.store.as_ref(),
            &keys::appointment(&tenant.id, &answered.appointment),
        )
        .await?
        else {
            return Ok(None);
        };
        if contact.is_some_and(|c| c != &a.booking.patient.contact_key) {
            return Ok(None);
        }
        let by = Actor::Patient {
            via: via.to_owned(),
        };
        let checked = || {
            records::check(
                keys::appointment(&tenant.id, &a.id),
                Condition::VersionIs(a.version),
            )
        };
        match answered.reply {
            Reply::Answer(answer) => {
                let stale = answered.version.is_some_and(|v| !a.answers_current(v))
                    || a.status() != AppointmentStatus::Booked;
                if stale {
                    info!(tenant = %tenant.id, appointment = %a.id, answer = answer.as_str(), "answer about a changed appointment; the current time is sent");
                    let mut writes = vec![checked()];
                    writes.extend(self.changed_reply(tenant, &a, key, now).await?);
                    return Ok(Some(writes));
                }
                let mut booking = a.booking.clone();
                let (revised, extra) = match answer {
                    Answer::Confirm if booking.confirmation == Confirmation::Accepted => {
                        return Ok(Some(vec![checked()]));
                    }
                    Answer::Confirm => {
                        booking.confirmation = Confirmation::Accepted;
                        (a.revise(booking, by.clone(), now), Vec::new())
                    }
                    Answer::Cancel => {
                        booking.status = AppointmentStatus::Cancelled;
                        booking.cancellation_reason = Some("patient".into());
                        booking.confirmation = Confirmation::Declined;
                        (a.revise(booking, by.clone(), now), Vec::new())
                    }
                    Answer::Reschedule => (None, vec![AppointmentEvent::RescheduleRequested]),
                };
                let (_, writes) = self
                    .change_writes(Change::answer(tenant, &a, revised, extra, by), now)
                    .await?;
                info!(tenant = %tenant.id, appointment = %a.id, answer = answer.as_str(), via, "patient answered");
                Ok(Some(writes))
            }
            Reply::Score(score) => {
                let (min, max) = tenant.appointments.survey.range();
                if a.status() != AppointmentStatus::Fulfilled || !(min..=max).contains(&score) {
                    return Ok(None);
                }
                if self
                    .store
                    .get(&keys::survey(&tenant.id, &a.id))
                    .await?
                    .is_some()
                {
                    // Scored already: the first score stands.
                    return Ok(Some(vec![checked()]));
                }
                let b = &a.booking;
                let mut writes = vec![records::survey(
                    &tenant.id,
                    &SurveyAnswer {
                        appointment: a.id.clone(),
                        score,
                        scale: tenant.appointments.survey,
                        branch: b.branch.clone(),
                        practitioner: b.practitioner.clone(),
                        service: b.service.clone(),
                        via: via.to_owned(),
                        answered_at: now,
                    },
                )?];
                let (_, change) = self
                    .change_writes(
                        Change {
                            score: Some(score),
                            ..Change::answer(
                                tenant,
                                &a,
                                None,
                                vec![AppointmentEvent::SurveyAnswered],
                                by,
                            )
                        },
                        now,
                    )
                    .await?;
                writes.extend(change);
                info!(tenant = %tenant.id, appointment = %a.id, score, via, "survey answered");
                Ok(Some(writes))
            }
        }
    }

    /// The reply to an answer about an appointment that changed since:
    /// its current time (or that it was cancelled).
    async fn changed_reply(
        &self,
        tenant: &Tenant,
        a: &Appointment,
        key: &str,
        now: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let patient = self.booking_patient(tenant, &a.booking).await?;
        let about = About {
            windows: patient.map(|p| p.value.windows).unwrap_or_default(),
            ..About::reply(
                reply_id("answer_changed", &a.id, key)?,
                TemplateKind::AnswerChanged,
                Recipient::Patient,
            )
        };
        match messages::message(tenant, a, about, now)? {
            Some(m) => Ok(self.ledger_entry(&m, now)?.into()),
            None => Ok(Vec::new()),
        }
    }

    /// The notice to the owner (or the branch manager) that the patient of
    /// `question`'s appointment wrote something that is not an answer.
    pub(crate) async fn reply_notice(
        &self,
        tenant: &Tenant,
        question: &Question,
        key: &str,
        now: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let Some(Versioned { value: a, .. }) = records::get::<Appointment>(
            self.store.as_ref(),
            &keys::appointment(&tenant.id, &question.appointment),
        )
        .await?
        else {
            return Ok(Vec::new());
        };
        let lead = self.booking_lead(tenant, &a.booking).await?;
        let about = About {
            owner: owner_of(tenant, lead.as_ref()),
            ..About::reply(
                reply_id("appointment_notice", &a.id, key)?,
                TemplateKind::AppointmentNotice,
                Recipient::Owner,
            )
        };
        match messages::message(tenant, &a, about, now)? {
            Some(m) => Ok(self.ledger_entry(&m, now)?.into()),
            None => Ok(Vec::new()),
        }
    }

    /// Applies an answer given on the link's page (queued by the page).
    pub async fn answer_by_link(
        &self,
        tenant: &TenantId,
        appointment: &AppointmentId,
        version: u64,
        reply: Reply,
        key: &str,
    ) -> Result<(), AppError> {
        let Some(tenant) = self.directory.tenant(tenant) else {
            return Ok(());
        };
        let answered = Answered {
            appointment: appointment.clone(),
            version: Some(version),
            reply,
        };
        let marker = keys::inbox(&tenant.id, key);
        for _ in 0..MAX_ROUNDS {
            if self.store.get(&marker).await?.is_some() {
                return Ok(());
            }
            let now = self.clock.now();
            let Some(mut writes) = self
                .answer_writes(tenant, None, &answered, "link", key, now)
                .await?
            else {
                return Ok(());
            };
            writes.push(records::inbox(
                &tenant.id,
                key,
                &records::Handled {
                    at: now,
                    lead: None,
                },
            )?);
            if commit(self, writes).await? {
                return Ok(());
            }
        }
        Err(busy("answer"))
    }
}

/// The id of a message answering what the patient sent (`key` names it
/// uniquely): the same inbound message is answered once.
fn reply_id(kind: &str, appointment: &AppointmentId, key: &str) -> Result<MessageId, AppError> {
    let digest = Sha256::digest(key.as_bytes());
    MessageId::new(format!(
        "{kind}.{appointment}.{}",
        hex::encode(&digest[..8])
    ))
    .map_err(AppError::Internal)
}
