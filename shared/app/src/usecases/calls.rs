//! A call the clinic's switchboard reported, from the queue: what it
//! means for the patient's lead (`core::calls::meaning`) written with the
//! call's inbox marker in one transaction, so a record posted again
//! changes nothing. An answered call is a recorded contact (it stops the
//! SLA like a call entered by hand); a missed call from a number without
//! an open lead is a new lead, source `call`, greeted by message; a missed
//! call from a patient with an open lead is a touch and a task for the
//! owner to call back.

use clinicflow_core::calls::{self, Call, Meaning};
use clinicflow_core::contact::{PhoneNumber, Reach};
use clinicflow_core::ids::{RecordRef, TaskId};
use clinicflow_core::lead::{Attribution, Consents, ContactKind, Lead, Touch};
use clinicflow_core::submission::Submission;
use clinicflow_core::task::{Task, TaskKind};
use clinicflow_core::tenant::Tenant;
use tracing::{info, warn};

use super::compose::branch_of;
use super::intake::touch_writes;
use super::{MAX_ROUNDS, busy, landed};
use crate::error::AppError;
use crate::records::{self, Claim, Handled};
use crate::{App, keys};

/// A lead's source when a call made it.
const SOURCE: &str = "call";

impl App {
    pub(super) async fn call(
        &self,
        tenant: &Tenant,
        call: &Call,
        event_id: &str,
    ) -> Result<(), AppError> {
        let inbox = keys::inbox(&tenant.id, event_id);
        let region = tenant.default_branch().phone_region;
        // The webhook refused numbers that do not read; a record queued
        // under an older plan is dropped with a warning.
        let Ok(phone) = PhoneNumber::parse(&call.patient, region) else {
            warn!(tenant = %tenant.id, call = %call.id, "call from a number that does not read; dropped");
            return Ok(());
        };
        let (reach, contact) = Reach::by_phone(phone);
        let claim_key = keys::open_claim(&tenant.id, &contact);
        for _ in 0..MAX_ROUNDS {
            if self.store.get(&inbox).await?.is_some() {
                return Ok(());
            }
            let now = self.clock.now();
            let marker = |lead| records::inbox(&tenant.id, event_id, &Handled { at: now, lead });
            let claim = records::get::<Claim>(self.store.as_ref(), &claim_key).await?;
            let open = match &claim {
                Some(c) => {
                    let key = keys::lead(&tenant.id, &c.value.lead);
                    match records::get::<Lead>(self.store.as_ref(), &key).await? {
                        Some(lead) => Some(lead),
                        // Claimed, the lead not visible yet: read again.
                        None => continue,
                    }
                }
                None => None,
            };
            match (calls::meaning(call, open.is_some()), open, &claim) {
                (Meaning::Contact, Some(lead), _) => {
                    let (_, mut writes) = self.contact_writes(
                        tenant,
                        &lead.value,
                        lead.version,
                        ContactKind::Call,
                        call.agent.clone(),
                        Some(call.summary()),
                        now,
                    )?;
                    writes.push(marker(Some(lead.value.id.clone()))?);
                    if landed(self.store.write(writes).await)? {
                        info!(tenant = %tenant.id, lead = %lead.value.id, call = %call.id, "call recorded as a contact");
                        return Ok(());
                    }
                }
                (Meaning::MissedCall, Some(lead), Some(claim)) => {
                    let lead = lead.value;
                    let mut writes =
                        touch_writes(&tenant.id, claim_key.clone(), claim, &touch(call))?;
                    writes.push(records::task(
                        &tenant.id,
                        &call_back(tenant, &lead, call, now)?,
                        None,
                    )?);
                    writes.push(marker(Some(lead.id.clone()))?);
                    if landed(self.store.write(writes).await)? {
                        info!(tenant = %tenant.id, lead = %lead.id, call = %call.id, "missed call: touch and a task to call back");
                        return Ok(());
                    }
                }
                (Meaning::NewLead, _, _) => {
                    let touch = touch(call);
                    let submission =
                        Submission::from_contact(tenant, reach.clone(), None, None, &touch);
                    let id = self.new_lead_id()?;
                    // An answered call's contact is recorded on the next
                    // round, with the marker: a crash in between leaves
                    // the record on the queue, and the lead is found open.
                    let extra = if call.answered {
                        Vec::new()
                    } else {
                        vec![marker(Some(id.clone()))?]
                    };
                    let created = self
                        .create_lead(
                            &tenant.id,
                            &id,
                            SOURCE,
                            None,
                            &submission,
                            &touch,
                            extra,
                            now,
                        )
                        .await?;
                    if created.is_some() {
                        info!(tenant = %tenant.id, lead = %id, call = %call.id, answered = call.answered, "call from a new number: lead created");
                        if !call.answered {
                            return Ok(());
                        }
                    }
                }
                _ => {
                    // Our unanswered call, or a call to a number without an
                    // open lead: nothing to record but that it was seen.
                    if landed(self.store.write(vec![marker(None)?]).await)? {
                        info!(tenant = %tenant.id, call = %call.id, "call with nothing to record");
                        return Ok(());
                    }
                }
            }
        }
        Err(busy("call"))
    }
}

/// The touch a call leaves on the patient's lead.
fn touch(call: &Call) -> Touch {
    Touch {
        id: format!("call.{}", call.id),
        at: call.at,
        source: SOURCE.to_owned(),
        form: None,
        attribution: Attribution {
            utm_source: Some(SOURCE.to_owned()),
            ..Attribution::default()
        },
        service: None,
        message: Some(call.summary()),
        consents: Consents::default(),
    }
}

/// The owner's task to call the patient back (the branch manager's when
/// nobody owns the lead yet).
fn call_back(
    tenant: &Tenant,
    lead: &Lead,
    call: &Call,
    now: jiff::Timestamp,
) -> Result<Task, AppError> {
    let assignee = match lead.owner.as_ref() {
        Some(owner) => (&owner.consultant).into(),
        None => (&branch_of(tenant, lead).manager).into(),
    };
    let id =
        TaskId::new(format!("missed_call.{}.{}", lead.id, call.id)).map_err(AppError::Internal)?;
    Ok(Task {
        id,
        about: RecordRef::Lead(lead.id.clone()),
        kind: TaskKind::MissedCall,
        assignee,
        title: format!(
            "Missed call from the patient of lead {}: call back",
            lead.id
        ),
        created_at: now,
        due_at: Some(now),
        firing: None,
        done_at: None,
    })
}
