//! A new lead gets its consultant, its greeting and its SLA timers.

use std::collections::HashMap;

use clinicflow_core::assignment::{self, Load, Request};
use clinicflow_core::automation::Event;
use clinicflow_core::contact::ContactKey;
use clinicflow_core::ids::{ConsultantId, LeadId, RecordRef, TenantId};
use clinicflow_core::language::LanguageSource;
use clinicflow_core::lead::{Lead, LeadEvent, Ownership, Recorded};
use clinicflow_core::message::Channel;
use clinicflow_core::task::{self, Task, TaskKind};
use clinicflow_core::tenant::Tenant;
use clinicflow_core::timer::{Timer, TimerKind};
use clinicflow_ports::{Condition, Key, Query, Write};
use jiff::Timestamp;
use tracing::{info, warn};

use super::automations::automation_events;
use super::compose::{self, branch_of};
use super::staff::entered;
use super::{MAX_ROUNDS, busy, landed};
use crate::error::AppError;
use crate::records::{self, Patient, Versioned};
use crate::{App, keys};

/// Whether nothing told `lead`'s language well enough to go without
/// asking: no source at all, the default, or only a phone number from a
/// country whose language is not the clinic's own (a local number writing
/// "Merhaba" to a Turkish clinic is not asked).
fn unsure_of_language(tenant: &Tenant, lead: &Lead) -> bool {
    match lead.language_choice.as_ref().map(|c| c.source) {
        None | Some(LanguageSource::Default) => true,
        Some(LanguageSource::PhoneCountry) => lead.language != tenant.default_language,
        Some(_) => false,
    }
}

/// What the language question asks of an assignment now.
enum Ask {
    /// Nothing: assign.
    No,
    /// The patient was asked and may still answer.
    Wait,
    /// Ask now: these writes.
    Question(Vec<Write>),
}

/// What [`App::assignment_reads`] found.
struct AssignmentReads {
    lead: Option<Versioned<Lead>>,
    /// The patient's record under the key it was read at, when the
    /// contact key was known.
    patient: Option<(Key, Option<Versioned<Patient>>)>,
    /// Whether the tenant ever saved an automation rule: only then does
    /// the engine hear of the new lead (a tenant without rules spends no
    /// queue message and no read on it).
    has_rules: bool,
}

/// Consultants' loads as read, with the versions their updates condition on.
pub(super) type Loads = HashMap<ConsultantId, Versioned<Load>>;

impl App {
    /// Assigns a lead, queues its greeting and arms its SLA. Idempotent: a
    /// lead that already has an owner is left as it is. With the lead's
    /// `contact` key known, the lead, the patient's record and the
    /// tenant's rule-set revision are read in one request.
    pub async fn assign_lead(
        &self,
        tenant_id: &TenantId,
        lead_id: &LeadId,
        contact: Option<&ContactKey>,
    ) -> Result<(), AppError> {
        let Some(tenant) = self.directory.tenant(tenant_id) else {
            warn!(tenant = %tenant_id, lead = %lead_id, "work for a tenant no longer configured; dropped");
            return Ok(());
        };
        let assign_timer = keys::timer(
            tenant_id,
            &RecordRef::Lead(lead_id.clone()),
            TimerKind::Assign.as_str(),
        );
        for _ in 0..MAX_ROUNDS {
            let read = self.assignment_reads(tenant_id, lead_id, contact).await?;
            let Some(Versioned {
                value: lead,
                version,
            }) = read
                .lead
                .filter(|l| l.value.owner.is_none() && l.value.stage.is_open())
            else {
                // Assigned already (a redelivery), closed, or gone: only the timer is left to clear.
                self.store
                    .write(vec![records::delete(assign_timer, Condition::Always)])
                    .await
                    .map_err(|e| AppError::Unavailable(e.to_string()))?;
                return Ok(());
            };
            let now = self.clock.now();
            let loads = self.loads(tenant_id).await?;
            let patient_key = keys::patient(tenant_id, &lead.contact_key);
            let patient = match read.patient {
                Some((key, patient)) if key == patient_key => patient,
                _ => records::get::<Patient>(self.store.as_ref(), &patient_key).await?,
            };
            // A WhatsApp lead whose language nothing told is asked first;
            // its assignment waits for the answer or the clinic's wait.
            match self.language_ask(tenant, &lead, version, patient.as_ref(), now)? {
                Ask::Wait => {
                    info!(tenant = %tenant_id, lead = %lead_id, "waiting for the patient's language");
                    return Ok(());
                }
                Ask::Question(writes) => {
                    if landed(self.store.write(writes).await)? {
                        info!(tenant = %tenant_id, lead = %lead_id, "patient asked for their language; assignment waits");
                        return Ok(());
                    }
                    continue;
                }
                Ask::No => {}
            }
            let decision = assignment::choose(&Request {
                tenant,
                branch: &branch_of(tenant, &lead).id,
                language: &lead.language,
                previous: patient
                    .as_ref()
                    .and_then(|p| p.value.last_consultant.as_ref()),
                exclude: &[],
                loads: &plain(&loads),
                now,
            });
            let Some(decision) = decision else {
                // The task is made once; a redelivered message finds it.
                let task = keys::task(tenant_id, &task::no_consultant_id(lead_id));
                if self.store.get(&task).await?.is_some() {
                    return Ok(());
                }
                let mut writes = self.unassignable(tenant, &lead, now)?;
                if read.has_rules {
                    writes.push(lead_created(tenant_id, &lead, now));
                }
                if landed(self.store.write(writes).await)? {
                    warn!(tenant = %tenant_id, lead = %lead_id, "no active consultant; manager tasked");
                    return Ok(());
                }
                continue;
            };

            let mut assigned = lead.clone();
            assigned.owner = Some(Ownership {
                consultant: decision.consultant.clone(),
                rule: decision.rule,
                reason: decision.reason.clone(),
                since: now,
            });
            assigned.updated_at = now;
            let Some(consultant) = tenant.consultant(&decision.consultant) else {
                return Err(AppError::Internal(
                    "assignment chose an unknown consultant".into(),
                ));
            };
            let mut writes = vec![
                created(&lead)?,
                records::lead(&assigned, Some(version))?,
                load_change(tenant_id, &decision.consultant, &loads, 1, Some(now))?,
                records::delete(assign_timer.clone(), Condition::Always),
            ];
            if read.has_rules {
                writes.push(lead_created(tenant_id, &assigned, now));
            }
            writes.extend(self.history(
                tenant_id,
                lead_id,
                LeadEvent::Assigned {
                    consultant: decision.consultant.clone(),
                    rule: decision.rule,
                    reason: decision.reason.clone(),
                },
                now,
            )?);
            // The patient remembers their consultant for their next request.
            let record =
                Patient::handled_by(&lead, decision.consultant.clone(), patient.as_ref(), now);
            writes.push(records::patient(
                tenant_id,
                &record,
                patient.map(|p| p.version),
            )?);
            let greeting = compose::greeting(tenant, &assigned, consultant, record.windows, now)?;
            if let Some(message) = &greeting {
                writes.extend(self.ledger_entry(message, now)?);
            }
            // Staff may have reached the patient before the assignment ran:
            // then the SLA is already met.
            if !assigned.contacted() {
                for timer in compose::sla_timers(tenant, &assigned, assigned.created_at) {
                    writes.push(records::timer(&timer, now, Condition::Always)?);
                }
            }
            if !landed(self.store.write(writes).await)? {
                continue;
            }
            info!(tenant = %tenant_id, lead = %lead_id, consultant = %decision.consultant, rule = decision.rule.as_str(), "lead assigned");
            return Ok(());
        }
        Err(busy("assignment"))
    }

    /// Whether the assignment of `lead` (read at `version`) must ask the
    /// patient's language first, or wait for the answer: the question in
    /// the ledger, the lead marked asked and its `assign` timer moved to
    /// the end of the clinic's wait, as writes.
    fn language_ask(
        &self,
        tenant: &Tenant,
        lead: &Lead,
        version: u64,
        patient: Option<&Versioned<Patient>>,
        now: Timestamp,
    ) -> Result<Ask, AppError> {
        let Some(wait) = tenant
            .language_question
            .filter(|_| unsure_of_language(tenant, lead))
        else {
            return Ok(Ask::No);
        };
        match lead.language_asked_at {
            Some(asked) if now < asked.saturating_add(wait).unwrap_or(asked) => Ok(Ask::Wait),
            Some(_) => Ok(Ask::No),
            None => {
                // Asked where the patient wrote, while its window is open.
                let windows = patient.map(|p| p.value.windows).unwrap_or_default();
                let Some(channel) = Channel::parse(&lead.source).filter(|c| {
                    matches!(c, Channel::Whatsapp | Channel::Instagram) && windows.open(*c, now)
                }) else {
                    return Ok(Ask::No);
                };
                let Some(question) = compose::language_question(tenant, lead, channel, now)? else {
                    return Ok(Ask::No);
                };
                let mut asked = lead.clone();
                asked.language_asked_at = Some(now);
                asked.updated_at = now;
                let timer = Timer::new(
                    tenant.id.clone(),
                    RecordRef::Lead(lead.id.clone()),
                    TimerKind::Assign,
                    now.saturating_add(wait).unwrap_or(now),
                );
                let mut writes = vec![
                    records::lead(&asked, Some(version))?,
                    records::timer(&timer, now, Condition::Always)?,
                ];
                writes.extend(self.ledger_entry(&question, now)?);
                Ok(Ask::Question(writes))
            }
        }
    }

    /// What an assignment reads before it decides, in one request when the
    /// lead's contact key is known (else two).
    async fn assignment_reads(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        contact: Option<&ContactKey>,
    ) -> Result<AssignmentReads, AppError> {
        let patient_key = contact.map(|c| keys::patient(tenant, c));
        let mut keys = vec![keys::lead(tenant, lead), keys::rules_revision(tenant)];
        keys.extend(patient_key.clone());
        let mut items = self.store.get_many(&keys).await?.into_iter();
        let lead = records::versioned::<Lead>(items.next().flatten())?;
        let has_rules = items.next().flatten().is_some();
        let patient = match patient_key {
            Some(key) => Some((key, records::versioned(items.next().flatten())?)),
            None => None,
        };
        Ok(AssignmentReads {
            lead,
            patient,
            has_rules,
        })
    }

    /// Every consultant's load in the tenant, in one query.
    pub(super) async fn loads(&self, tenant: &TenantId) -> Result<Loads, AppError> {
        let page = self
            .store
            .query(&Query::partition(keys::loads_pk(tenant)))
            .await?;
        let mut loads = HashMap::new();
        for item in &page.items {
            let Some(id) = item
                .key
                .sk
                .strip_prefix("C#")
                .and_then(|s| ConsultantId::new(s).ok())
            else {
                continue;
            };
            loads.insert(
                id,
                Versioned {
                    value: records::decode(item)?,
                    version: item.version,
                },
            );
        }
        Ok(loads)
    }

    /// No consultant can take the lead: the branch manager gets a task.
    fn unassignable(
        &self,
        tenant: &Tenant,
        lead: &Lead,
        now: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let branch = branch_of(tenant, lead);
        let task = Task {
            id: task::no_consultant_id(&lead.id),
            about: RecordRef::Lead(lead.id.clone()),
            kind: TaskKind::NoConsultant,
            assignee: (&branch.manager).into(),
            title: format!(
                "No active consultant can take lead {} at {}",
                lead.id, branch.name
            ),
            created_at: now,
            done_at: None,
            due_at: None,
            firing: None,
        };
        let reason = "no active consultant in the tenant".to_owned();
        let mut writes = vec![
            created(lead)?,
            records::task(&tenant.id, &task, None)?,
            records::delete(
                keys::timer(
                    &tenant.id,
                    &RecordRef::Lead(lead.id.clone()),
                    TimerKind::Assign.as_str(),
                ),
                Condition::Always,
            ),
        ];
        writes.extend(self.history(
            &tenant.id,
            &lead.id,
            LeadEvent::Unassignable { reason },
            now,
        )?);
        Ok(writes)
    }
}

/// The `lead.created` event, published by the lead's first assignment
/// (or its first failure to find a consultant) rather than by the intake,
/// so that the intake answers after one transaction and one queue message.
/// Its id is the lead's, so a consumer that sees it twice can tell.
fn created(lead: &Lead) -> Result<Write, AppError> {
    let event = Recorded {
        id: lead.id.to_string(),
        at: lead.created_at,
        event: LeadEvent::Created {
            source: lead.source.clone(),
        },
    };
    records::publication(&lead.tenant, &lead.id, &event)?
        .ok_or_else(|| AppError::Internal("lead.created is a published event".into()))
}

pub(super) fn plain(loads: &Loads) -> HashMap<ConsultantId, Load> {
    loads.iter().map(|(id, v)| (id.clone(), v.value)).collect()
}

/// The write that changes a consultant's open-lead count by `delta`, and
/// marks the time of a new assignment when `assigned_at` is given.
pub(super) fn load_change(
    tenant: &TenantId,
    consultant: &ConsultantId,
    loads: &Loads,
    delta: i64,
    assigned_at: Option<Timestamp>,
) -> Result<Write, AppError> {
    let current = loads.get(consultant);
    let mut load = current.map(|v| v.value).unwrap_or_default();
    load.open_leads = u32::try_from((i64::from(load.open_leads) + delta).max(0)).unwrap_or(0);
    if let Some(at) = assigned_at {
        load.last_assigned_at = Some(at);
    }
    records::load(tenant, consultant, &load, current.map(|v| v.version))
}

/// The engine's news of a new lead: created, and in its stage. Rules that
/// name the lead's owner see the one the assignment chose. Queued when the
/// tenant has rules as the assignment reads them: a rule saved after that
/// does not fire for the lead's creation.
fn lead_created(tenant: &TenantId, lead: &Lead, now: Timestamp) -> Write {
    automation_events(
        tenant,
        &RecordRef::Lead(lead.id.clone()),
        vec![Event::RecordCreated, entered(lead)],
        now,
        0,
    )
}
