//! What staff do to a lead: record a contact (which stops the SLA), move it
//! through the pipeline, and close their tasks.

use clinicflow_core::automation::Event;
use clinicflow_core::ids::{ConsultantId, LeadId, RecordRef, TaskId};
use clinicflow_core::lead::{ContactKind, Lead, LeadEvent, Stage};
use clinicflow_core::pipeline::{LEADS, stage_entry};
use clinicflow_core::task::Task;
use clinicflow_core::tenant::Tenant;
use clinicflow_core::timer::TimerKind;
use clinicflow_ports::{Condition, Write};
use jiff::Timestamp;
use tracing::info;

use super::automations::automation_events;
use super::{MAX_ROUNDS, busy, landed};
use crate::error::AppError;
use crate::records::{self, Claim, Versioned};
use crate::{App, keys};

const MAX_NOTE: usize = 5000;
const MAX_REASON: usize = 500;

/// A contact with the patient, as staff report it.
#[derive(Clone, Debug)]
pub struct ContactInput {
    pub kind: ContactKind,
    /// The consultant who made the contact.
    pub by: Option<String>,
    pub note: Option<String>,
}

#[derive(Clone, Debug)]
pub struct StageInput {
    pub stage: String,
    /// Required when the stage is `lost`.
    pub reason: Option<String>,
}

impl App {
    /// Records a contact. The first one stops the SLA and moves a new lead to Contacted.
    pub async fn record_contact(
        &self,
        tenant: &Tenant,
        lead_id: &str,
        input: ContactInput,
    ) -> Result<Lead, AppError> {
        let lead_id = LeadId::new(lead_id).map_err(|_| AppError::NotFound("lead"))?;
        let by = consultant_named(tenant, input.by.as_deref())?;
        let note = bounded("note", input.note, MAX_NOTE)?;
        for _ in 0..MAX_ROUNDS {
            let Versioned {
                value: lead,
                version,
            } = self.lead_of(tenant, &lead_id).await?;
            let now = self.clock.now();
            let (next, writes) = self.contact_writes(
                tenant,
                &lead,
                version,
                input.kind,
                by.clone(),
                note.clone(),
                now,
            )?;
            if landed(self.store.write(writes).await)? {
                info!(tenant = %tenant.id, lead = %lead.id, "contact recorded");
                return Ok(next);
            }
        }
        Err(busy("contact"))
    }

    /// The writes of a contact with the patient of `lead` (read at
    /// `version`): its history, the first contact (a new lead moves to
    /// Contacted), the SLA's timers deleted, the automation events.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn contact_writes(
        &self,
        tenant: &Tenant,
        lead: &Lead,
        version: u64,
        kind: ContactKind,
        by: Option<ConsultantId>,
        note: Option<String>,
        now: Timestamp,
    ) -> Result<(Lead, Vec<Write>), AppError> {
        let mut next = lead.clone();
        next.first_contact_at.get_or_insert(now);
        next.updated_at = now;
        let mut events = vec![LeadEvent::ContactRecorded {
            contact: kind,
            by,
            note,
        }];
        if lead.stage == Stage::New {
            next.enter(Stage::Contacted, now);
            events.push(LeadEvent::StageChanged {
                from: Stage::New,
                to: Stage::Contacted,
                reason: None,
            });
        }
        let mut writes = vec![records::lead(&next, Some(version))?];
        writes.extend(self.events(tenant, &lead.id, events, now)?);
        writes.extend(stop_sla(tenant, &lead.id));
        let mut happened = vec![Event::TouchRecorded {
            touch_type: kind,
            id: self.ids.new_id(),
        }];
        if next.stage != lead.stage {
            happened.push(entered(&next));
        }
        writes.push(automation_events(
            &tenant.id,
            &RecordRef::Lead(lead.id.clone()),
            happened,
            now,
            0,
        ));
        Ok((next, writes))
    }

    /// Moves a lead to another stage of the pipeline.
    pub async fn move_stage(
        &self,
        tenant: &Tenant,
        lead_id: &str,
        input: StageInput,
    ) -> Result<Lead, AppError> {
        let lead_id = LeadId::new(lead_id).map_err(|_| AppError::NotFound("lead"))?;
        let to = Stage::parse(input.stage.trim()).ok_or_else(|| {
            let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
            AppError::invalid(
                "stage",
                format!("is not a stage; use one of: {}", names.join(", ")),
            )
        })?;
        let reason = bounded("reason", input.reason, MAX_REASON)?;
        if to == Stage::Lost && reason.is_none() {
            return Err(AppError::invalid(
                "reason",
                "is required when a lead is lost",
            ));
        }
        for _ in 0..MAX_ROUNDS {
            let Versioned {
                value: lead,
                version,
            } = self.lead_of(tenant, &lead_id).await?;
            if !lead.stage.can_move_to(to) {
                return Err(AppError::Conflict(format!(
                    "a lead cannot move from {} to {}",
                    lead.stage.as_str(),
                    to.as_str()
                )));
            }
            let now = self.clock.now();
            let (next, writes) = self
                .stage_writes(tenant, &lead, version, to, reason.clone(), now, 0)
                .await?;
            if landed(self.store.write(writes).await)? {
                info!(tenant = %tenant.id, lead = %lead.id, from = lead.stage.as_str(), to = to.as_str(), "stage moved");
                return Ok(next);
            }
        }
        Err(busy("stage move"))
    }

    /// The writes that move `lead` (read at `version`) to stage `to`, and
    /// the lead after: the history event (published), the SLA stopped when
    /// a new lead is worked or closed, claims and load freed when it
    /// closes or taken back when it reopens.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn stage_writes(
        &self,
        tenant: &Tenant,
        lead: &Lead,
        version: u64,
        to: Stage,
        reason: Option<String>,
        now: Timestamp,
        depth: u8,
    ) -> Result<(Lead, Vec<Write>), AppError> {
        let mut next = lead.clone();
        next.enter(to, now);
        next.lost_reason = (to == Stage::Lost).then(|| reason.clone()).flatten();
        next.updated_at = now;
        if lead.stage == Stage::New && to != Stage::Lost {
            // Working a new lead means someone reached the patient
            // (dropping one as junk does not).
            next.first_contact_at.get_or_insert(now);
        }
        let mut writes = vec![records::lead(&next, Some(version))?];
        if lead.stage == Stage::New || !to.is_open() {
            writes.extend(stop_sla(tenant, &lead.id));
        }
        writes.extend(self.events(
            tenant,
            &lead.id,
            vec![LeadEvent::StageChanged {
                from: lead.stage,
                to,
                reason,
            }],
            now,
        )?);
        writes.push(automation_events(
            &tenant.id,
            &RecordRef::Lead(lead.id.clone()),
            vec![entered(&next)],
            now,
            depth,
        ));
        match (lead.stage.is_open(), to.is_open()) {
            (true, false) => writes.extend(self.close(tenant, lead).await?),
            (false, true) => writes.extend(self.reopen(tenant, lead, now).await?),
            _ => {}
        }
        Ok((next, writes))
    }

    /// Marks a manager's task done (again done is still done).
    pub async fn complete_task(&self, tenant: &Tenant, task_id: &str) -> Result<Task, AppError> {
        let id = TaskId::new(task_id).map_err(|_| AppError::NotFound("task"))?;
        let key = keys::task(&tenant.id, &id);
        for _ in 0..MAX_ROUNDS {
            let Versioned {
                value: mut task,
                version,
            } = records::get::<Task>(self.store.as_ref(), &key)
                .await?
                .ok_or(AppError::NotFound("task"))?;
            if task.done_at.is_some() {
                return Ok(task);
            }
            task.done_at = Some(self.clock.now());
            if landed(
                self.store
                    .write(vec![records::task(&tenant.id, &task, Some(version))?])
                    .await,
            )? {
                return Ok(task);
            }
        }
        Err(busy("task"))
    }

    pub(super) async fn lead_of(
        &self,
        tenant: &Tenant,
        id: &LeadId,
    ) -> Result<Versioned<Lead>, AppError> {
        records::get::<Lead>(self.store.as_ref(), &keys::lead(&tenant.id, id))
            .await?
            .ok_or(AppError::NotFound("lead"))
    }

    fn events(
        &self,
        tenant: &Tenant,
        lead: &LeadId,
        events: Vec<LeadEvent>,
        at: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let mut writes = Vec::new();
        for event in events {
            writes.extend(self.history(&tenant.id, lead, event, at)?);
        }
        Ok(writes)
    }

    /// Closing frees the patient's claims (a new submission opens a new
    /// lead) and the owner's capacity; the caller stops the SLA.
    async fn close(&self, tenant: &Tenant, lead: &Lead) -> Result<Vec<Write>, AppError> {
        let mut writes = Vec::new();
        for contact in lead.reach.dedupe_keys() {
            let claim_key = keys::open_claim(&tenant.id, &contact);
            if let Some(claim) = records::get::<Claim>(self.store.as_ref(), &claim_key).await?
                && claim.value.lead == lead.id
            {
                writes.push(records::delete(
                    claim_key,
                    Condition::VersionIs(claim.version),
                ));
            }
        }
        if let Some(owner) = &lead.owner {
            let loads = self.loads(&tenant.id).await?;
            writes.push(super::assign::load_change(
                &tenant.id,
                &owner.consultant,
                &loads,
                -1,
                None,
            )?);
        }
        Ok(writes)
    }

    /// Reopening (an arrived patient going on to follow-up) takes the
    /// claims back, unless the patient has opened another lead meanwhile.
    async fn reopen(
        &self,
        tenant: &Tenant,
        lead: &Lead,
        now: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let mut writes = Vec::new();
        for contact in lead.reach.dedupe_keys() {
            let claim_key = keys::open_claim(&tenant.id, &contact);
            if let Some(claim) = records::get::<Claim>(self.store.as_ref(), &claim_key).await? {
                return Err(AppError::Conflict(format!(
                    "the patient has another open lead ({}); continue there",
                    claim.value.lead
                )));
            }
            writes.push(records::claim(
                &tenant.id,
                &contact,
                &Claim {
                    lead: lead.id.clone(),
                },
                now,
            )?);
        }
        if let Some(owner) = &lead.owner {
            let loads = self.loads(&tenant.id).await?;
            writes.push(super::assign::load_change(
                &tenant.id,
                &owner.consultant,
                &loads,
                1,
                None,
            )?);
        }
        Ok(writes)
    }
}

/// The event of `lead` entering its current stage.
pub(super) fn entered(lead: &Lead) -> Event {
    Event::StageEntered {
        pipeline: LEADS.into(),
        stage: lead.stage.as_str().into(),
        entry: stage_entry(lead.stage.as_str(), lead.stage_entered_at()),
    }
}

/// Deleting both SLA timers stops the SLA.
fn stop_sla<'a>(tenant: &'a Tenant, lead: &'a LeadId) -> impl Iterator<Item = Write> + 'a {
    [TimerKind::SlaWarn, TimerKind::SlaReassign]
        .into_iter()
        .map(move |kind| {
            records::delete(
                keys::timer(&tenant.id, &RecordRef::Lead(lead.clone()), kind.as_str()),
                Condition::Always,
            )
        })
}

/// Trims an optional text; empty is absent; too long is an error on `field`.
/// The consultant a staff request names in `by`, if any; an unknown one is
/// a 422 on `by`.
pub(super) fn consultant_named(
    tenant: &Tenant,
    by: Option<&str>,
) -> Result<Option<ConsultantId>, AppError> {
    let Some(by) = by.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    ConsultantId::new(by)
        .ok()
        .filter(|id| tenant.consultant(id).is_some())
        .map(Some)
        .ok_or_else(|| AppError::invalid("by", format!("no consultant `{by}` in this clinic")))
}

pub(super) fn bounded(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, AppError> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    match value {
        Some(v) if v.chars().count() > max => Err(AppError::invalid(
            field,
            format!("is longer than {max} characters"),
        )),
        other => Ok(other),
    }
}
