//! Firing: when a firing's timer falls due, the sweep reads the rule (its
//! current version) and the record as they are now, checks the firing
//! against them, and in one transaction — conditioned on the firing still
//! pending, the claimed timer, and the record's version — writes what its
//! actions make (each under the firing's id and its position, `Absent`),
//! the firing's verdict with every condition and the value it saw, and
//! the `automation.fired` event. A crash anywhere before the commit leaves
//! everything to the next sweep; after it, the firing is settled: nothing
//! is done twice.

use clinicflow_core::automation::plan::Done;
use clinicflow_core::automation::spec::Role;
use clinicflow_core::automation::{
    Action, Event, Firing, FiringState, Rule, SkipReason, Verdict, plan,
};
use clinicflow_core::ids::{DealId, MessageId, PipelineId, RecordRef, StaffId, TaskId};
use clinicflow_core::lead::Stage;
use clinicflow_core::message::{Audience, Message, Purpose};
use clinicflow_core::messaging;
use clinicflow_core::pipeline::{Deal, StageStay};
use clinicflow_core::task::{Task, TaskKind};
use clinicflow_core::template::TemplateKind;
use clinicflow_core::tenant::Tenant;
use clinicflow_core::timer::Timer;
use clinicflow_ports::{Condition, Write};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use tracing::info;

use super::arm::automation_events;
use super::pipelines::opened;
use super::place;
use super::subjects::{Record, Subjected};
use crate::error::AppError;
use crate::records::{self, Versioned};
use crate::usecases::blasts::audience::routes;
use crate::usecases::sweep::MAX_ATTEMPTS;
use crate::usecases::{MAX_ROUNDS, busy, landed};
use crate::{App, keys};

/// Firings due this close to now fire now (sweeps tick, clocks drift).
const EARLY: SignedDuration = SignedDuration::from_secs(1);

impl App {
    /// Fires an automation timer claimed at version `claimed`.
    pub(crate) async fn fire_automation(
        &self,
        timer: &Timer,
        claimed: u64,
    ) -> Result<(), AppError> {
        let (Some(tenant), Some(_), Some(_)) = (
            self.directory.tenant(&timer.tenant),
            &timer.rule,
            &timer.occurrence,
        ) else {
            return self.drop_timer(timer, claimed).await;
        };
        if let RecordRef::Rule(_) = timer.about {
            return self.check_health(tenant, timer, claimed).await;
        }
        let result = self.fire_once(tenant, timer, claimed).await;
        if let Err(e) = &result
            && timer.attempts + 1 >= MAX_ATTEMPTS
        {
            // The last try: the sweep gives the timer up; the firing says why.
            self.fail(tenant, timer, claimed, e).await?;
        }
        result
    }

    /// Marks a firing whose every try failed as failed, with the error.
    async fn fail(
        &self,
        tenant: &Tenant,
        timer: &Timer,
        claimed: u64,
        error: &AppError,
    ) -> Result<(), AppError> {
        let (Some(rule), Some(occurrence)) = (&timer.rule, &timer.occurrence) else {
            return Ok(());
        };
        let key = keys::auto_firing(&tenant.id, &timer.about, rule, occurrence);
        let Some(stored) = records::get::<Firing>(self.store.as_ref(), &key).await? else {
            return Ok(());
        };
        if stored.value.state != FiringState::Pending {
            return Ok(());
        }
        let mut failed = stored.value;
        failed.state = FiringState::Failed;
        failed.error = Some(error.to_string());
        failed.settled_at = Some(self.clock.now());
        let writes = vec![
            records::auto_firing(&tenant.id, &failed, Some(stored.version))?,
            records::delete(
                keys::timer(&tenant.id, &timer.about, &timer.name()),
                Condition::VersionIs(claimed),
            ),
        ];
        landed(self.store.write(writes).await)?;
        Ok(())
    }

    /// One try at firing the timer's firing.
    async fn fire_once(
        &self,
        tenant: &Tenant,
        timer: &Timer,
        claimed: u64,
    ) -> Result<(), AppError> {
        let (Some(rule_id), Some(occurrence)) = (&timer.rule, &timer.occurrence) else {
            return self.drop_timer(timer, claimed).await;
        };
        let firing_key = keys::auto_firing(&tenant.id, &timer.about, rule_id, occurrence);
        let timer_key = keys::timer(&tenant.id, &timer.about, &timer.name());
        for _ in 0..MAX_ROUNDS {
            let Some(Versioned {
                value: firing,
                version,
            }) = records::get::<Firing>(self.store.as_ref(), &firing_key).await?
            else {
                return self.drop_timer(timer, claimed).await;
            };
            if firing.state != FiringState::Pending {
                // Settled by a sweep that died before deleting its timer, or cancelled.
                return self.drop_timer(timer, claimed).await;
            }
            let now = self.clock.now();
            if firing.delay.due > now + EARLY {
                // Re-planned later by an edit of its rule.
                let mut next = timer.clone();
                next.due_at = firing.delay.due;
                next.attempts = 0;
                let _ = landed(
                    self.store
                        .write(vec![records::timer(
                            &next,
                            now,
                            Condition::VersionIs(claimed),
                        )?])
                        .await,
                )?;
                return Ok(());
            }
            let rule = records::get::<Rule>(self.store.as_ref(), &keys::rule(&tenant.id, rule_id))
                .await?
                .map(|r| r.value);
            let mut next = firing.clone();
            next.settled_at = Some(now);
            let mut writes = vec![records::delete(
                timer_key.clone(),
                Condition::VersionIs(claimed),
            )];
            let subject = self.subject(tenant, &timer.about, now).await?;
            match (&rule, &subject) {
                (None, _) => settle(&mut next, SkipReason::RuleDeleted, FiringState::Cancelled),
                (Some(r), _) if !r.active => {
                    settle(&mut next, SkipReason::RuleInactive, FiringState::Cancelled)
                }
                (Some(_), None) => settle(&mut next, SkipReason::RecordGone, FiringState::Skipped),
                (Some(rule), Some(subject)) => {
                    let branch = tenant.branch_or_default(&subject.branch);
                    let Verdict { conditions, skip } = plan::check(
                        &rule.spec,
                        occurrence,
                        &subject.view,
                        &firing.event.view(),
                        place(branch),
                    );
                    next.conditions = conditions;
                    next.fired_version = Some(rule.version);
                    match skip {
                        Some(reason) => settle(&mut next, reason, FiringState::Skipped),
                        None => {
                            let acted = self.act(tenant, rule, &next, subject, now).await?;
                            next.state = FiringState::Fired;
                            next.actions = acted.done;
                            writes.extend(acted.writes);
                            if !acted.record_written {
                                writes.push(records::check(
                                    record_key(&tenant.id, subject),
                                    Condition::VersionIs(record_version(subject)),
                                ));
                            }
                            writes.push(published(&tenant.id, &next)?);
                        }
                    }
                }
            }
            writes.insert(0, records::auto_firing(&tenant.id, &next, Some(version))?);
            if landed(self.store.write(writes).await)? {
                info!(tenant = %tenant.id, rule = %rule_id, record = %timer.about, state = next.state.as_str(), reason = next.reason.map(|r| r.as_str()).unwrap_or(""), actions = next.actions.len(), "automation firing settled");
                return Ok(());
            }
        }
        Err(busy("automation firing"))
    }

    /// The writes the rule's actions make for the firing, each under the
    /// firing's id and its position.
    async fn act(
        &self,
        tenant: &Tenant,
        rule: &Rule,
        firing: &Firing,
        subject: &Subjected,
        now: Timestamp,
    ) -> Result<Acted, AppError> {
        let mut acted = Acted::default();
        let depth = firing.depth.saturating_add(1);
        let branch = tenant.branch_or_default(&subject.branch);
        for (i, action) in rule.spec.actions.iter().enumerate() {
            let id = firing.action_id(i);
            let mut done = Done {
                kind: action.kind().to_owned(),
                id: Some(id.clone()),
                result: String::new(),
            };
            match action {
                Action::SendMessage { template, .. }
                    if !tenant.blasts.templates.contains_key(template) =>
                {
                    done.id = None;
                    done.result =
                        format!("not sent: the template `{template}` left the configuration");
                }
                Action::SendMessage { template, channel } => {
                    match self
                        .automation_message(
                            tenant, rule, firing, subject, template, *channel, &id, now,
                        )
                        .await?
                    {
                        Some(message) => {
                            done.result = format!("queued on {}", message.channel.as_str());
                            acted.writes.extend(self.ledger_entry(&message, now)?);
                        }
                        None => {
                            done.id = None;
                            done.result = SkipReason::NoChannel.as_str().into();
                        }
                    }
                }
                Action::CreateTask {
                    assignee,
                    title,
                    due,
                } => {
                    let who = match (&assignee.person, assignee.role) {
                        (Some(person), _) => StaffId::new(person).map_err(AppError::Internal)?,
                        (None, Some(Role::Responsible)) => match &subject.owner {
                            Some(owner) => StaffId::from(owner),
                            None => StaffId::from(&branch.manager),
                        },
                        (None, _) => StaffId::from(&branch.manager),
                    };
                    let task = Task {
                        id: TaskId::new(id.clone()).map_err(AppError::Internal)?,
                        about: firing.record.clone(),
                        kind: TaskKind::Automation,
                        assignee: who.clone(),
                        title: title.clone(),
                        created_at: now,
                        done_at: None,
                        due_at: due.and_then(|d| now.checked_add(d).ok()),
                        firing: Some(firing.id.clone()),
                    };
                    acted.writes.push(records::task(&tenant.id, &task, None)?);
                    done.result = format!("assigned to {who}");
                }
                Action::MoveStage { stage } => {
                    done.id = None;
                    done.result = self
                        .move_record(tenant, subject, None, stage, firing, depth, now, &mut acted)
                        .await?;
                }
                Action::MoveToPipeline { pipeline, stage }
                    if matches!(subject.record, Record::Deal(_)) =>
                {
                    done.id = None;
                    done.result = self
                        .move_record(
                            tenant,
                            subject,
                            Some(pipeline),
                            stage,
                            firing,
                            depth,
                            now,
                            &mut acted,
                        )
                        .await?;
                }
                Action::CopyToPipeline { pipeline, stage }
                | Action::MoveToPipeline { pipeline, stage } => {
                    let pipelines = self.pipelines(&tenant.id).await?;
                    let Some(target) = pipelines.iter().find(|p| p.value.id.as_str() == pipeline)
                    else {
                        done.id = None;
                        done.result = format!("not copied: the pipeline `{pipeline}` is gone");
                        acted.done.push(done);
                        continue;
                    };
                    let Some(stage) = target.value.stage(stage) else {
                        done.id = None;
                        done.result = format!("not copied: `{pipeline}` has no stage `{stage}`");
                        acted.done.push(done);
                        continue;
                    };
                    let deal = copy(tenant, subject, &target.value.id, stage, &id, firing, now)?;
                    acted.writes.extend(opened(&deal, depth)?);
                    done.result = format!("deal {} in {}/{}", deal.id, deal.pipeline, deal.stage);
                }
                Action::Webhook {} => match webhook(tenant, firing, &id, now)? {
                    Some(message) => {
                        done.result = "queued to the clinic's callback URL".into();
                        acted.writes.extend(self.ledger_entry(&message, now)?);
                    }
                    None => {
                        done.id = None;
                        done.result = "not posted: the clinic has no callback URL".into();
                    }
                },
                Action::Reassign { to } => {
                    done.id = None;
                    done.result = match &subject.record {
                        Record::Deal(d) => {
                            let mut deal = d.value.clone();
                            deal.owner = Some(
                                clinicflow_core::ids::ConsultantId::new(to)
                                    .map_err(AppError::Internal)?,
                            );
                            deal.updated_at = now;
                            acted.writes.push(records::deal(&deal, Some(d.version))?);
                            acted.record_written = true;
                            format!("owner is now {to}")
                        }
                        _ => "not reassigned: a rule reassigns deals only".into(),
                    };
                }
            }
            acted.done.push(done);
        }
        Ok(acted)
    }

    /// Moves the record to `stage` (of `pipeline`, for a deal changing
    /// pipeline): the result said in words.
    #[allow(clippy::too_many_arguments)]
    async fn move_record(
        &self,
        tenant: &Tenant,
        subject: &Subjected,
        pipeline: Option<&str>,
        stage: &str,
        firing: &Firing,
        depth: u8,
        now: Timestamp,
        acted: &mut Acted,
    ) -> Result<String, AppError> {
        match &subject.record {
            Record::Lead(lead) => {
                let Some(to) = Stage::parse(stage) else {
                    return Ok(format!("not moved: no lead stage `{stage}`"));
                };
                if !lead.value.stage.can_move_to(to) {
                    return Ok(format!(
                        "not moved: a lead cannot move from {} to {}",
                        lead.value.stage.as_str(),
                        to.as_str()
                    ));
                }
                let (_, writes) = self
                    .stage_writes(tenant, &lead.value, lead.version, to, None, now, depth)
                    .await?;
                acted.writes.extend(writes);
                acted.record_written = true;
                Ok(format!("moved to {}", to.as_str()))
            }
            Record::Deal(d) => {
                let pipeline_id = pipeline.unwrap_or(d.value.pipeline.as_str());
                let pipelines = self.pipelines(&tenant.id).await?;
                let Some(stage) = pipelines
                    .iter()
                    .find(|p| p.value.id.as_str() == pipeline_id)
                    .and_then(|p| p.value.stage(stage))
                else {
                    return Ok(format!("not moved: `{pipeline_id}` has no stage `{stage}`"));
                };
                let mut deal = d.value.clone();
                deal.pipeline = PipelineId::new(pipeline_id).map_err(AppError::Internal)?;
                deal.enter(stage, now, Some(firing.id.clone()));
                acted.writes.push(records::deal(&deal, Some(d.version))?);
                acted.writes.push(automation_events(
                    &tenant.id,
                    &firing.record,
                    vec![Event::entered(&deal)],
                    now,
                    depth,
                ));
                acted.record_written = true;
                Ok(format!("moved to {}/{}", deal.pipeline, deal.stage))
            }
            Record::Appointment(_) => Ok("not moved: an appointment is in no pipeline".into()),
        }
    }

    /// The rule's message to the patient, or `None` when no channel of the
    /// clinic can carry it now.
    #[allow(clippy::too_many_arguments)]
    async fn automation_message(
        &self,
        tenant: &Tenant,
        rule: &Rule,
        firing: &Firing,
        subject: &Subjected,
        template_id: &str,
        channel: Option<clinicflow_core::message::Channel>,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<Message>, AppError> {
        let Some(template) = tenant.blasts.templates.get(template_id) else {
            return Ok(None);
        };
        let vars = self.blast_vars(tenant, &firing.record).await?;
        let language = if template.languages.contains(&subject.language) {
            subject.language.clone()
        } else {
            template
                .languages
                .first()
                .cloned()
                .unwrap_or_else(|| tenant.default_language.clone())
        };
        let text = tenant
            .blasts
            .render(template_id, &language, &vars)
            .map_err(AppError::Internal)?;
        let branch = tenant.branch_or_default(&subject.branch);
        let mut order = routes(tenant, branch, &subject.reach);
        if let Some(first) = channel {
            order.sort_by_key(|r| r.channel != first);
        }
        let patient = subject.patient.as_ref().map(|p| &p.value);
        if rule.spec.purpose == Purpose::Promotional {
            order.retain(|r| !patient.is_some_and(|p| p.opted_out_of(r.channel)));
        }
        let call = template.whatsapp.as_ref().map(|w| w.call(&language, &vars));
        let windows = patient.map(|p| p.windows).unwrap_or_default();
        let Some((route, format, fallbacks)) = messaging::pick(order, &windows, now, call.as_ref())
        else {
            return Ok(None);
        };
        Ok(Some(Message {
            template: format,
            whatsapp_template: call,
            subject: Some(tenant.name.clone()),
            fallbacks,
            firing: Some(firing.id.clone()),
            ..Message::queued(
                MessageId::new(id).map_err(AppError::Internal)?,
                tenant.id.clone(),
                firing.record.clone(),
                TemplateKind::Blast,
                Audience::Patient,
                route,
                rule.spec.purpose,
                language,
                text,
                now,
            )
        }))
    }
}

/// What a firing's actions write.
#[derive(Default)]
struct Acted {
    writes: Vec<Write>,
    done: Vec<Done>,
    /// Whether an action writes the record itself (which then carries the
    /// version condition).
    record_written: bool,
}

fn settle(firing: &mut Firing, reason: SkipReason, state: FiringState) {
    firing.state = state;
    firing.reason = Some(reason);
}

fn record_key(
    tenant: &clinicflow_core::ids::TenantId,
    subject: &Subjected,
) -> clinicflow_ports::Key {
    match &subject.record {
        Record::Lead(l) => keys::lead(tenant, &l.value.id),
        Record::Deal(d) => keys::deal(tenant, &d.value.id),
        Record::Appointment(a) => keys::appointment(tenant, &a.value.id),
    }
}

fn record_version(subject: &Subjected) -> u64 {
    match &subject.record {
        Record::Lead(l) => l.version,
        Record::Deal(d) => d.version,
        Record::Appointment(a) => a.version,
    }
}

/// A new deal in `pipeline` at `stage`, copied from the subject and linked to it.
fn copy(
    tenant: &Tenant,
    subject: &Subjected,
    pipeline: &PipelineId,
    stage: &clinicflow_core::pipeline::PipelineStage,
    id: &str,
    firing: &Firing,
    now: Timestamp,
) -> Result<Deal, AppError> {
    let (parent, lead, source, flags) = match &subject.record {
        Record::Lead(l) => (
            None,
            Some(l.value.id.clone()),
            l.value.source.clone(),
            Default::default(),
        ),
        Record::Deal(d) => (
            Some(d.value.id.clone()),
            d.value.lead.clone(),
            d.value.source.clone(),
            d.value.flags.clone(),
        ),
        Record::Appointment(a) => (
            None,
            a.value.booking.lead.clone(),
            "appointment".into(),
            Default::default(),
        ),
    };
    Ok(Deal {
        id: DealId::new(id).map_err(AppError::Internal)?,
        tenant: tenant.id.clone(),
        pipeline: pipeline.clone(),
        stage: stage.id.clone(),
        stage_entered_at: now,
        contact_key: subject.contact.clone(),
        reach: subject.reach.clone(),
        name: subject.name.clone(),
        language: subject.language.clone(),
        branch: subject.branch.clone(),
        owner: subject.owner.clone(),
        source,
        parent,
        lead,
        flags,
        outcome: stage.outcome,
        history: vec![StageStay {
            stage: stage.id.clone(),
            entered_at: now,
            by_firing: Some(firing.id.clone()),
        }],
        created_at: now,
        updated_at: now,
    })
}

/// The signed POST of a firing to the clinic's callback URL: the firing's
/// ids, as `automation.fired` tells the bus, delivered by the ledger.
fn webhook(
    tenant: &Tenant,
    firing: &Firing,
    id: &str,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let Some(target) = &tenant.appointments.callback else {
        return Ok(None);
    };
    let body = match published(&tenant.id, firing)? {
        Write::Publish { detail, .. } => detail,
        _ => return Ok(None),
    };
    Ok(Some(Message {
        firing: Some(firing.id.clone()),
        ..Message::queued(
            MessageId::new(id).map_err(AppError::Internal)?,
            tenant.id.clone(),
            firing.record.clone(),
            TemplateKind::SchedulerCallback,
            Audience::Scheduler,
            clinicflow_core::messaging::Route {
                channel: clinicflow_core::message::Channel::Webhook,
                to: target.url.clone(),
            },
            Purpose::Operational,
            tenant.default_language.clone(),
            body,
            now,
        )
    }))
}

/// The `automation.fired` event others are told of: the firing's ids and
/// what it did, no patient data.
fn published(tenant: &clinicflow_core::ids::TenantId, firing: &Firing) -> Result<Write, AppError> {
    #[derive(Serialize)]
    struct Detail<'a> {
        tenant: &'a clinicflow_core::ids::TenantId,
        firing: &'a str,
        rule: &'a clinicflow_core::ids::RuleId,
        version: Option<u64>,
        #[serde(flatten)]
        record: &'a RecordRef,
        occurrence: &'a str,
        trigger: &'a str,
        actions: &'a [Done],
    }
    let detail = serde_json::to_string(&Detail {
        tenant,
        firing: &firing.id,
        rule: &firing.rule,
        version: firing.fired_version,
        record: &firing.record,
        occurrence: &firing.occurrence,
        trigger: &firing.trigger,
        actions: &firing.actions,
    })
    .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Write::Publish {
        detail_type: "automation.fired".into(),
        detail,
    })
}
