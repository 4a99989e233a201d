//! SLA deadlines: the manager's warning and the reassignment. Both act only
//! if the lead is still waiting in the same cycle; a contact recorded
//! meanwhile, or a newer cycle, makes the timer stale and it is dropped.

use clinicflow_core::assignment::{self, Decision, Request};
use clinicflow_core::ids::RecordRef;
use clinicflow_core::lead::{Lead, LeadEvent, Ownership};
use clinicflow_core::task::{self, Task, TaskKind};
use clinicflow_core::tenant::Tenant;
use clinicflow_core::timer::Timer;
use clinicflow_ports::{Condition, Write};
use jiff::Timestamp;
use tracing::{info, warn};

use super::assign::{Loads, load_change, plain};
use super::compose::{self, branch_of};
use super::{MAX_ROUNDS, busy, landed};
use crate::error::AppError;
use crate::records::{self, Patient, Versioned};
use crate::{App, keys, metrics};

impl App {
    /// The first deadline passed without contact: a task and a message for
    /// the branch manager, once per cycle.
    pub(super) async fn sla_warn(&self, timer: &Timer, claimed: u64) -> Result<(), AppError> {
        let Some(tenant) = self.directory.tenant(&timer.tenant) else {
            return self.drop_timer(timer, claimed).await;
        };
        for _ in 0..MAX_ROUNDS {
            let Some(Versioned { value: lead, .. }) = self.waiting_lead(timer).await? else {
                return self.drop_timer(timer, claimed).await;
            };
            let now = self.clock.now();
            let Some(mut writes) = self.breach(tenant, &lead, now).await? else {
                return self.drop_timer(timer, claimed).await;
            };
            writes.push(records::delete(
                keys::timer(&tenant.id, &timer.about, &timer.name()),
                Condition::VersionIs(claimed),
            ));
            if landed(self.store.write(writes).await)? {
                metrics::sla_breached();
                info!(tenant = %tenant.id, lead = %lead.id, cycle = lead.sla_cycle, "SLA breached; manager warned");
                return Ok(());
            }
        }
        Err(busy("SLA warning"))
    }

    /// The writes that warn the branch manager about `lead`'s current SLA
    /// cycle: a task, a history event and the alert message. `None` when
    /// this cycle's warning was already given.
    async fn breach(
        &self,
        tenant: &Tenant,
        lead: &Lead,
        now: Timestamp,
    ) -> Result<Option<Vec<Write>>, AppError> {
        let task_id = task::sla_breach_id(&lead.id, lead.sla_cycle);
        if self
            .store
            .get(&keys::task(&tenant.id, &task_id))
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let branch = branch_of(tenant, lead);
        let Some(manager) = tenant.manager(&branch.manager) else {
            return Err(AppError::Internal(format!(
                "branch {} has no manager",
                branch.id
            )));
        };
        let task = Task {
            id: task_id,
            about: RecordRef::Lead(lead.id.clone()),
            kind: TaskKind::SlaBreach,
            assignee: (&manager.id).into(),
            title: format!(
                "Lead {} at {}: nobody has contacted the patient within {:#} of opening hours",
                lead.id, branch.name, tenant.sla.first_contact
            ),
            created_at: now,
            done_at: None,
            due_at: None,
            firing: None,
        };
        let mut writes = vec![records::task(&tenant.id, &task, None)?];
        writes.extend(self.history(
            &tenant.id,
            &lead.id,
            LeadEvent::SlaBreached {
                cycle: lead.sla_cycle,
                manager: manager.id.clone(),
            },
            now,
        )?);
        if let Some(alert) = compose::sla_alert(tenant, lead, manager, now)? {
            writes.extend(self.ledger_entry(&alert, now)?);
        }
        Ok(Some(writes))
    }

    /// The second deadline passed without contact: the lead goes to the
    /// next consultant, who starts a fresh SLA cycle. If the manager was
    /// not warned about this cycle yet (both deadlines fell due in one
    /// sweep, after downtime say), the warning comes with it.
    pub(super) async fn sla_reassign(&self, timer: &Timer, claimed: u64) -> Result<(), AppError> {
        let Some(tenant) = self.directory.tenant(&timer.tenant) else {
            return self.drop_timer(timer, claimed).await;
        };
        for _ in 0..MAX_ROUNDS {
            let Some(Versioned {
                value: lead,
                version,
            }) = self.waiting_lead(timer).await?
            else {
                return self.drop_timer(timer, claimed).await;
            };
            let Some(previous) = lead.owner.clone() else {
                return self.drop_timer(timer, claimed).await;
            };
            let now = self.clock.now();
            let warning = self.breach(tenant, &lead, now).await?;
            let breached = warning.is_some();
            let mut writes = warning.unwrap_or_default();
            let mut exclude = lead.past_owners.clone();
            exclude.push(previous.consultant.clone());
            let loads = self.loads(&tenant.id).await?;
            let decision = assignment::choose(&Request {
                tenant,
                branch: &branch_of(tenant, &lead).id,
                language: &lead.language,
                previous: None,
                exclude: &exclude,
                loads: &plain(&loads),
                now,
            });
            let Some(decision) = decision else {
                let reason = "the SLA ran out and no other consultant is available; the owner keeps the lead";
                writes.extend(self.history(
                    &tenant.id,
                    &lead.id,
                    LeadEvent::Unassignable {
                        reason: reason.into(),
                    },
                    now,
                )?);
                writes.push(records::delete(
                    keys::timer(&tenant.id, &timer.about, &timer.name()),
                    Condition::VersionIs(claimed),
                ));
                if landed(self.store.write(writes).await)? {
                    if breached {
                        metrics::sla_breached();
                    }
                    warn!(tenant = %tenant.id, lead = %lead.id, "SLA ran out; nobody left to reassign to");
                    return Ok(());
                }
                continue;
            };

            let (next, handover) = self
                .handover(
                    tenant,
                    &lead,
                    version,
                    &decision,
                    "reassigned after the SLA ran out",
                    &loads,
                    // Replaces the claimed timer of the old cycle.
                    Condition::VersionIs(claimed),
                    now,
                )
                .await?;
            writes.extend(handover);
            // The patient's consultant is now the one who has the lead.
            let patient = records::get::<Patient>(
                self.store.as_ref(),
                &keys::patient(&tenant.id, &lead.contact_key),
            )
            .await?;
            writes.push(records::patient(
                &tenant.id,
                &Patient::handled_by(&next, decision.consultant.clone(), patient.as_ref(), now),
                patient.as_ref().map(|p| p.version),
            )?);
            if landed(self.store.write(writes).await)? {
                if breached {
                    metrics::sla_breached();
                }
                info!(tenant = %tenant.id, lead = %lead.id, from = %previous.consultant, to = %decision.consultant, cycle = next.sla_cycle, "lead reassigned after SLA");
                return Ok(());
            }
        }
        Err(busy("SLA reassignment"))
    }

    /// The writes that hand `lead` (read at `version`, owned) to the
    /// consultant of `decision`: the lead with its new owner (`why` and
    /// the decision's reason) and a fresh SLA cycle, both loads, the
    /// cycle's timers (the reassignment's written under
    /// `reassign_condition`) and the `Reassigned` event. The caller writes
    /// the patient's record, whose consultant is now the new owner.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn handover(
        &self,
        tenant: &Tenant,
        lead: &Lead,
        version: u64,
        decision: &Decision,
        why: &str,
        loads: &Loads,
        reassign_condition: Condition,
        now: Timestamp,
    ) -> Result<(Lead, Vec<Write>), AppError> {
        let Some(previous) = lead.owner.clone() else {
            return Err(AppError::Internal("handing over a lead nobody owns".into()));
        };
        let mut next = lead.clone();
        next.past_owners.push(previous.consultant.clone());
        next.owner = Some(Ownership {
            consultant: decision.consultant.clone(),
            rule: decision.rule,
            reason: format!("{why}: {}", decision.reason),
            since: now,
        });
        next.sla_cycle += 1;
        next.updated_at = now;
        let [warn_timer, reassign_timer] = compose::sla_timers(tenant, &next, now);
        let mut writes = vec![
            records::lead(&next, Some(version))?,
            load_change(&tenant.id, &previous.consultant, loads, -1, None)?,
            load_change(&tenant.id, &decision.consultant, loads, 1, Some(now))?,
            records::timer(&warn_timer, now, Condition::Always)?,
            records::timer(&reassign_timer, now, reassign_condition)?,
        ];
        writes.extend(self.history(
            &tenant.id,
            &lead.id,
            LeadEvent::Reassigned {
                from: previous.consultant.clone(),
                to: decision.consultant.clone(),
                rule: decision.rule,
                reason: decision.reason.clone(),
            },
            now,
        )?);
        Ok((next, writes))
    }

    /// The lead of an SLA timer if it still waits for first contact in the
    /// timer's cycle; `None` makes the timer stale.
    async fn waiting_lead(&self, timer: &Timer) -> Result<Option<Versioned<Lead>>, AppError> {
        let Some(lead_id) = timer.about.lead() else {
            return Ok(None);
        };
        let lead =
            records::get::<Lead>(self.store.as_ref(), &keys::lead(&timer.tenant, lead_id)).await?;
        Ok(lead.filter(|l| {
            let l = &l.value;
            l.stage.is_open() && !l.contacted() && l.owner.is_some() && l.sla_cycle == timer.cycle
        }))
    }

    /// Deletes a claimed timer that has nothing left to do. If it was
    /// re-armed meanwhile, the new one stays.
    pub(super) async fn drop_timer(&self, timer: &Timer, claimed: u64) -> Result<(), AppError> {
        let key = keys::timer(&timer.tenant, &timer.about, &timer.name());
        landed(
            self.store
                .write(vec![records::delete(key, Condition::VersionIs(claimed))])
                .await,
        )?;
        Ok(())
    }
}
